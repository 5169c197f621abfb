"""Explicit row <-> domain functions: every field is written and read back (a test reloads them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from billing.domain.invoice import Invoice, InvoiceLine, InvoicePurpose, InvoiceStatus
from billing.domain.ledger import EntryKind, LedgerEntry
from billing.domain.money import Money
from billing.domain.topup import TopupRequest, TopupStatus
from billing.domain.wallet import Wallet

Row = Mapping[Any, Any]


def wallet_from_row(row: Row) -> Wallet:
    return Wallet(
        id=row["id"],
        tenant_id=row["tenant_id"],
        currency=row["currency"],
        balance=Money(row["balance"], row["currency"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
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


def decimal_or_zero(value: Decimal | None) -> Decimal:
    return value if value is not None else Decimal(0)
