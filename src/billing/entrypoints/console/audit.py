"""The audit trail on the console (contract v3 §20): the operators' page of every tenant's rows (filtered by tenant,
actor, action, target id and UTC days, as `GET /audit`), and a clinic's page of its own rows (as
`GET /wallet/me/audit`: no client address, an operator shown only as the platform). Newest first, page by page."""

from __future__ import annotations

from typing import Any

import attrs
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.response import Redirect

from billing.application.audit import ListAudit, ListMyAudit, list_audit, list_my_audit
from billing.application.caller import Caller
from billing.application.pagination import Page, PageRequest
from billing.application.service import BillingService
from billing.domain.audit import AuditEntry
from billing.domain.errors import ValidationError
from billing.entrypoints.console.forms import typed
from billing.entrypoints.console.views import (
    ConsoleConfig,
    FormProblem,
    Pager,
    operators_only,
    optional,
    page_number,
    parse_days,
    render,
)

PAGE_SIZE = 25
FILTERS = "filters"  # the filter form's name, for the messages beside its fields
FILTER_FIELDS = ("tenant_id", "actor", "action", "target_id", "from", "to")
FOR_OPERATORS = (
    "the audit trail of every tenant is for operators of the platform (the root tenant with Billing.View); "
    "your own audit page shows your wallet's"
)
OPERATORS_AUDIT = "/console/audit"


@attrs.frozen
class AuditFilters:
    """The page's filters as typed, from its query string (empty: not filtered)."""

    tenant_id: str = ""
    actor: str = ""
    action: str = ""
    target_id: str = ""
    first_day: str = ""
    last_day: str = ""

    @classmethod
    def of(cls, values: Any) -> AuditFilters:
        return cls(*(typed(values, name) for name in FILTER_FIELDS))

    def query(self) -> dict[str, str]:
        """The filters given, as the query string names them (for the pager's links)."""
        named = zip(FILTER_FIELDS, attrs.astuple(self), strict=True)
        return {name: value for name, value in named if value}

    def list_audit(self, page: PageRequest) -> ListAudit:
        first_day, last_day = parse_days(self.first_day, self.last_day)
        return ListAudit(
            optional(self.tenant_id),
            optional(self.actor),
            optional(self.action),
            optional(self.target_id),
            first_day,
            last_day,
            page,
        )

    def list_my_audit(self, page: PageRequest) -> ListMyAudit:
        first_day, last_day = parse_days(self.first_day, self.last_day)
        return ListMyAudit(
            optional(self.actor), optional(self.action), optional(self.target_id), first_day, last_day, page
        )


async def audit_page(
    request: Request[Any, Any, Any],
    service: BillingService,
    console: ConsoleConfig,
    caller: Caller,
    *,
    own: bool,
) -> Response[Any]:
    """`own`: the caller's tenant's rows, as a clinic sees them; else every tenant's, as operators see them."""
    filters = AuditFilters.of(request.query_params)
    page_request = PageRequest(page_number(request), PAGE_SIZE)
    problem: FormProblem | None = None
    try:
        if own:
            rows: Page[AuditEntry] = await service.execute(list_my_audit, filters.list_my_audit(page_request), caller)
        else:
            rows = await service.execute(list_audit, filters.list_audit(page_request), caller)
    except ValidationError as error:  # a bad filter: say so beside it, list nothing
        rows = Page((), page_request.page, page_request.page_size, 0)
        problem = FormProblem.of(error, FILTERS, known=FILTER_FIELDS)
    return render(
        "audit.html",
        console,
        caller,
        status=problem.status if problem else 200,
        active="audit",
        own=own,
        action_path="/console/wallet/audit" if own else OPERATORS_AUDIT,
        filters=filters,
        rows=rows,
        rows_pager=Pager.of(rows, keep=filters.query()),
        problem=problem,
    )


class AuditPage(Controller):
    path = "/audit"
    opt = operators_only(FOR_OPERATORS)

    @get("/", name="console-audit")
    async def show(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        return await audit_page(request, service, console, caller, own=False)


class MyAuditPage(Controller):
    path = "/wallet/audit"

    @get("/", name="console-my-audit")
    async def show(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        """The clinic's own; the platform's operators have the full trail (their own tenant is not a clinic)."""
        if console.authorizer.is_root(caller):
            return Redirect(OPERATORS_AUDIT, status_code=303)
        return await audit_page(request, service, console, caller, own=True)
