"""Invoice email as outbox messages, written in the same unit of work as the change they announce.

A message is rendered when the event happens (so it says what was true then) and delivered later by
the dispatcher; it is never lost when the mail server is down and never blocks the approval.
"""

from __future__ import annotations

import html

from billing.application.outbox import EmailMessage
from billing.application.ports import UnitOfWork
from billing.application.protections import runway_of
from billing.application.runtime import Runtime
from billing.domain.events import (
    DomainEvent,
    InvoiceIssued,
    InvoicePaid,
    LowBalance,
    PaymentReversed,
    TopupRequested,
)
from billing.domain.protections import AUTO_REQUESTER, Runway


async def _recipient(uow: UnitOfWork, event: InvoiceIssued | InvoicePaid | PaymentReversed) -> str | None:
    """The tenant's billing contact; else whoever asked for the top-up."""
    contact = await uow.contacts.get(event.tenant_id)
    if contact is not None:
        return contact.email
    if event.topup_request_id is not None:
        request = await uow.topups.get(event.topup_request_id, tenant_id=event.tenant_id)
        if request is not None:
            return request.requester_email
    return None


def _paragraphs(lines: list[str]) -> str:
    return "".join(f"<p>{html.escape(line)}</p>" for line in lines if line)


def render_invoice_issued(event: InvoiceIssued, payment_instructions: str) -> tuple[str, str, str]:
    subject = f"Invoice {event.number}: {event.total} {event.total.currency} due {event.due_date}"
    lines = [
        f"Invoice {event.number} has been issued to {event.tenant_id}.",
        f"Amount due: {event.total} {event.total.currency}",
        f"Due date: {event.due_date}",
        f"How to pay: {payment_instructions}",
        f"Please quote {event.number} as the payment reference.",
        f"Note from our team: {event.note}" if event.note else "",
    ]
    return subject, "\n".join(line for line in lines if line) + "\n", _paragraphs(lines)


def render_payment_received(event: InvoicePaid) -> tuple[str, str, str]:
    subject = f"Payment received for invoice {event.number}"
    lines = [
        f"We received your payment of {event.total} {event.total.currency} for invoice {event.number}.",
        f"Payment reference: {event.payment_reference}",
        f"Paid at: {event.at.isoformat()}",
        "If this invoice was a wallet top-up, your wallet has been credited.",
    ]
    return subject, "\n".join(lines) + "\n", _paragraphs(lines)


def render_payment_reversed(event: PaymentReversed) -> tuple[str, str, str]:
    currency = event.total.currency
    subject = f"Payment reversed for invoice {event.number}: {event.total} {currency}"
    lines = [
        f"The payment of {event.total} {currency} for invoice {event.number} was reversed by your bank.",
        f"Reason: {event.reason}",
        f"Taken back from your wallet: {event.reversed_amount} {currency}.",
        f"Your wallet now owes {event.debt_added} {currency} more than it held: until this debt is repaid, billable "
        "messages are refused."
        if event.debt_added.is_positive
        else "",
        "To clear it, request a top-up (or pay again): the debt is repaid first from any money that comes in."
        if event.debt_added.is_positive
        else "",
        HOW_TO_TOP_UP,
    ]
    return subject, "\n".join(line for line in lines if line) + "\n", _paragraphs(lines)


HOW_TO_TOP_UP = (
    "To top up, request an amount in the billing console (Wallet, Request a top-up) or with "
    "POST /api/v1/billing/topup-requests; we invoice it and credit your wallet when it is paid."
)


def _runway_line(runway: Runway) -> str:
    if runway.days is None:
        return "Runway: no message spend in the last 14 days."
    return f"Runway: about {runway.days} days at {runway.daily_spend} {runway.daily_spend.currency} a day."


