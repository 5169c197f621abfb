"""Invoices: mark paid (crediting a top-up exactly once), void, and subscription invoices."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import attrs

from billing.application.caller import Caller
from billing.application.ports import UnitOfWork
from billing.application.protections import protect
from billing.application.runtime import Audited, Runtime, operator, requires
from billing.domain.errors import DuplicateError, ForbiddenError, NotFoundError, ValidationError
from billing.domain.invoice import Invoice, InvoiceLine, InvoicePurpose, default_due_date
from billing.domain.ledger import Posting, describe
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
class ReversePayment:
    invoice_id: UUID
    reason: str


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


def _require_second_pair_of_eyes(request: TopupRequest, caller: Caller, rt: Runtime) -> None:
    """With four eyes on, whoever approved a top-up may not also record its payment (contract v2 §12)."""
    if rt.settings.four_eyes and request.decided_by == caller.user_id:
        raise ForbiddenError("four eyes: another operator than the one who approved this top-up must mark it paid")


async def _require_unused_reference(uow: UnitOfWork, invoice: Invoice) -> None:
    """One bank transfer credits one invoice: the tenant's paid invoices hold distinct references, compared
    trimmed and case-insensitively. The unique index on the key is the backstop when two payers race."""
    assert invoice.payment_reference_key is not None
    holder = await uow.invoices.find_paid_with_reference(invoice.tenant_id, invoice.payment_reference_key)
    if holder is not None and holder.id != invoice.id:
        raise DuplicateError(
            f"payment reference {invoice.payment_reference!r} was already used for invoice {holder.number}"
            f" (paid with {holder.payment_reference!r})"
        )


@requires(operator, audit=Audited("invoice", "mark_invoice_paid"))
async def mark_invoice_paid(cmd: MarkInvoicePaid, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Invoice:
    """One unit: invoice paid, and for a top-up the wallet credited once (repaying its debt first) and the request
    completed."""
    invoice = await _invoice_for_update(uow, cmd.invoice_id)  # the row lock serializes payers
    request = await _request_of(uow, invoice) if invoice.purpose is InvoicePurpose.TOPUP else None
    if request is not None:
        _require_second_pair_of_eyes(request, caller, rt)
    now = rt.clock.now()
    invoice.mark_paid(cmd.payment_reference, cmd.paid_at or now, now, by=caller.user_id)
    await _require_unused_reference(uow, invoice)
    if request is None:
        await uow.invoices.save(invoice)
        return invoice
    request.complete(now)
    posting = Posting.topup(
        rt.ids.new_id(), invoice.tenant_id, request.amount, request.id, now, invoice.number, invoice.payment_reference
    )
    credit = await uow.topups.save_paid(request, invoice, posting)  # request, invoice and credit: one step
    if credit.owes:
        description = describe(f"Debt repaid from {posting.description}")
        await uow.wallets.repay_debt(invoice.tenant_id, rt.ids.new_id(), str(request.id), description, now)
    return invoice


@requires(operator, audit=Audited("invoice", "reverse_payment"))
async def reverse_payment(cmd: ReversePayment, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Invoice:
    """A paid top-up's bank transfer bounced (contract v3 §19): in one unit the invoice is `payment_reversed`, its
    request `reversed`, what `available` covers is taken back by a `payment_reversal` row and the rest is owed as
    the wallet's debt. The invoice's lock takes the wallet's row first, so no move of the wallet runs meanwhile."""
    invoice = await _invoice_for_update(uow, cmd.invoice_id)
    invoice.check_reversible()
    if rt.settings.four_eyes and invoice.paid_by == caller.user_id:
        raise ForbiddenError("four eyes: another operator than the one who marked this invoice paid must reverse it")
    request = await _request_of(uow, invoice)
    wallet = await uow.wallets.lock(invoice.tenant_id)
    assert wallet is not None  # a paid top-up credited it
    covered, debt = wallet.split_reversal(invoice.total)
    now = rt.clock.now()
    invoice.reverse_payment(caller.user_id, cmd.reason, covered, debt, now)
    request.reverse(now)
    reversal = None
    if covered.is_positive:
        reversal = Posting.payment_reversal(
            rt.ids.new_id(),
            invoice.tenant_id,
            covered,
            request.id,
            invoice.number,
            invoice.payment_reference,
            invoice.reversal_reason or "",
            now,
        )
    movement = await uow.topups.save_reversed(request, invoice, reversal, debt)
    await protect(movement, uow, rt)
    return invoice


@requires(operator, audit=Audited("invoice", "void_invoice"))
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


@requires(operator, audit=Audited("invoice", "create_subscription_invoice"))
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


@requires(operator, audit=Audited("invoice", "issue_invoice"))
async def issue_invoice(cmd: IssueInvoice, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Invoice:
    invoice = await _invoice_for_update(uow, cmd.invoice_id)
    now = rt.clock.now()
    invoice.issue(now, cmd.due_date or default_due_date(now, rt.settings.invoice_due_days))
    await uow.invoices.save(invoice)
    return invoice
