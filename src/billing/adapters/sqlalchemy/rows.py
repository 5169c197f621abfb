"""Explicit row <-> domain functions, one pair per table: every field is written and read back (a test
reloads them). The repositories build no domain object themselves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from billing.application.idempotency import IdempotencyRecord
from billing.application.outbox import EmailMessage, OutboxEntry, OutboxStatus
from billing.domain.contact import BillingContact
from billing.domain.invoice import Invoice, InvoiceLine, InvoicePurpose, InvoiceStatus
from billing.domain.ledger import EntryKind, LedgerEntry, Posting
from billing.domain.money import Money
from billing.domain.pricing import Category, Rate, RateCard
from billing.domain.topup import TopupRequest, TopupStatus
from billing.domain.wallet import Wallet

Row = Mapping[Any, Any]


# wallets ------------------------------------------------------------------------------------------


def wallet_to_row(wallet: Wallet) -> dict[str, Any]:
    return {
        "tenant_id": wallet.tenant_id,
        "id": wallet.id,
        "currency": wallet.currency,
        "balance": wallet.balance.amount,
        "created_at": wallet.created_at,
        "updated_at": wallet.updated_at,
    }


def wallet_from_row(row: Row) -> Wallet:
    return Wallet(
        id=row["id"],
        tenant_id=row["tenant_id"],
        currency=row["currency"],
        balance=Money(row["balance"], row["currency"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


# wallet_transactions ------------------------------------------------------------------------------


def posting_params(posting: Posting) -> dict[str, Any]:
    """The posting statements' parameters: the ledger row's own values (`wallet_id` and `balance_after` come
    from the wallet's row, `at` is also the wallet's `updated_at`)."""
    return {
        "tenant_id": posting.tenant_id,
        "id": posting.entry_id,
        "kind": posting.kind.value,
        "amount": posting.amount.amount,
        "currency": posting.amount.currency,
        "reference_id": posting.reference_id,
        "description": posting.description,
        "at": posting.at,
    }


def entry_from_posting(posting: Posting, row: Row) -> LedgerEntry:
    """The entry a posting became, from what its insert returned (`wallet_id`, `balance_after`)."""
    return LedgerEntry(
        id=posting.entry_id,
        wallet_id=row["wallet_id"],
        tenant_id=posting.tenant_id,
        kind=posting.kind,
        amount=posting.amount,
        balance_after=Money(row["balance_after"], posting.amount.currency),
        reference_id=posting.reference_id,
        description=posting.description,
        created_at=posting.at,
    )


def entry_from_row(row: Row) -> LedgerEntry:
    currency = row["currency"]
    return LedgerEntry(
        id=row["id"],
        wallet_id=row["wallet_id"],
        tenant_id=row["tenant_id"],
        kind=EntryKind(row["kind"]),
        amount=Money(row["amount"], currency),
        balance_after=Money(row["balance_after"], currency),
        reference_id=row["reference_id"],
        description=row["description"],
        created_at=row["created_at"],
    )


# topup_requests -----------------------------------------------------------------------------------


def request_to_row(request: TopupRequest) -> dict[str, Any]:
    return {
        "tenant_id": request.tenant_id,
        "id": request.id,
        "amount": request.amount.amount,
        "currency": request.currency,
        "note": request.note,
        "status": request.status.value,
        "requested_by": request.requested_by,
        "requester_email": request.requester_email,
        "requested_at": request.requested_at,
        "decided_by": request.decided_by,
        "decided_at": request.decided_at,
        "decision_note": request.decision_note,
        "rejection_reason": request.rejection_reason,
        "invoice_id": request.invoice_id,
        "invoice_number": request.invoice_number,
        "completed_at": request.completed_at,
        "cancelled_at": request.cancelled_at,
    }


def request_from_row(row: Row) -> TopupRequest:
    return TopupRequest(
        id=row["id"],
        tenant_id=row["tenant_id"],
        amount=Money(row["amount"], row["currency"]),
        note=row["note"],
        status=TopupStatus(row["status"]),
        requested_by=row["requested_by"],
        requester_email=row["requester_email"],
        requested_at=row["requested_at"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        decision_note=row["decision_note"],
        rejection_reason=row["rejection_reason"],
        invoice_id=row["invoice_id"],
        invoice_number=row["invoice_number"],
        completed_at=row["completed_at"],
        cancelled_at=row["cancelled_at"],
    )


# invoices and invoice_lines -----------------------------------------------------------------------


def invoice_to_row(invoice: Invoice) -> dict[str, Any]:
    return {
        "tenant_id": invoice.tenant_id,
        "id": invoice.id,
        "number": invoice.number,
        "purpose": invoice.purpose.value,
        "status": invoice.status.value,
        "currency": invoice.currency,
        "total": invoice.total.amount,
        "period": invoice.period,
        "topup_request_id": invoice.topup_request_id,
        "issued_at": invoice.issued_at,
        "due_date": invoice.due_date,
        "paid_at": invoice.paid_at,
        "payment_reference": invoice.payment_reference,
        "voided_at": invoice.voided_at,
        "void_reason": invoice.void_reason,
        "created_at": invoice.created_at,
    }


def line_rows(invoice: Invoice) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": invoice.tenant_id,
            "invoice_id": invoice.id,
            "line_no": number,
            "description": line.description,
            "quantity": line.quantity,
            "unit_price": line.unit_price.amount,
            "amount": line.amount.amount,
        }
        for number, line in enumerate(invoice.lines, start=1)
    ]


def invoice_from_rows(row: Row, lines: Sequence[Row]) -> Invoice:
    currency = row["currency"]
    return Invoice(
        id=row["id"],
        number=row["number"],
        tenant_id=row["tenant_id"],
        purpose=InvoicePurpose(row["purpose"]),
        status=InvoiceStatus(row["status"]),
        currency=currency,
        lines=tuple(
            InvoiceLine(line["description"], line["quantity"], Money(line["unit_price"], currency))
            for line in sorted(lines, key=lambda line: int(line["line_no"]))
        ),
        period=row["period"],
        created_at=row["created_at"],
        topup_request_id=row["topup_request_id"],
        issued_at=row["issued_at"],
        due_date=row["due_date"],
        paid_at=row["paid_at"],
        payment_reference=row["payment_reference"],
        voided_at=row["voided_at"],
        void_reason=row["void_reason"],
    )


# billing_contacts ---------------------------------------------------------------------------------


def contact_to_row(contact: BillingContact) -> dict[str, Any]:
    return {
        "tenant_id": contact.tenant_id,
        "email": contact.email,
        "name": contact.name,
        "updated_by": contact.updated_by,
        "updated_at": contact.updated_at,
    }


def contact_from_row(row: Row) -> BillingContact:
    return BillingContact(
        tenant_id=row["tenant_id"],
        email=row["email"],
        name=row["name"],
        updated_by=row["updated_by"],
        updated_at=row["updated_at"],
    )


# idempotency_keys ---------------------------------------------------------------------------------


def idempotency_record_to_row(record: IdempotencyRecord) -> dict[str, Any]:
    return {
        "tenant_id": record.tenant_id,
        "key": record.key,
        "fingerprint": record.fingerprint,
        "status_code": record.status_code,
        "body": record.body,
        "content_type": record.content_type,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
    }


def idempotency_record_from_row(row: Row) -> IdempotencyRecord:
    return IdempotencyRecord(
        tenant_id=row["tenant_id"],
        key=row["key"],
        fingerprint=row["fingerprint"],
        status_code=row["status_code"],
        body=bytes(row["body"]),
        content_type=row["content_type"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )


# outbox_messages ----------------------------------------------------------------------------------


def outbox_entry_to_row(entry: OutboxEntry) -> dict[str, Any]:
    message = entry.message
    return {
        "tenant_id": message.tenant_id,
        "id": message.id,
        "kind": message.kind,
        "recipient": message.recipient,
        "subject": message.subject,
        "text_body": message.text,
        "html_body": message.html,
        "status": entry.status.value,
        "attempts": entry.attempts,
        "next_attempt_at": entry.next_attempt_at,
        "last_error": entry.last_error,
        "created_at": message.created_at,
        "sent_at": entry.sent_at,
    }


def outbox_entry_from_row(row: Row) -> OutboxEntry:
    message = EmailMessage(
        id=row["id"],
        tenant_id=row["tenant_id"],
        kind=row["kind"],
        recipient=row["recipient"],
        subject=row["subject"],
        text=row["text_body"],
        html=row["html_body"],
        created_at=row["created_at"],
    )
    return OutboxEntry(
        message=message,
        status=OutboxStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        sent_at=row["sent_at"],
    )


def decimal_or_zero(value: Decimal | None) -> Decimal:
    return value if value is not None else Decimal(0)


# rate_cards, default_rate_cards: a card is immutable and read whole, its markets and rates JSONB -----


def card_to_row(card: RateCard) -> dict[str, Any]:
    return {
        "tenant_id": card.tenant_id,
        "id": card.id,
        "name": card.name,
        "currency": card.currency,
        "effective_from": card.effective_from,
        "free_in_service_window": sorted(category.value for category in card.free_in_service_window),
        "markets": dict(card.markets),
        "rates": [
            {
                "market": rate.market,
                "category": rate.category.value,
                "unit_price": str(rate.unit_price.amount),
                "tier_from": rate.tier_from,
            }
            for rate in card.rates
        ],
        "created_by": card.created_by,
        "created_at": card.created_at,
    }


def card_from_row(row: Row) -> RateCard:
    currency = row["currency"]
    return RateCard(
        id=row["id"],
        name=row["name"],
        currency=currency,
        effective_from=row["effective_from"],
        tenant_id=row["tenant_id"],
        free_in_service_window=frozenset(Category(value) for value in row["free_in_service_window"]),
        markets=dict(row["markets"]),
        rates=tuple(
            Rate(
                rate["market"],
                Category(rate["category"]),
                Money(Decimal(rate["unit_price"]), currency),
                rate["tier_from"],
            )
            for rate in row["rates"]
        ),
        created_by=row["created_by"],
        created_at=row["created_at"],
    )
