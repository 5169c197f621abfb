"""Low-balance alerts (`low_balance_alerts`, contract v2 §10): appended by the move that crossed a level."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from billing.adapters.sqlalchemy.base import Row, SqlAlchemyRepository
from billing.adapters.sqlalchemy.tables import low_balance_alerts
from billing.application.pagination import Page, PageRequest
from billing.domain.money import Money
from billing.domain.protections import LowBalanceAlert


class SqlAlchemyLowBalanceAlertRepository(SqlAlchemyRepository):
    async def add(self, alert: LowBalanceAlert) -> None:
        await self._execute(insert(low_balance_alerts), [alert_to_row(alert)])
        self._collect(alert)

    async def list(self, tenant_id: str, page: PageRequest) -> Page[LowBalanceAlert]:
        columns = low_balance_alerts.c
        query = select(low_balance_alerts).where(columns.tenant_id == tenant_id)
        found, total = await self._page(query, [columns.created_at.desc(), columns.id.desc()], page)
        return Page(tuple(alert_from_row(row) for row in found), page.page, page.page_size, total)


# Rows <-> domain: every field written and read back (tests/integration/test_reloading.py reloads them).


def alert_to_row(alert: LowBalanceAlert) -> dict[str, Any]:
    return {
        "tenant_id": alert.tenant_id,
        "id": alert.id,
        "level": alert.level.amount,
        "available": alert.available.amount,
        "currency": alert.level.currency,
        "created_at": alert.created_at,
    }


def alert_from_row(row: Row) -> LowBalanceAlert:
    currency = row["currency"]
    return LowBalanceAlert(
        row["id"], row["tenant_id"], Money(row["level"], currency), Money(row["available"], currency), row["created_at"]
    )
