"""A tenant wallet's adjustments (contract v3 §19), for operators: the list (filtered by status), a form proposing one
(a signed amount, a reason and a reference id made fresh for each form, so that a form sent twice is a repeat rather
than a second adjustment), and approve or reject on a proposed one. Without four eyes the form applies it at once.

Seeing it needs the root tenant with Billing.View; acting needs Billing.Manage too (the use cases check that, as for
the API's `/wallets/{tenant_id}/adjustments` and `/adjustments/{id}/approve|reject`)."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from billing.application import inputs, queries
from billing.application.caller import Caller
from billing.application.handlers.adjustments import (
    AdjustmentResult,
    AdjustWallet,
    ApproveAdjustment,
    ListAdjustments,
    RejectAdjustment,
    adjust_wallet,
    approve_adjustment,
    list_adjustments,
    reject_adjustment,
)
from billing.application.pagination import Page, PageRequest
from billing.application.service import BillingService
from billing.domain.adjustment import Adjustment, AdjustmentStatus
from billing.domain.errors import ValidationError
from billing.domain.money import Scale
from billing.entrypoints.console.forms import Again, Refused, form_action, see_other
from billing.entrypoints.console.views import (
    ConsoleConfig,
    FormProblem,
    Pager,
    operators_only,
    page_number,
    parse_id,
    render,
    text,
)

PAGE_SIZE = 20
ALL = "all"
STATUSES = (ALL, *(status.value for status in AdjustmentStatus))
PROPOSE = "propose"  # the form's name, for the messages beside its fields
PROPOSE_FIELDS = ("amount", "reason", "reference_id")
NOTICES = {
    "applied": "Applied: the wallet was adjusted (a credit repays its debt first).",
    "proposed": "Proposed: another operator approves it (four eyes). Until then the wallet is unchanged.",
    "repeated": "That reference id was already an adjustment of the same amount: nothing new was made.",
    "rejected": "Rejected: the adjustment will not be applied.",
}
FOR_OPERATORS = (
    "adjustments are for operators of the platform (the root tenant with Billing.View); "
    "your wallet page shows your own activity"
)


def chosen_status(values: Any) -> str:
    """The status filter, from the page's query string or an action's hidden field (default: all)."""
    status = values.get("status")
    return status.strip() if isinstance(status, str) and status.strip() else ALL


async def adjustments_page(
    request: Request[Any, Any, Any],
    service: BillingService,
    console: ConsoleConfig,
    caller: Caller,
    tenant_id: str,
    status: str,
    *,
    notice: str | None = None,
    problem: FormProblem | None = None,
) -> Response[Any]:
    wallet = await service.execute(queries.get_wallet, queries.GetWallet(tenant_id), caller)
    page_request = PageRequest(page_number(request), PAGE_SIZE)
    try:
        chosen = None if status == ALL else queries.parse_choice(AdjustmentStatus, status, "status")
        query = ListAdjustments(tenant_id, chosen, page_request)
        adjustments: Page[Adjustment] = await service.execute(list_adjustments, query, caller)
    except ValidationError as error:  # a bad filter: say so beside it, list nothing
        adjustments = Page((), page_request.page, page_request.page_size, 0)
        problem = FormProblem.of(error, "filters", known=("status",))
    typed = problem is not None and problem.target == PROPOSE
    return render(
        "adjustments.html",
        console,
        caller,
        status=problem.status if problem else 200,
        active="wallets",
        wallet=wallet,
        four_eyes=service.runtime.settings.four_eyes,
        filter_status=status,
        statuses=STATUSES,
        adjustments=adjustments,
        adjustments_pager=Pager.of(adjustments, keep={"status": status}),
        # A fresh reference for a new form; the typed one again for a refused form, so that sending it once more
        # is still the same adjustment.
        reference_id=problem.values.get("reference_id", "") if problem and typed else str(uuid.uuid4()),
        notice=notice,
        problem=problem,
    )


def page_again(
    request: Request[Any, Any, Any], service: BillingService, console: ConsoleConfig, caller: Caller
) -> Again:
    """The tenant's adjustments again (its id and the status filter are the form's hidden fields), with the
    refused action's problem."""
    return lambda form, problem: adjustments_page(
        request, service, console, caller, text(form, "tenant_id"), chosen_status(form), problem=problem
    )


def back_to_list(adjustment: Adjustment, form: FormMultiDict, done: str) -> Redirect:
    return see_other(f"/console/wallets/{adjustment.tenant_id}/adjustments", status=chosen_status(form), done=done)


def proposed(form: FormMultiDict, result: AdjustmentResult) -> Redirect:
    if not result.created:
        done = "repeated"
    else:
        done = "applied" if result.adjustment.status is AdjustmentStatus.APPLIED else "proposed"
    return back_to_list(result.adjustment, form, done)


class AdjustmentsPage(Controller):
    path = "/"
    opt = operators_only(FOR_OPERATORS)

    @get("/wallets/{tenant_id:str}/adjustments", name="console-adjustments")
    async def show(
        self,
        request: Request[Any, Any, Any],
        tenant_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        notice = NOTICES.get(request.query_params.get("done", ""))
        status = chosen_status(request.query_params)
        return await adjustments_page(request, service, console, caller, tenant_id, status, notice=notice)

    @post("/wallets/{tenant_id:str}/adjustments", status_code=303)
    async def propose(
        self,
        request: Request[Any, Any, Any],
        tenant_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        """`POST /wallets/{tenant_id}/adjustments`'s use case: applied at once, or proposed under four eyes."""
        currency = service.runtime.settings.currency

        def command(form: FormMultiDict) -> AdjustWallet:
            amount = inputs.money(text(form, "amount").strip(), currency, allow_negative=True, scale=Scale.MESSAGE)
            return AdjustWallet(tenant_id, amount, text(form, "reason"), text(form, "reference_id").strip())

        async def again(form: FormMultiDict, problem: FormProblem) -> Response[Any]:
            return await adjustments_page(
                request, service, console, caller, tenant_id, chosen_status(form), problem=problem
            )

        return await form_action(
            request,
            service,
            caller,
            adjust_wallet,
            command,
            refused=Refused(PROPOSE, again, known=PROPOSE_FIELDS),
            done=proposed,
        )

    @post("/adjustments/{adjustment_id:str}/approve", status_code=303)
    async def approve(
        self,
        request: Request[Any, Any, Any],
        adjustment_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        """Another operator than its proposer applies it (under four eyes); funds are checked now."""
        adjustment = parse_id(adjustment_id, "adjustment")
        return await form_action(
            request,
            service,
            caller,
            approve_adjustment,
            lambda _: ApproveAdjustment(adjustment),
            refused=Refused(str(adjustment), page_again(request, service, console, caller)),
            done=lambda form, approved: back_to_list(approved, form, "applied"),
        )

    @post("/adjustments/{adjustment_id:str}/reject", status_code=303)
    async def reject(
        self,
        request: Request[Any, Any, Any],
        adjustment_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        adjustment = parse_id(adjustment_id, "adjustment")
        return await form_action(
            request,
            service,
            caller,
            reject_adjustment,
            lambda form: RejectAdjustment(adjustment, text(form, "reason")),
            refused=Refused(str(adjustment), page_again(request, service, console, caller), known=("reason",)),
            done=lambda form, rejected: back_to_list(rejected, form, "rejected"),
        )
