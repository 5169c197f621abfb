"""Meta's status webhook in the console (contract v2 §11): the operators' log of every status received and what became
of it (newest first, filtered by outcome and tenant), and the mapping of Meta's business phone numbers to tenants.

Seeing either page needs the root tenant with Billing.View; mapping and unmapping a number need Billing.Manage too
(the use cases check that themselves, exactly as for `POST /whatsapp-numbers` and `DELETE /whatsapp-numbers/{id}`).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import attrs
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from billing.application import queries
from billing.application.caller import Caller
from billing.application.handlers.whatsapp import (
    ListNumbers,
    ListWebhookEvents,
    MapNumber,
    UnmapNumber,
    list_numbers,
    list_webhook_events,
    map_number,
    unmap_number,
)
from billing.application.pagination import Page, PageRequest
from billing.application.ports import WebhookEventFilter
from billing.application.service import BillingService
from billing.domain.errors import ValidationError
from billing.domain.webhook_events import Outcome, WebhookEvent, WhatsAppNumber
from billing.entrypoints.console.forms import Again, Refused, form_action, see_other, typed
from billing.entrypoints.console.views import (
    ConsoleConfig,
    FormProblem,
    Pager,
    operators_only,
    page_number,
    render,
    text,
)

PAGE_SIZE = 20
ALL = "all"
OUTCOMES = (ALL, *(outcome.value for outcome in Outcome))
EVENT_FILTERS = ("outcome", "tenant_id")
NUMBERS_PATH = "/console/whatsapp-numbers"
MAP = "map"  # the mapping form's name, for the messages beside its fields
MAP_FIELDS = ("phone_number_id", "tenant_id")
NOTICES = {
    "mapped": "The number is mapped: Meta's statuses from it settle, void and charge that tenant's messages.",
    "unchanged": "The number was already mapped to that tenant; nothing changed.",
    "unmapped": "The number is unmapped: its statuses are recorded unmatched (unknown_number) from now on.",
}


FOR_OPERATORS = (
    "the WhatsApp webhook's events and numbers are for operators of the platform (the root tenant with Billing.View)"
)


# The webhook's events -----------------------------------------------------------------------------------------------


@attrs.frozen
class EventFilters:
    """The events page's filters, from its query string (an empty tenant: every tenant's, and unknown numbers')."""

    outcome: str = ALL
    tenant_id: str = ""

    @classmethod
    def of(cls, values: Any) -> EventFilters:
        return cls(outcome=typed(values, "outcome", ALL), tenant_id=typed(values, "tenant_id"))

    def query(self) -> dict[str, str]:
        return {"outcome": self.outcome, **({"tenant_id": self.tenant_id} if self.tenant_id else {})}


async def webhook_events_page(
    request: Request[Any, Any, Any], service: BillingService, console: ConsoleConfig, caller: Caller
) -> Response[Any]:
    filters = EventFilters.of(request.query_params)
    page = page_number(request)
    problem: FormProblem | None = None
    try:
        outcome = queries.parse_choice(Outcome, None if filters.outcome == ALL else filters.outcome, "outcome")
        query = ListWebhookEvents(WebhookEventFilter(outcome, filters.tenant_id or None), PageRequest(page, PAGE_SIZE))
        events: Page[WebhookEvent] = await service.execute(list_webhook_events, query, caller)
    except ValidationError as error:  # a bad filter: say so beside it, list nothing
        events = Page((), page, PAGE_SIZE, 0)
        problem = FormProblem.of(error, "filters", known=EVENT_FILTERS)
    return render(
        "webhook_events.html",
        console,
        caller,
        status=problem.status if problem else 200,
        active="webhook-events",
        filters=filters,
        outcomes=OUTCOMES,
        events=events,
        events_pager=Pager.of(events, keep=filters.query()),
        problem=problem,
    )


class WebhookEventsPage(Controller):
    path = "/webhook-events"
    opt = operators_only(FOR_OPERATORS)

    @get("/", name="console-webhook-events")
    async def show(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        return await webhook_events_page(request, service, console, caller)


# The numbers and their tenants --------------------------------------------------------------------------------------


async def numbers_page(
    request: Request[Any, Any, Any],
    service: BillingService,
    console: ConsoleConfig,
    caller: Caller,
    tenant_id: str,
    *,
    notice: str | None = None,
    problem: FormProblem | None = None,
) -> Response[Any]:
    """The mapped numbers, newest first, of one tenant (`tenant_id`) or all ('')."""
    page = page_number(request)
    try:
        query = ListNumbers(tenant_id or None, PageRequest(page, PAGE_SIZE))
        numbers: Page[WhatsAppNumber] = await service.execute(list_numbers, query, caller)
    except ValidationError as error:  # a bad filter: say so beside it, list nothing
        numbers = Page((), page, PAGE_SIZE, 0)
        problem = problem or FormProblem.of(error, "filters", known=("tenant_id",))
    return render(
        "whatsapp_numbers.html",
        console,
        caller,
        status=problem.status if problem else 200,
        active="whatsapp-numbers",
        tenant_id=tenant_id,
        numbers=numbers,
        numbers_pager=Pager.of(numbers, keep={"tenant_id": tenant_id} if tenant_id else {}),
        notice=notice,
        problem=problem,
    )


def numbers_again(
    request: Request[Any, Any, Any], service: BillingService, console: ConsoleConfig, caller: Caller, *, kept: bool
) -> Again:
    """The list again: filtered as the form's hidden `tenant_id` kept it (`kept`), or every tenant's."""

    def again(form: FormMultiDict, problem: FormProblem) -> Awaitable[Response[Any]]:
        tenant_id = typed(form, "tenant_id") if kept else ""
        return numbers_page(request, service, console, caller, tenant_id, problem=problem)

    return again


def back_to_numbers(tenant_id: str, done: str) -> Redirect:
    return see_other(NUMBERS_PATH, **({"tenant_id": tenant_id} if tenant_id else {}), done=done)


class WhatsAppNumbersPage(Controller):
    path = "/whatsapp-numbers"
    opt = operators_only(FOR_OPERATORS)

    @get("/", name="console-whatsapp-numbers")
    async def show(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        notice = NOTICES.get(request.query_params.get("done", ""))
        tenant_id = typed(request.query_params, "tenant_id")
        return await numbers_page(request, service, console, caller, tenant_id, notice=notice)

    @post("/", status_code=303)
    async def map_number(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        """Map a number to a tenant, as `POST /whatsapp-numbers` does: the same mapping again changes nothing, a
        number another tenant has is refused (`duplicate`, 409: unmap it first)."""
        return await form_action(
            request,
            service,
            caller,
            map_number,
            lambda form: MapNumber(*(text(form, name).strip() for name in MAP_FIELDS)),
            refused=Refused(MAP, numbers_again(request, service, console, caller, kept=False), known=MAP_FIELDS),
            done=lambda _, mapping: back_to_numbers("", "mapped" if mapping.created else "unchanged"),
        )

    @post("/{phone_number_id:str}/unmap", status_code=303)
    async def unmap_number(
        self,
        request: Request[Any, Any, Any],
        phone_number_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        """Unmap a number, as `DELETE /whatsapp-numbers/{phone_number_id}` does; back to the list as it was filtered."""
        return await form_action(
            request,
            service,
            caller,
            unmap_number,
            lambda _: UnmapNumber(phone_number_id),
            refused=Refused(phone_number_id, numbers_again(request, service, console, caller, kept=True)),
            done=lambda form, _: back_to_numbers(typed(form, "tenant_id"), "unmapped"),
        )
