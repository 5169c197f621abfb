"""Rate cards in the console: the operators' list, a page per card, and the upload of a JSON or CSV card file.

Seeing the cards needs the root tenant with Billing.View; uploading needs Billing.Manage too (the use case checks
that itself, exactly as for `POST /rate-cards`, which the upload goes through).
"""

from __future__ import annotations

from typing import Any

import attrs
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath

from billing.application.caller import Caller
from billing.application.handlers.rate_cards import (
    CreateRateCard,
    GetRateCard,
    ListRateCards,
    create_rate_card,
    get_rate_card,
    list_rate_cards,
)
from billing.application.pagination import PageRequest
from billing.application.service import BillingService
from billing.domain.errors import BillingError, ValidationError
from billing.domain.pricing import Category
from billing.entrypoints.console.forms import Refusal, form_action, see_other
from billing.entrypoints.console.prices import CATEGORY_LABELS, PriceTable
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
from billing.entrypoints.rate_card_files import CSV_LAYOUT, CardFile, CardOptions, read_card

PAGE_SIZE = 20
MAX_UPLOAD_BYTES = 1024 * 1024  # a card file; the JSON API keeps its 64 KiB
UPLOAD = "upload"  # the form's name, for the messages beside its fields
UPLOAD_FIELDS = ("name", "effective_from", "tenant_id")
FREE_FIELD = "free_in_service_window"
CREATED = "The rate card was added. It prices messages from its effective date on."


# The operators' pages ---------------------------------------------------------------------------------------------


FOR_OPERATORS = (
    "rate cards are for operators of the platform (the root tenant with Billing.View); "
    "your wallet page shows the prices in force for you"
)


@attrs.frozen
class UploadForm:
    """What the upload form held, to show it again with its problems."""

    name: str = ""
    effective_from: str = ""
    tenant_id: str = ""
    free_in_service_window: tuple[str, ...] = ()

    @classmethod
    def of(cls, form: FormMultiDict) -> UploadForm:
        free = tuple(value for value in form.getall(FREE_FIELD, []) if isinstance(value, str))
        return cls(text(form, "name"), text(form, "effective_from"), text(form, "tenant_id"), free)

    def options(self) -> CardOptions:
        return CardOptions(
            name=self.name.strip() or None,
            effective_from=self.effective_from.strip() or None,
            tenant_id=self.tenant_id.strip() or None,
            free_in_service_window=",".join(self.free_in_service_window) or None,
        )


async def rate_cards_page(
    request: Request[Any, Any, Any],
    service: BillingService,
    console: ConsoleConfig,
    caller: Caller,
    *,
    upload: UploadForm | None = None,
    problem: FormProblem | None = None,
    problems: tuple[str, ...] = (),
) -> Response[Any]:
    query = ListRateCards(None, PageRequest(page_number(request), PAGE_SIZE))
    cards = await service.execute(list_rate_cards, query, caller)
    return render(
        "rate_cards.html",
        console,
        caller,
        status=problem.status if problem else 200,
        active="rate-cards",
        cards=cards,
        cards_pager=Pager.of(cards),
        now=service.runtime.clock.now(),
        upload=upload or UploadForm(),
        categories=[(category.value, CATEGORY_LABELS[category]) for category in Category],
        csv_layout=CSV_LAYOUT,
        problem=problem,
        problems=problems,
    )


@attrs.define
class CardUpload:
    """The upload's file, and the card read from it once the form is acted on: what names each problem's line."""

    filename: str = ""
    content: bytes = b""
    card_file: CardFile | None = None

    @classmethod
    async def of(cls, form: FormMultiDict) -> CardUpload:
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            return cls()
        return cls(file.filename, await file.read())

    def command(self, form: FormMultiDict, console: ConsoleConfig) -> CreateRateCard:
        if not self.filename:
            raise ValidationError.of("file", "choose a .json or .csv file")
        options = UploadForm.of(form).options()
        self.card_file = read_card(self.filename, self.content, options, default_currency=console.billing.currency)
        return self.card_file.command

    def problems(self, error: BillingError) -> tuple[str, ...]:
        """Every problem of the card, with its line in the file when it came from one."""
        listed = error.errors if isinstance(error, ValidationError) else ()
        card_file = self.card_file
        return tuple(card_file.describe(e) if card_file else f"{e.field}: {e.message}" for e in listed)


def upload_again(
    request: Request[Any, Any, Any], service: BillingService, console: ConsoleConfig, caller: Caller, upload: CardUpload
) -> Refusal:
    """The list again with the form as it was typed: beside a field only what was typed into it, every problem of
    the card in the list beside the form."""

    async def again(form: FormMultiDict, error: BillingError) -> Response[Any]:
        typed = tuple(name for name in UPLOAD_FIELDS if text(form, name).strip())
        problem = FormProblem.of(error, UPLOAD, form, known=typed)
        problems = upload.problems(error)
        return await rate_cards_page(
            request, service, console, caller, upload=UploadForm.of(form), problem=problem, problems=problems
        )

    return again


class RateCardsPage(Controller):
    path = "/rate-cards"
    opt = operators_only(FOR_OPERATORS)

    @get("/", name="console-rate-cards")
    async def show(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        return await rate_cards_page(request, service, console, caller)

    @post("/", status_code=303, request_max_body_size=MAX_UPLOAD_BYTES)
    async def upload(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        upload = await CardUpload.of(await request.form())
        return await form_action(
            request,
            service,
            caller,
            create_rate_card,
            lambda form: upload.command(form, console),
            refused=upload_again(request, service, console, caller, upload),
            done=lambda _, card: see_other(f"/console/rate-cards/{card.id}", done="created"),
        )

    @get("/{card_id:str}", name="console-rate-card")
    async def card(
        self,
        request: Request[Any, Any, Any],
        card_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        card = await service.execute(get_rate_card, GetRateCard(parse_id(card_id, "rate card")), caller)
        return render(
            "rate_card.html",
            console,
            caller,
            active="rate-cards",
            card=card,
            table=PriceTable.of(card),
            scheduled=card.effective_from > service.runtime.clock.now(),
            notice=CREATED if request.query_params.get("done") == "created" else None,
        )