def render_low_balance(event: LowBalance, runway: Runway) -> tuple[str, str, str]:
    currency = event.available.currency
    subject = f"Low balance: {event.available} {currency} available, below your alert level of {event.level}"
    lines = [
        f"The wallet of {event.tenant_id} has {event.available} {currency} available, below your alert level of "
        f"{event.level} {currency}.",
        _runway_line(runway),
        "Messages are refused once the available balance cannot cover them.",
        HOW_TO_TOP_UP,
    ]
    return subject, "\n".join(lines) + "\n", _paragraphs(lines)


def render_automatic_topup(event: TopupRequested) -> tuple[str, str, str]:
    currency = event.amount.currency
    subject = f"Automatic top-up requested: {event.amount} {currency}"
    lines = [
        f"Your available balance fell below your automatic top-up threshold, so a top-up of {event.amount} "
        f"{currency} was requested for {event.tenant_id} (request {event.request_id}).",
        "Our team will invoice it; your wallet is credited when the invoice is paid.",
        "You can cancel the request in the billing console while it is pending, or change the automatic top-up "
        "in your wallet settings.",
    ]
    return subject, "\n".join(lines) + "\n", _paragraphs(lines)


async def _contact(uow: UnitOfWork, tenant_id: str) -> str | None:
    contact = await uow.contacts.get(tenant_id)
    return None if contact is None else contact.email


async def _queue(
    uow: UnitOfWork,
    rt: Runtime,
    event: InvoiceIssued | InvoicePaid | LowBalance | TopupRequested | PaymentReversed,
    kind: str,
    rendered: tuple[str, str, str],
    recipient: str | None,
) -> None:
    subject, text, body = rendered
    await uow.outbox.add(
        EmailMessage(
            id=rt.ids.new_id(),
            tenant_id=event.tenant_id,
            kind=kind,
            recipient=recipient,
            subject=subject,
            text=text,
            html=f"<html><body>{body}</body></html>",
            created_at=rt.clock.now(),
        )
    )


async def queue_invoice_issued_email(event: DomainEvent, uow: UnitOfWork, rt: Runtime) -> None:
    """An event handler (in the approval's transaction): the invoice, emailed to the clinic."""
    assert isinstance(event, InvoiceIssued)
    rendered = render_invoice_issued(event, rt.settings.payment_instructions)
    await _queue(uow, rt, event, "invoice_issued", rendered, await _recipient(uow, event))


async def queue_payment_received_email(event: DomainEvent, uow: UnitOfWork, rt: Runtime) -> None:
    """An event handler (in the payment's transaction): the receipt."""
    assert isinstance(event, InvoicePaid)
    await _queue(uow, rt, event, "payment_received", render_payment_received(event), await _recipient(uow, event))


async def queue_low_balance_email(event: DomainEvent, uow: UnitOfWork, rt: Runtime) -> None:
    """An event handler (in the move's transaction): the alert, emailed to the billing contact."""
    assert isinstance(event, LowBalance)
    runway = await runway_of(event.tenant_id, event.available, uow, rt)
    rendered = render_low_balance(event, runway)
    await _queue(uow, rt, event, "low_balance", rendered, await _contact(uow, event.tenant_id))


async def queue_automatic_topup_email(event: DomainEvent, uow: UnitOfWork, rt: Runtime) -> None:
    """An event handler (in the move's transaction): the clinic hears that a top-up was requested for it. A
    request a person made needs no email: they made it."""
    assert isinstance(event, TopupRequested)
    if event.requested_by != AUTO_REQUESTER:
        return
    await _queue(uow, rt, event, "automatic_topup", render_automatic_topup(event), await _contact(uow, event.tenant_id))


async def queue_payment_reversed_email(event: DomainEvent, uow: UnitOfWork, rt: Runtime) -> None:
    """An event handler (in the reversal's transaction): the clinic hears what was taken back and what it owes."""
    assert isinstance(event, PaymentReversed)
    await _queue(uow, rt, event, "payment_reversed", render_payment_reversed(event), await _recipient(uow, event))
