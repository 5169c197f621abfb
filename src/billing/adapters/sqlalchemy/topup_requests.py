"""Top-up requests (`topup_requests`)."""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import insert, select, update

from billing.adapters.sqlalchemy import rows
from billing.adapters.sqlalchemy.base import SqlAlchemyRepository
from billing.adapters.sqlalchemy.tables import topup_requests
from billing.application.pagination import Page, PageRequest
from billing.domain.topup import TopupRequest, TopupStatus


class SqlAlchemyTopupRequestRepository(SqlAlchemyRepository):
    async def get(
        self, request_id: UUID, *, for_update: bool = False, tenant_id: str | None = None
    ) -> TopupRequest | None:
        row = await self._by_id(topup_requests, request_id, for_update, tenant_id)
        return None if row is None else rows.request_from_row(row)

    async def add(self, request: TopupRequest) -> None:
        self._collect(request)
        await self._execute(insert(topup_requests), [rows.request_to_row(request)])

    async def save(self, request: TopupRequest) -> None:
        self._collect(request)
        values = rows.request_to_row(request)
        await self._execute(
            update(topup_requests)
            .where(topup_requests.c.tenant_id == request.tenant_id, topup_requests.c.id == request.id)
            .values(values)
        )

    async def list(self, tenant_id: str | None, status: TopupStatus | None, page: PageRequest) -> Page[TopupRequest]:
        query = select(topup_requests)
        if tenant_id is not None:
            query = query.where(topup_requests.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(topup_requests.c.status == status.value)
        order = [topup_requests.c.requested_at.desc(), topup_requests.c.id.desc()]
        found, total = await self._page(query, order, page)
        return Page(tuple(rows.request_from_row(r) for r in found), page.page, page.page_size, total)
