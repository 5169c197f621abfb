"""The operators' view of a tenant's wallet: balance, held, available and status, the runway and the latest
low-balance alerts (with a link to the tenant's settings), recent activity, its holds and statement, and the freeze
(with a reason) and unfreeze of contract v2 §10.

Seeing it needs the root tenant with Billing.View; freezing needs Billing.Manage too (the use case checks that
itself, exactly as for `POST /wallets/{tenant_id}/freeze`)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Stream

from billing.application import queries
from billing.application.caller import Caller
from billing.application.handlers.alerts import ListAlerts, list_alerts
from billing.application.handlers.wallets import FreezeWallet, UnfreezeWallet, freeze_wallet, unfreeze_wallet
from billing.application.pagination import PageRequest
from billing.application.service import BillingService
from billing.domain.errors import BillingError, ValidationError
from billing.domain.tenant import validate_tenant_id
from billing.entrypoints.console.forms import Again, Refused, form_action, see_other
from billing.entrypoints.console.statements import STATEMENT, StatementForm, statement_download
from billing.entrypoints.console.views import (
    TENANT_WALLETS_FOR_OPERATORS,
    ConsoleConfig,
    FormProblem,
    Pager,
    operators_only,
    page_number,
    render,
    text,
)

LEDGER_PAGE_SIZE = 10
ALERTS_SHOWN = 5
FREEZE = "freeze"  # the freeze form's name, for the messages beside its field
UNFREEZE = "unfreeze"
NOTICES = {
    "frozen": "The wallet is frozen: it takes no new holds or direct charges. Top-ups, settles and voids go on.",
    "unfrozen": "The wallet is active again.",
}


async def tenant_wallet_page(
    request: Request[Any, Any, Any],
    service: BillingService,
    console: ConsoleConfig,
    caller: Caller,
    tenant_id: str,
    *,
    notice: str | None = None,
    problem: FormProblem | None = None,
    statement: StatementForm | None = None,
) -> Response[Any]:
    wallet = await service.execute(queries.get_wallet, queries.GetWallet(tenant_id), caller)
    ledger_page = PageRequest(page_number(request), LEDGER_PAGE_SIZE)
    ledger = await service.execute(queries.list_transactions, queries.ListTransactions(tenant_id, ledger_page), caller)
    alerts = await service.execute(list_alerts, ListAlerts(tenant_id, PageRequest(1, ALERTS_SHOWN)), caller)
    return render(
        "tenant_wallet.html",
        console,
        caller,
        status=problem.status if problem else 200,
        active="wallets",
        wallet=wallet,
        alerts=alerts,
        ledger=ledger,
        ledger_pager=Pager.of(ledger),
        statement=statement or StatementForm.this_month(service),
        notice=notice,
        problem=problem,
    )


def tenant_wallet_again(
    request: Request[Any, Any, Any], service: BillingService, console: ConsoleConfig, caller: Caller, tenant_id: str
) -> Again:
    return lambda _, problem: tenant_wallet_page(request, service, console, caller, tenant_id, problem=problem)


class TenantWalletsPage(Controller):
    path = "/wallets"
    opt = operators_only(TENANT_WALLETS_FOR_OPERATORS)

    @get("/", name="console-wallets")
    async def find(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        """A tenant's wallet by its id (the lookup form), or the form alone."""
        tenant_id = (request.query_params.get("tenant_id") or "").strip()
        if not tenant_id:
            return render("wallets.html", console, caller, active="wallets", tenant_id="", problem=None)
        try:
            validate_tenant_id(tenant_id)
        except ValidationError as error:
            problem = FormProblem.of(error, "find", known=("tenant_id",))
            return render(
                "wallets.html", console, caller, status=400, active="wallets", tenant_id=tenant_id, problem=problem
            )
        return Redirect(f"/console/wallets/{tenant_id}", status_code=303)

    @get("/{tenant_id:str}", name="console-tenant-wallet")
    async def show(
        self,
        request: Request[Any, Any, Any],
        tenant_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        notice = NOTICES.get(request.query_params.get("done", ""))
        return await tenant_wallet_page(request, service, console, caller, tenant_id, notice=notice)

    @post("/{tenant_id:str}/freeze", status_code=303)
    async def freeze(
        self,
        request: Request[Any, Any, Any],
        tenant_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        return await form_action(
            request,
            service,
            caller,
            freeze_wallet,
            lambda form: FreezeWallet(tenant_id, text(form, "reason")),
            refused=Refused(
                FREEZE, tenant_wallet_again(request, service, console, caller, tenant_id), known=("reason",)
            ),
            done=lambda _, __: see_other(f"/console/wallets/{tenant_id}", done="frozen"),
        )

    @post("/{tenant_id:str}/unfreeze", status_code=303)
    async def unfreeze(
        self,
        request: Request[Any, Any, Any],
        tenant_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        return await form_action(
            request,
            service,
            caller,
            unfreeze_wallet,
            lambda _: UnfreezeWallet(tenant_id),
            refused=Refused(UNFREEZE, tenant_wallet_again(request, service, console, caller, tenant_id)),
            done=lambda _, __: see_other(f"/console/wallets/{tenant_id}", done="unfrozen"),
        )

    @get("/{tenant_id:str}/statement.csv", name="console-tenant-statement")
    async def statement(
        self,
        request: Request[Any, Any, Any],
        tenant_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any] | Stream:
        """The tenant's statement, as `GET /wallets/{tenant_id}/statement.csv` serves it."""
        form = StatementForm.of(request.query_params)
        try:
            return await statement_download(service, caller, form, tenant_id)
        except BillingError as error:
            problem = FormProblem.of(error, STATEMENT, known=("from", "to"))
            return await tenant_wallet_page(
                request, service, console, caller, tenant_id, problem=problem, statement=form
            )
