"""Operators' adjustments (`adjustments`, contract v3 §19); v1's ledger rows of kind `adjustment` were copied in as
applied adjustments by migration 0009, so every adjustment is listed from this one table."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from sqlalchemy import insert, select, update

from billing.adapters.sqlalchemy.base import Row, SqlAlchemyRepository
from billing.adapters.sqlalchemy.tables import adjustments
from billing.application.pagination import Page, PageRequest
from billing.domain.adjustment import Adjustment, AdjustmentStatus
from billing.domain.money import Money


class SqlAlchemyAdjustmentRepository(SqlAlchemyRepository):
    async def get(self, adjustment_id: UUID, *, for_update: bool = False) -> Adjustment | None:
        row = await self._by_id(adjustments, adjustment_id, for_update)
        return None if row is None else adjustment_from_row(row)

    async def find_by_reference(self, tenant_id: str, reference_id: str) -> Adjustment | None:
        columns = adjustments.c
        query = select(adjustments).where(columns.tenant_id == tenant_id, columns.reference_id == reference_id)
        row = (await self._execute(query)).mappings().first()
        return None if row is None else adjustment_from_row(row)

    async def add(self, adjustment: Adjustment) -> None:
        """A racer's adjustment of the same reference trips `ux_adjustments_reference`: ConcurrencyConflictError
        (errors.py), and the re-run finds it."""
        await self._execute(insert(adjustments), [adjustment_to_row(adjustment)])
        self._collect(adjustment)

    async def save(self, adjustment: Adjustment) -> None:
        columns = adjustments.c
        await self._execute(
            update(adjustments)
            .where(columns.tenant_id == adjustment.tenant_id, columns.id == adjustment.id)
            .values(adjustment_to_row(adjustment))
        )
        self._collect(adjustment)

    async def list(self, tenant_id: str, status: AdjustmentStatus | None, page: PageRequest) -> Page[Adjustment]:
        columns = adjustments.c
        query = select(adjustments).where(columns.tenant_id == tenant_id)
        if status is not None:
            query = query.where(columns.status == status.value)
        found, total = await self._page(query, [columns.proposed_at.desc(), columns.id.desc()], page)
        return Page(tuple(adjustment_from_row(row) for row in found), page.page, page.page_size, total)


# Rows <-> domain: every field written and read back (tests/integration/test_reloading.py reloads them).


def adjustment_to_row(adjustment: Adjustment) -> dict[str, Any]:
    return {
        "tenant_id": adjustment.tenant_id,
        "id": adjustment.id,
        "amount": adjustment.amount.amount,
        "currency": adjustment.amount.currency,
        "reason": adjustment.reason,
        "reference_id": adjustment.reference_id,
        "status": adjustment.status.value,
        "proposed_by": adjustment.proposed_by,
        "proposed_at": adjustment.proposed_at,
        "decided_by": adjustment.decided_by,
        "decided_at": adjustment.decided_at,
        "transaction_id": adjustment.transaction_id,
        "rejection_reason": adjustment.rejection_reason,
    }


def adjustment_from_row(row: Row) -> Adjustment:
    return Adjustment(
        id=row["id"],
        tenant_id=row["tenant_id"],
        amount=Money(row["amount"], row["currency"]),
        reason=row["reason"],
        reference_id=row["reference_id"],
        status=AdjustmentStatus(row["status"]),
        proposed_by=row["proposed_by"],
        proposed_at=row["proposed_at"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        transaction_id=row["transaction_id"],
        rejection_reason=row["rejection_reason"],
    )
