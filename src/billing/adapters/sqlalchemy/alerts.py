"""Low-balance alerts (`low_balance_alerts`, contract v2 §10): appended by the move that crossed a level."""

from __future__ import annotations

from sqlalchemy import insert, select

from billing.adapters.sqlalchemy import rows
from billing.adapters.sqlalchemy.base import SqlAlchemyRepository
from billing.adapters.sqlalchemy.tables import low_balance_alerts
from billing.application.pagination import Page, PageRequest
from billing.domain.protections import LowBalanceAlert


class SqlAlchemyLowBalanceAlertRepository(SqlAlchemyRepository):
    async def add(self, alert: LowBalanceAlert) -> None:
        await self._execute(insert(low_balance_alerts), [rows.alert_to_row(alert)])

    async def list(self, tenant_id: str, page: PageRequest) -> Page[LowBalanceAlert]:
        columns = low_balance_alerts.c
        query = select(low_balance_alerts).where(columns.tenant_id == tenant_id)
        found, total = await self._page(query, [columns.created_at.desc(), columns.id.desc()], page)
        return Page(tuple(rows.alert_from_row(row) for row in found), page.page, page.page_size, total)
