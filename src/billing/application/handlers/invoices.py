"""Invoices: mark paid (crediting a top-up exactly once), void, and subscription invoices."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import attrs

from billing.application.caller import Caller
from billing.application.ports import UnitOfWork
from billing.application.runtime import Runtime, operator, requires
from billing.domain.errors import DuplicateError, NotFoundError, ValidationError
from billing.domain.invoice import Invoice, InvoiceLine, InvoicePurpose, default_due_date
from billing.domain.ledger import Posting
from billing.domain.money import Money
from billing.domain.tenant import validate_tenant_id
from billing.domain.text import validate_text
from billing.domain.topup import TopupRequest


@attrs.frozen
class MarkInvoicePaid:
    invoice_id: UUID
    payment_reference: str
    paid_at: datetime | None = None


@attrs.frozen
class VoidInvoice:
    invoice_id: UUID
    reason: str


@attrs.frozen
class SubscriptionLine:
    description: str
    unit_price: Money
    quantity: int = 1


@attrs.frozen
class CreateSubscriptionInvoice:
    tenant_id: str
    period: str
    lines: tuple[SubscriptionLine, ...]
    due_date: date | None = None
    issue: bool = True


@attrs.frozen
class IssueInvoice:
    invoice_id: UUID
    due_date: date | None = None


async def _invoice_for_update(uow: UnitOfWork, invoice_id: UUID) -> Invoice:
    invoice = await uow.invoices.get(invoice_id, for_update=True)
    if invoice is None:
        raise NotFoundError("invoice not found")
    return invoice


async def _request_of(uow: UnitOfWork, invoice: Invoice) -> TopupRequest:
    assert invoice.topup_request_id is not None
    request = await uow.topups.get(invoice.topup_request_id, for_update=True, tenant_id=invoice.tenant_id)
    if request is None:  # pragma: no cover - a foreign key guarantees it in PostgreSQL
        raise NotFoundError("the invoice's top-up request is missing")
    return request


@requires(operator)
async def mark_invoice_paid(cmd: MarkInvoicePaid, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Invoice:
    """One unit: invoice paid, and for a top-up the wallet credited once and the request completed."""
    invoice = await _invoice_for_update(uow, cmd.invoice_id)  # the row lock serializes payers
    now = rt.clock.now()
    invoice.mark_paid(cmd.payment_reference, cmd.paid_at or now, now)
    if invoice.purpose is not InvoicePurpose.TOPUP:
        await uow.invoices.save(invoice)
        return invoice
    request = await _request_of(uow, invoice)
    request.complete(now)
    posting = Posting.topup(rt.ids.new_id(), invoice.tenant_id, request.amount, request.id, now)
    await uow.topups.save_paid(request, invoice, posting)  # request, invoice and credit: one step
    return invoice


@requires(operator)
async def void_invoice(cmd: VoidInvoice, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Invoice:
    """Voiding an unpaid top-up invoice cancels its request."""
    invoice = await _invoice_for_update(uow, cmd.invoice_id)
    now = rt.clock.now()
    invoice.void(cmd.reason, now)
    await uow.invoices.save(invoice)
    if invoice.purpose is InvoicePurpose.TOPUP:
        request = await _request_of(uow, invoice)
        request.cancel_for_voided_invoice(now)
        await uow.topups.save(request)
    return invoice


def _subscription_lines(cmd: CreateSubscriptionInvoice, currency: str) -> tuple[InvoiceLine, ...]:
    lines = []
    for index, line in enumerate(cmd.lines):
        field = f"lines[{index}]"
        description = validate_text(line.description, field=f"{field}.description", max_length=200, required=True)
        assert description is not None
        quantity = line.quantity
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 10**6:
            raise ValidationError.of(f"{field}.quantity", "must be an integer from 1 to 1000000")
        price = line.unit_price.checked(currency, field=f"{field}.unit_price")
        lines.append(InvoiceLine(description, quantity, price))
    return tuple(lines)


@requires(operator)
async def create_subscription_invoice(
    cmd: CreateSubscriptionInvoice, caller: Caller, uow: UnitOfWork, rt: Runtime
) -> Invoice:
    """One subscription invoice per tenant and period; a second one is a duplicate."""
    tenant_id = validate_tenant_id(cmd.tenant_id)
    now = rt.clock.now()
    currency = rt.settings.currency
    invoice = Invoice.draft_for_subscription(
        rt.ids.new_id(), tenant_id, cmd.period, _subscription_lines(cmd, currency), currency, now
    )
    if await uow.invoices.find_subscription(tenant_id, invoice.period) is not None:
        raise DuplicateError(f"tenant {tenant_id} already has a subscription invoice for {cmd.period}")
    if cmd.issue:
        invoice.issue(now, cmd.due_date or default_due_date(now, rt.settings.invoice_due_days))
    await uow.invoices.add(invoice)
    return invoice


@requires(operator)
async def issue_invoice(cmd: IssueInvoice, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Invoice:
    invoice = await _invoice_for_update(uow, cmd.invoice_id)
    now = rt.clock.now()
    invoice.issue(now, cmd.due_date or default_due_date(now, rt.settings.invoice_due_days))
    await uow.invoices.save(invoice)
    return invoice
