"""The operators' top-up queue: its figures at a glance (the KPI strip), filter by tenant and status, approve,
reject, mark the invoice paid or void it.

Seeing it needs the root tenant with Billing.View; acting needs Billing.Manage too (the handlers
check that themselves, exactly as for the API).
"""

from __future__ import annotations

from typing import Any

import attrs
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from billing.application import queries
from billing.application.caller import Caller
from billing.application.handlers.topups import ApproveTopup, RejectTopup, approve_topup, reject_topup
from billing.application.pagination import Page, PageRequest
from billing.application.ports import TopupQueueFigures
from billing.application.service import BillingService
from billing.domain.errors import ValidationError
from billing.domain.topup import TopupRequest, TopupStatus
from billing.entrypoints.console.forms import Again, Refused, form_action, see_other
from billing.entrypoints.console.views import (
    ConsoleConfig,
    FormProblem,
    Pager,
    operators_only,
    optional,
    page_number,
    parse_id,
    render,
    text,
)

PAGE_SIZE = 20
ALL = "all"
STATUSES = (*(status.value for status in TopupStatus), ALL)
NOTICES = {
    "approved": "Approved: the invoice was issued and emailed to the clinic. It waits under “invoiced” until paid.",
    "rejected": "Rejected: the clinic sees the reason beside its request.",
    "paid": "Marked paid: the clinic's wallet was credited and its request completed.",
    "voided": "Voided: the invoice is void and the clinic's request cancelled.",
}


@attrs.frozen
class Filters:
    """The queue's filters, as the page's query string or as hidden fields of an action's form."""

    tenant_id: str = ""
    status: str = TopupStatus.PENDING.value

    @classmethod
    def of(cls, values: Any) -> Filters:
        status = values.get("status")
        return cls(
            tenant_id=(values.get("tenant_id") or "").strip(),
            status=status if isinstance(status, str) and status else TopupStatus.PENDING.value,
        )

    def query(self, **extra: str) -> dict[str, str]:
        return {**({"tenant_id": self.tenant_id} if self.tenant_id else {}), "status": self.status, **extra}


FOR_OPERATORS = (
    "the top-up queue is for operators of the platform (the root tenant with Billing.View); "
    "your wallet page shows your own requests"
)


async def topups_page(
    request: Request[Any, Any, Any],
    service: BillingService,
    console: ConsoleConfig,
    caller: Caller,
    filters: Filters,
    *,
    notice: str | None = None,
    problem: FormProblem | None = None,
) -> Response[Any]:
    page_request = PageRequest(page_number(request), PAGE_SIZE)
    figures: TopupQueueFigures | None = None  # the strip: the tenant filter's, whatever the status filter
    try:
        tenant_id = filters.tenant_id or None
        status = None if filters.status == ALL else queries.parse_choice(TopupStatus, filters.status, "status")
        figures = await service.execute(
            queries.get_topup_queue_figures, queries.GetTopupQueueFigures(tenant_id), caller
        )
        query = queries.ListTopupRequests(tenant_id, status, page_request)
        requests: Page[TopupRequest] = await service.execute(queries.list_topup_requests, query, caller)
    except ValidationError as error:  # a bad filter: say so beside it, list nothing
        requests = Page((), page_request.page, page_request.page_size, 0)
        problem = FormProblem.of(error, "filters", known=("tenant_id", "status"))
    return render(
        "topups.html",
        console,
        caller,
        status=problem.status if problem else 200,
        active="topups",
        filters=filters,
        statuses=STATUSES,
        figures=figures,
        requests=requests,
        requests_pager=Pager.of(requests, keep=filters.query()),
        notice=notice,
        problem=problem,
    )


def queue_again(
    request: Request[Any, Any, Any], service: BillingService, console: ConsoleConfig, caller: Caller
) -> Again:
    """The queue again, filtered as the form's hidden fields say, with a refused action's problem."""
    return lambda form, problem: topups_page(request, service, console, caller, Filters.of(form), problem=problem)


def back_to_queue(form: FormMultiDict, done: str) -> Redirect:
    return see_other("/console/topups", **Filters.of(form).query(done=done))


class TopupsPage(Controller):
    path = "/topups"
    opt = operators_only(FOR_OPERATORS)

    @get("/", name="console-topups")
    async def show(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        notice = NOTICES.get(request.query_params.get("done", ""))
        return await topups_page(request, service, console, caller, Filters.of(request.query_params), notice=notice)

    @post("/{request_id:str}/approve", status_code=303)
    async def approve(
        self,
        request: Request[Any, Any, Any],
        request_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        topup = parse_id(request_id, "top-up request")
        return await form_action(
            request,
            service,
            caller,
            approve_topup,
            lambda form: ApproveTopup(topup, optional(text(form, "note"))),
            refused=Refused(request_id, queue_again(request, service, console, caller), known=("note",)),
            done=lambda form, _: back_to_queue(form, "approved"),
        )

    @post("/{request_id:str}/reject", status_code=303)
    async def reject(
        self,
        request: Request[Any, Any, Any],
        request_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        topup = parse_id(request_id, "top-up request")
        return await form_action(
            request,
            service,
            caller,
            reject_topup,
            lambda form: RejectTopup(topup, text(form, "reason")),
            refused=Refused(request_id, queue_again(request, service, console, caller), known=("reason",)),
            done=lambda form, _: back_to_queue(form, "rejected"),
        )
