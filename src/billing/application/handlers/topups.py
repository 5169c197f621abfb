"""Top-up requests: a clinic asks, an operator approves (issuing an invoice) or rejects."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import attrs

from billing.application.caller import Caller
from billing.application.ports import UnitOfWork
from billing.application.runtime import Audited, Runtime, operator, requires, viewer
from billing.domain.errors import ForbiddenError, NotFoundError, ValidationError
from billing.domain.invoice import Invoice, default_due_date
from billing.domain.money import Money
from billing.domain.topup import TopupRequest


@attrs.frozen
class RequestTopup:
    amount: Money
    note: str | None = None


@attrs.frozen
class ApproveTopup:
    request_id: UUID
    note: str | None = None
    due_date: date | None = None


@attrs.frozen
class RejectTopup:
    request_id: UUID
    reason: str


@attrs.frozen
class CancelTopup:
    request_id: UUID


@requires(viewer, audit=Audited("topup_request", "request_topup"))
async def request_topup(cmd: RequestTopup, caller: Caller, uow: UnitOfWork, rt: Runtime) -> TopupRequest:
    settings = rt.settings
    amount = cmd.amount.checked(settings.currency)
    if amount.amount < settings.topup_min_amount:
        raise ValidationError.of("amount", f"must be at least {settings.topup_min_amount}")
    if amount.amount > settings.topup_max_amount:
        raise ValidationError.of("amount", f"must be at most {settings.topup_max_amount}")
    request = TopupRequest.submit(
        rt.ids.new_id(),
        caller.tenant_id,
        amount,
        cmd.note,
        requested_by=caller.user_id,
        requester_email=caller.email,
        at=rt.clock.now(),
    )
    await uow.topups.add(request)
    return request


async def _load_for_operator(uow: UnitOfWork, request_id: UUID) -> TopupRequest:
    request = await uow.topups.get(request_id, for_update=True)
    if request is None:
        raise NotFoundError("top-up request not found")
    return request


@requires(operator, audit=Audited("topup_request", "approve_topup"))
async def approve_topup(cmd: ApproveTopup, caller: Caller, uow: UnitOfWork, rt: Runtime) -> TopupRequest:
    """Approving creates the top-up invoice, issues it, and (through events) emails the clinic."""
    request = await _load_for_operator(uow, cmd.request_id)
    now = rt.clock.now()
    invoice = Invoice.draft_for_topup(rt.ids.new_id(), request, now)
    request.approve(invoice.id, invoice.number, caller.user_id, cmd.note, now)
    invoice.issue(now, cmd.due_date or default_due_date(now, rt.settings.invoice_due_days), cmd.note)
    await uow.invoices.add(invoice)
    await uow.topups.save(request)
    return request


@requires(operator, audit=Audited("topup_request", "reject_topup"))
async def reject_topup(cmd: RejectTopup, caller: Caller, uow: UnitOfWork, rt: Runtime) -> TopupRequest:
    request = await _load_for_operator(uow, cmd.request_id)
    request.reject(caller.user_id, cmd.reason, rt.clock.now())
    await uow.topups.save(request)
    return request


@requires(viewer, audit=Audited("topup_request", "cancel_topup"))
async def cancel_topup(cmd: CancelTopup, caller: Caller, uow: UnitOfWork, rt: Runtime) -> TopupRequest:
    """Only the tenant itself withdraws its own pending request."""
    request = await uow.topups.get(cmd.request_id, for_update=True)
    if request is None:
        raise NotFoundError("top-up request not found")
    if request.tenant_id != caller.tenant_id:
        rt.auth.ensure_visible(caller, request.tenant_id, "top-up request")
        raise ForbiddenError("only the tenant that asked for a top-up may cancel it")
    request.cancel(rt.clock.now())
    await uow.topups.save(request)
    return request
