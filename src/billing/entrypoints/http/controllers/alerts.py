"""Low-balance alerts (contract v2 §10): `GET /wallet/me/alerts` (View) and `GET /wallets/{tenant_id}/alerts`
(root + View), newest first. The request and response structs live beside their routes."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec
from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from billing.application.caller import Caller
from billing.application.handlers import alerts
from billing.application.handlers.alerts import ListAlerts
from billing.application.pagination import Page, PageRequest
from billing.application.service import BillingService
from billing.domain.protections import LowBalanceAlert
from billing.entrypoints.http.problems import problem_responses


class AlertOut(msgspec.Struct, kw_only=True):
    id: UUID
    level: str  # the level the move crossed
    available: str  # just after the move
    created_at: datetime

    @classmethod
    def of(cls, alert: LowBalanceAlert) -> AlertOut:
        return cls(id=alert.id, level=str(alert.level), available=str(alert.available), created_at=alert.created_at)


class AlertPage(msgspec.Struct, kw_only=True):
    items: list[AlertOut]
    page: int
    page_size: int
    total: int

    @classmethod
    def of(cls, page: Page[LowBalanceAlert]) -> AlertPage:
        items = [AlertOut.of(alert) for alert in page.items]
        return cls(items=items, page=page.page, page_size=page.page_size, total=page.total)


class AlertController(Controller):
    tags = ["alerts"]

    @get("/wallet/me/alerts", operation_id="list_my_alerts", responses=problem_responses("forbidden"))
    async def list_my_alerts(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        page_request: NamedDependency[PageRequest],
    ) -> AlertPage:
        """The caller's low-balance alerts, newest first."""
        return AlertPage.of(await service.execute(alerts.list_alerts, ListAlerts(None, page_request), caller))

    @get("/wallets/{tenant_id:str}/alerts", operation_id="list_alerts", responses=problem_responses("forbidden"))
    async def list_alerts(
        self,
        tenant_id: FromPath[str],
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        page_request: NamedDependency[PageRequest],
    ) -> AlertPage:
        """A tenant's low-balance alerts, newest first (root + View)."""
        return AlertPage.of(await service.execute(alerts.list_alerts, ListAlerts(tenant_id, page_request), caller))
