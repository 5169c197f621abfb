"""Invoices and their lines (`invoices`, `invoice_lines`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, update

from billing.adapters.sqlalchemy.base import Row, SqlAlchemyRepository
from billing.adapters.sqlalchemy.tables import invoice_lines, invoices
from billing.application.pagination import Page, PageRequest
from billing.domain.invoice import Invoice, InvoiceLine, InvoicePurpose, InvoiceStatus
from billing.domain.money import Money

LINE_COLUMNS = ("line_no", "description", "quantity", "unit_price")

# Mark paid, void and issue lock the invoice in two round trips, both on the driver connection (as the charge):
# its tenant first (Citus locks, and routes to one shard, only through the distribution column), then the invoice
# locked with its lines (which never change, so are not locked).
TENANT_OF = "SELECT tenant_id FROM invoices WHERE id = %(id)s"
# The lock order (docs/decisions.md): the tenant's wallet row before the invoice's, since paying a top-up credits
# the wallet. A unit holding the wallet may wait on this invoice's request (an automatic top-up request that its
# low balance asks for meets the one being paid in their unique index), so the invoice must not be held while
# waiting for the wallet. The one-time gate makes the invoice's scan start once the wallet is locked.
LOCK_WITH_LINES = f"""
    WITH wallet AS MATERIALIZED (
        SELECT FROM wallets WHERE tenant_id = %(tenant_id)s FOR NO KEY UPDATE
    )
    SELECT {", ".join(f"i.{column.name}" for column in invoices.c)},
           {", ".join(f"l.{name} AS line_{name}" for name in LINE_COLUMNS)}
    FROM invoices AS i
    LEFT JOIN invoice_lines AS l ON l.tenant_id = i.tenant_id AND l.invoice_id = i.id
    WHERE i.tenant_id = %(tenant_id)s AND i.id = %(id)s AND (SELECT count(*) FROM wallet) >= 0
    FOR UPDATE OF i
"""

BY_REFERENCE = f"""
    SELECT {", ".join(column.name for column in invoices.c)} FROM invoices
    WHERE tenant_id = %(tenant_id)s AND payment_reference_key = %(key)s
"""


class SqlAlchemyInvoiceRepository(SqlAlchemyRepository):
    async def _with_lines(self, found: Sequence[Mapping[Any, Any]]) -> list[Invoice]:
        if not found:
            return []
        ids = [row["id"] for row in found]
        tenants = {row["tenant_id"] for row in found}
        lines = await self._execute(
            select(invoice_lines).where(invoice_lines.c.tenant_id.in_(tenants), invoice_lines.c.invoice_id.in_(ids))
        )
        by_invoice: dict[UUID, list[Mapping[Any, Any]]] = {}
        for line in lines.mappings():
            by_invoice.setdefault(line["invoice_id"], []).append(line)
        return [invoice_from_rows(row, by_invoice.get(row["id"], [])) for row in found]

    async def get(self, invoice_id: UUID, *, for_update: bool = False) -> Invoice | None:
        if for_update:
            return await self._locked(invoice_id)
        row = await self._by_id(invoices, invoice_id, for_update)
        loaded = await self._with_lines([] if row is None else [row])
        return loaded[0] if loaded else None

    async def _locked(self, invoice_id: UUID) -> Invoice | None:
        """Its tenant first (Citus locks through the distribution column), then the invoice and its lines."""
        tenant = await self._fetch_one_on_driver(TENANT_OF, {"id": invoice_id})
        if tenant is None:
            return None
        found = await self._fetch_all_on_driver(LOCK_WITH_LINES, {"tenant_id": tenant["tenant_id"], "id": invoice_id})
        if not found:  # gone between the two statements
            return None
        lines = [
            {name: row[f"line_{name}"] for name in LINE_COLUMNS} for row in found if row["line_line_no"] is not None
        ]
        return invoice_from_rows(found[0], lines)

    async def find_subscription(self, tenant_id: str, period: str) -> Invoice | None:
        query = select(invoices).where(
            invoices.c.tenant_id == tenant_id,
            invoices.c.purpose == InvoicePurpose.SUBSCRIPTION.value,
            invoices.c.period == period,
        )
        loaded = await self._with_lines(list((await self._execute(query)).mappings()))
        return loaded[0] if loaded else None

    async def find_paid_with_reference(self, tenant_id: str, reference_key: str) -> Invoice | None:
        """One probe of `ux_invoices_payment_reference` on the driver (mark paid's hot path); the lines are read
        only for a holder found, which refuses the payment."""
        found = await self._fetch_all_on_driver(BY_REFERENCE, {"tenant_id": tenant_id, "key": reference_key})
        loaded = await self._with_lines(found)
        return loaded[0] if loaded else None

    async def add(self, invoice: Invoice) -> None:
        self._collect(invoice)
        await self._execute(insert(invoices), [invoice_to_row(invoice)])
        await self._execute(insert(invoice_lines), line_rows(invoice))

    async def save(self, invoice: Invoice) -> None:
        """Lines never change after creation; the invoice row carries every state change."""
        self._collect(invoice)
        await self._execute(
            update(invoices)
            .where(invoices.c.tenant_id == invoice.tenant_id, invoices.c.id == invoice.id)
            .values(invoice_to_row(invoice))
        )

    async def list(
        self,
        tenant_id: str | None,
        status: InvoiceStatus | None,
        purpose: InvoicePurpose | None,
        page: PageRequest,
    ) -> Page[Invoice]:
        query = select(invoices)
        if tenant_id is not None:
            query = query.where(invoices.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(invoices.c.status == status.value)
        if purpose is not None:
            query = query.where(invoices.c.purpose == purpose.value)
        found, total = await self._page(query, [invoices.c.created_at.desc(), invoices.c.id.desc()], page)
        return Page(tuple(await self._with_lines(found)), page.page, page.page_size, total)


# Rows <-> domain: every field written and read back (tests/integration/test_reloading.py reloads them).


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
        "payment_reference_key": invoice.payment_reference_key,
        "voided_at": invoice.voided_at,
        "void_reason": invoice.void_reason,
        "created_at": invoice.created_at,
        "paid_by": invoice.paid_by,
        "reversed_at": invoice.reversed_at,
        "reversed_by": invoice.reversed_by,
        "reversal_reason": invoice.reversal_reason,
        "reversed_amount": None if invoice.reversed_amount is None else invoice.reversed_amount.amount,
        "debt_added": None if invoice.debt_added is None else invoice.debt_added.amount,
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
        payment_reference_key=row["payment_reference_key"],
        voided_at=row["voided_at"],
        void_reason=row["void_reason"],
        paid_by=row["paid_by"],
        reversed_at=row["reversed_at"],
        reversed_by=row["reversed_by"],
        reversal_reason=row["reversal_reason"],
        reversed_amount=_money_or_none(row["reversed_amount"], currency),
        debt_added=_money_or_none(row["debt_added"], currency),
    )


def _money_or_none(amount: Decimal | None, currency: str) -> Money | None:
    return None if amount is None else Money(amount, currency)
