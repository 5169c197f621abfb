"""A wallet's holds (contract v2 §9): the clinic's own, or a tenant's for operators (`?tenant_id=`), newest first,
filtered by status and category, with what each message was held for, charged, and could not be covered.

Reading a tenant's holds needs the root tenant with Billing.View, exactly as `GET /wallets/{tenant_id}/holds`."""

from __future__ import annotations

from typing import Any

import attrs
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency

from billing.application import queries
from billing.application.caller import Caller
from billing.application.handlers.holds import ListHolds, list_holds
from billing.application.pagination import Page, PageRequest
from billing.application.ports import HoldFilter
from billing.application.service import BillingService
from billing.domain.errors import ValidationError
from billing.domain.hold import Hold, HoldStatus
from billing.domain.pricing import Category
from billing.entrypoints.console.forms import typed
from billing.entrypoints.console.prices import CATEGORY_LABELS
from billing.entrypoints.console.views import ConsoleConfig, FormProblem, Pager, page_number, render

PAGE_SIZE = 20
ALL = "all"
STATUSES = (ALL, *(status.value for status in HoldStatus))
FILTER_FIELDS = ("tenant_id", "status", "category")


@attrs.frozen
class HoldFilters:
    """The page's filters, from its query string; `tenant_id` only for operators (empty: the caller's own)."""

    tenant_id: str = ""
    status: str = ALL
    category: str = ALL

    @classmethod
    def of(cls, values: Any) -> HoldFilters:
        return cls(
            tenant_id=typed(values, "tenant_id"),
            status=typed(values, "status", ALL),
            category=typed(values, "category", ALL),
        )

    def query(self) -> dict[str, str]:
        chosen = {"status": self.status, "category": self.category}
        return {**({"tenant_id": self.tenant_id} if self.tenant_id else {}), **chosen}

    def parsed(self) -> HoldFilter:
        """ValidationError naming the field when a status or category is not one of the contract's."""
        status = None if self.status == ALL else queries.parse_choice(HoldStatus, self.status, "status")
        category = None if self.category == ALL else queries.parse_choice(Category, self.category, "category")
        return HoldFilter(status, category)


async def holds_page(
    request: Request[Any, Any, Any], service: BillingService, console: ConsoleConfig, caller: Caller
) -> Response[Any]:
    filters = HoldFilters.of(request.query_params)
    page_request = PageRequest(page_number(request), PAGE_SIZE)
    problem: FormProblem | None = None
    try:
        query = ListHolds(filters.tenant_id or None, filters.parsed(), page_request)
        holds: Page[Hold] = await service.execute(list_holds, query, caller)
    except ValidationError as error:  # a bad filter: say so beside it, list nothing
        holds = Page((), page_request.page, page_request.page_size, 0)
        problem = FormProblem.of(error, "filters", known=FILTER_FIELDS)
    return render(
        "holds.html",
        console,
        caller,
        status=problem.status if problem else 200,
        active="holds",
        filters=filters,
        tenant_id=filters.tenant_id or caller.tenant_id,
        statuses=STATUSES,
        categories=[(ALL, "All"), *((category.value, CATEGORY_LABELS[category]) for category in Category)],
        holds=holds,
        holds_pager=Pager.of(holds, keep=filters.query()),
        problem=problem,
    )


class HoldsPage(Controller):
    path = "/holds"

    @get("/", name="console-holds")
    async def show(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        return await holds_page(request, service, console, caller)
