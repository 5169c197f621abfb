"""The audit trail (contract v3 §20): who did what, for operators across tenants and for a clinic on its own."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from billing.application.audit import ListAudit, ListMyAudit, list_audit, list_my_audit
from billing.application.caller import Caller
from billing.application.pagination import Page, PageRequest
from billing.application.service import BillingService
from billing.domain.audit import AuditEntry
from billing.entrypoints.http.problems import problem_responses
from billing.entrypoints.http.schemas import AuditOut, AuditPage

# `from` is a Python keyword: the parameter is named in the query only.
FromDay = Annotated[date | None, QueryParameter(name="from", description="The first UTC day, included.")]
ToDay = Annotated[date | None, QueryParameter(name="to", description="The last UTC day, included.")]


def _page(page: Page[AuditEntry]) -> AuditPage:
    return AuditPage(
        items=[AuditOut.of(e) for e in page.items], page=page.page, page_size=page.page_size, total=page.total
    )


class AuditController(Controller):
    path = "/"
    tags = ["audit"]

    @get("/audit", operation_id="list_audit", responses=problem_responses("forbidden"))
    async def list_audit(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        page_request: NamedDependency[PageRequest],
        tenant_id: FromQuery[str | None] = None,
        actor: FromQuery[str | None] = None,
        action: FromQuery[str | None] = None,
        target_id: FromQuery[str | None] = None,
        from_day: FromDay = None,
        to_day: ToDay = None,
    ) -> AuditPage:
        """Root + View: audit rows, newest first; without `tenant_id`, every tenant's and the platform's.
        `actor` is the actor's `sub`; `from`/`to` are UTC days, both included."""
        query = ListAudit(tenant_id, actor, action, target_id, from_day, to_day, page_request)
        return _page(await service.execute(list_audit, query, caller))

    @get("/wallet/me/audit", operation_id="list_my_audit", responses=problem_responses("forbidden"))
    async def list_my_audit(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        page_request: NamedDependency[PageRequest],
        actor: FromQuery[str | None] = None,
        action: FromQuery[str | None] = None,
        target_id: FromQuery[str | None] = None,
        from_day: FromDay = None,
        to_day: ToDay = None,
    ) -> AuditPage:
        """The own tenant's audit rows, newest first: no client addresses, an operator of the platform shown
        only as the platform."""
        query = ListMyAudit(actor, action, target_id, from_day, to_day, page_request)
        return _page(await service.execute(list_my_audit, query, caller))
