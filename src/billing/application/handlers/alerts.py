"""Low-balance alerts (contract v2 §10): `GET /wallet/me/alerts` (View) and `GET /wallets/{tenant_id}/alerts`
(root + View). They are recorded by the moves that cross a level (application/protections.py)."""

from __future__ import annotations

import attrs

from billing.application.caller import Caller
from billing.application.pagination import Page, PageRequest
from billing.application.ports import UnitOfWork
from billing.application.runtime import Runtime, requires, viewer
from billing.domain.protections import LowBalanceAlert


@attrs.frozen
class ListAlerts:
    tenant_id: str | None = None  # None: the caller's own
    page: PageRequest = attrs.field(factory=PageRequest)


@requires(viewer)
async def list_alerts(query: ListAlerts, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Page[LowBalanceAlert]:
    tenant_id = rt.auth.tenant_of(caller, query.tenant_id, "wallet", operators_view=True)
    return await uow.alerts.list(tenant_id, query.page)
