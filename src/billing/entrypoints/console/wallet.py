"""The clinic's wallet page: balance, held, available and status, the runway and the latest low-balance alerts
(with a link to the settings), recent ledger, top-up requests (ask, cancel), links to invoices and holds, the
statement download, and the prices of the rate card in force.

The platform's own tenant is not a clinic: nobody tops it up, so its operators are sent to the clients' wallets."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Stream

from billing.application import inputs, queries
from billing.application.caller import Caller
from billing.application.handlers.alerts import ListAlerts, list_alerts
from billing.application.handlers.topups import CancelTopup, RequestTopup, cancel_topup, request_topup
from billing.application.pagination import PageRequest
from billing.application.service import BillingService
from billing.domain.errors import BillingError
from billing.entrypoints.console.forms import Again, Refused, form_action, see_other
from billing.entrypoints.console.prices import PriceTable, card_in_force
from billing.entrypoints.console.statements import STATEMENT, StatementForm, statement_download
from billing.entrypoints.console.views import (
    ConsoleConfig,
    FormProblem,
    Pager,
    optional,
    page_number,
    parse_id,
    render,
    text,
)

LEDGER_PAGE_SIZE = 10
REQUESTS_PAGE_SIZE = 10
ALERTS_SHOWN = 5  # the latest; the API's `/wallet/me/alerts` pages through them all
TOPUP_FIELDS = ("amount", "note")
OPERATORS_WALLETS = "/console/wallets"
NOTICES = {
    "requested": "Your top-up request was sent. An operator will review it and email you the invoice.",
    "cancelled": "The top-up request was cancelled.",
}


async def wallet_page(
    request: Request[Any, Any, Any],
    service: BillingService,
    caller: Caller,
    console: ConsoleConfig,
    *,
    notice: str | None = None,
    problem: FormProblem | None = None,
    statement: StatementForm | None = None,
) -> Response[Any]:
    ledger_page = PageRequest(page_number(request), LEDGER_PAGE_SIZE)
    requests_page = PageRequest(page_number(request, "requests_page"), REQUESTS_PAGE_SIZE)
    wallet = await service.execute(queries.get_wallet, queries.GetWallet(), caller)
    ledger = await service.execute(queries.list_transactions, queries.ListTransactions(None, ledger_page), caller)
    own = queries.ListTopupRequests(caller.tenant_id, None, requests_page)
    requests = await service.execute(queries.list_topup_requests, own, caller)
    alerts = await service.execute(list_alerts, ListAlerts(None, PageRequest(1, ALERTS_SHOWN)), caller)
    prices = await card_in_force(service, caller)
    threshold = console.low_balance_threshold
    return render(
        "wallet.html",
        console,
        caller,
        status=problem.status if problem else 200,
        active="wallet",
        wallet=wallet,
        low_balance=threshold > 0 and wallet.available.amount < threshold,
        threshold=threshold,
        alerts=alerts,
        ledger=ledger,
        ledger_pager=Pager.of(ledger, "page", {"requests_page": str(requests.page)}),
        requests=requests,
        requests_pager=Pager.of(requests, "requests_page", {"page": str(ledger.page)}),
        limits=console.billing,
        prices=None if prices is None else PriceTable.of(prices),
        statement=statement or StatementForm.this_month(service),
        notice=notice,
        problem=problem,
    )


def wallet_again(
    request: Request[Any, Any, Any], service: BillingService, caller: Caller, console: ConsoleConfig
) -> Again:
    return lambda _, problem: wallet_page(request, service, caller, console, problem=problem)


class WalletPage(Controller):
    path = "/wallet"

    @get("/", name="console-wallet")
    async def show(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        if console.authorizer.is_root(caller):
            return Redirect(OPERATORS_WALLETS, status_code=303)
        notice = NOTICES.get(request.query_params.get("done", ""))
        return await wallet_page(request, service, caller, console, notice=notice)

    @post("/topup-requests", status_code=303)
    async def request_topup(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        currency = service.runtime.settings.currency
        return await form_action(
            request,
            service,
            caller,
            request_topup,
            lambda form: RequestTopup(inputs.money(text(form, "amount"), currency), optional(text(form, "note"))),
            refused=Refused("topup", wallet_again(request, service, caller, console), known=TOPUP_FIELDS),
            done=lambda _, __: see_other("/console/wallet", done="requested"),
        )

    @post("/topup-requests/{request_id:str}/cancel", status_code=303)
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        request_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        return await form_action(
            request,
            service,
            caller,
            cancel_topup,
            lambda _: CancelTopup(parse_id(request_id, "top-up request")),
            refused=Refused(request_id, wallet_again(request, service, caller, console)),
            done=lambda _, __: see_other("/console/wallet", done="cancelled"),
        )

    @get("/statement.csv", name="console-statement")
    async def statement(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any] | Stream:
        """The own wallet's statement, as `GET /wallet/me/statement.csv` serves it; a bad period is a message."""
        form = StatementForm.of(request.query_params)
        try:
            return await statement_download(service, caller, form)
        except BillingError as error:
            problem = FormProblem.of(error, STATEMENT, known=("from", "to"))
            return await wallet_page(request, service, caller, console, problem=problem, statement=form)
