"""Invoice email as outbox messages, written in the same unit of work as the change they announce.

A message is rendered when the event happens (so it says what was true then) and delivered later by
the dispatcher; it is never lost when the mail server is down and never blocks the approval.
"""

from __future__ import annotations

import html

from billing.application.outbox import EmailMessage
from billing.application.ports import UnitOfWork
from billing.application.runtime import Runtime
from billing.domain.events import DomainEvent, InvoiceIssued, InvoicePaid


async def _recipient(uow: UnitOfWork, event: InvoiceIssued | InvoicePaid) -> str | None:
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


async def _queue(
    uow: UnitOfWork, rt: Runtime, event: InvoiceIssued | InvoicePaid, kind: str, rendered: tuple[str, str, str]
) -> None:
    subject, text, body = rendered
    await uow.outbox.add(
        EmailMessage(
            id=rt.ids.new_id(),
            tenant_id=event.tenant_id,
            kind=kind,
            recipient=await _recipient(uow, event),
            subject=subject,
            text=text,
            html=f"<html><body>{body}</body></html>",
            created_at=rt.clock.now(),
        )
    )


async def queue_invoice_issued_email(event: DomainEvent, uow: UnitOfWork, rt: Runtime) -> None:
    """An event handler (in the approval's transaction): the invoice, emailed to the clinic."""
    assert isinstance(event, InvoiceIssued)
    await _queue(uow, rt, event, "invoice_issued", render_invoice_issued(event, rt.settings.payment_instructions))


async def queue_payment_received_email(event: DomainEvent, uow: UnitOfWork, rt: Runtime) -> None:
    """An event handler (in the payment's transaction): the receipt."""
    assert isinstance(event, InvoicePaid)
    await _queue(uow, rt, event, "payment_received", render_payment_received(event))
