"""The caller's own wallet: `GET /wallet/me`, `GET /wallet/me/transactions`, `GET /wallet/me/holds`."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from billing.application import queries
from billing.application.caller import Caller
from billing.application.handlers import holds
from billing.application.handlers.holds import ListHolds
from billing.application.pagination import PageRequest
from billing.application.service import BillingService
from billing.domain.hold import HoldStatus
from billing.domain.pricing import Category
from billing.entrypoints.http.controllers.holds import HoldPage, hold_filter
from billing.entrypoints.http.controllers.params import sees_costs
from billing.entrypoints.http.problems import problem_responses
from billing.entrypoints.http.schemas import TransactionOut, TransactionPage, WalletOut


class WalletController(Controller):
    path = "/wallet/me"
    tags = ["wallet"]

    @get("/", operation_id="get_my_wallet", responses=problem_responses("forbidden"))
    async def get_my_wallet(
        self, service: NamedDependency[BillingService], caller: NamedDependency[Caller]
    ) -> WalletOut:
        """The caller's wallet and balance (opened on first use)."""
        wallet = await service.execute(queries.get_wallet, queries.GetWallet(), caller)
        return WalletOut.of(wallet)

    @get("/transactions", operation_id="list_my_transactions", responses=problem_responses("forbidden"))
    async def list_my_transactions(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        page_request: NamedDependency[PageRequest],
    ) -> TransactionPage:
        """The caller's ledger, newest first."""
        page = await service.execute(queries.list_transactions, queries.ListTransactions(page=page_request), caller)
        costs = sees_costs(service, caller)
        items = [TransactionOut.of(e, costs=costs) for e in page.items]
        return TransactionPage(items=items, page=page.page, page_size=page.page_size, total=page.total)

    @get("/holds", operation_id="list_my_holds", responses=problem_responses("forbidden"))
    async def list_my_holds(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        page_request: NamedDependency[PageRequest],
        status: FromQuery[HoldStatus | None] = None,
        category: FromQuery[Category | None] = None,
        message_id: FromQuery[str | None] = None,
    ) -> HoldPage:
        """The caller's own holds, newest first."""
        query = ListHolds(None, hold_filter(status, category, message_id), page_request)
        return HoldPage.of(await service.execute(holds.list_holds, query, caller), costs=sees_costs(service, caller))
