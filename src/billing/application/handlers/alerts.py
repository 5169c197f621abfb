"""Low-balance alerts (contract v2 §10): `GET /wallet/me/alerts` (View) and `GET /wallets/{tenant_id}/alerts`
(root + View). They are recorded by the moves that cross a level (application/protections.py)."""

from __future__ import annotations

import attrs

from billing.application.caller import VIEW, Caller
from billing.application.pagination import Page, PageRequest
from billing.application.ports import UnitOfWork
from billing.application.runtime import Runtime, requires, viewer
from billing.domain.protections import LowBalanceAlert
from billing.domain.tenant import validate_tenant_id


@attrs.frozen
class ListAlerts:
    tenant_id: str | None = None  # None: the caller's own
    page: PageRequest = attrs.field(factory=PageRequest)


@requires(viewer)
async def list_alerts(query: ListAlerts, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Page[LowBalanceAlert]:
    rt.auth.require(caller, VIEW)
    if query.tenant_id is None:
        tenant_id = caller.tenant_id
    else:
        rt.auth.require_root_viewer(caller)
        tenant_id = validate_tenant_id(query.tenant_id)
    return await uow.alerts.list(tenant_id, query.page)
