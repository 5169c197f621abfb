"""Rate cards and quotes (contract v2 §8): operators add cards; anyone with View quotes messages.

The request and response structs live beside their routes."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from billing.application.caller import Caller
from billing.application.handlers import quotes, rate_cards
from billing.application.handlers.quotes import QuoteMessages, QuoteSet
from billing.application.handlers.rate_cards import GetCurrentRateCard, GetRateCard, ListRateCards
from billing.application.pagination import PageRequest
from billing.application.service import BillingService
from billing.domain.pricing import Quote, RateCard, parse_category, parse_window
from billing.entrypoints.http.body import JsonBody
from billing.entrypoints.http.controllers.params import parse_id, rendered
from billing.entrypoints.http.idempotency import Idempotency
from billing.entrypoints.http.problems import problem_responses
from billing.entrypoints.json_body import Body
from billing.entrypoints.rate_card_files import RateCardCreate


class RateOut(msgspec.Struct, kw_only=True):
    market: str
    category: str
    unit_price: str
    tier_from: int


class RateCardOut(msgspec.Struct, kw_only=True):
    id: UUID
    name: str
    currency: str
    effective_from: datetime
    tenant_id: str | None
    free_in_service_window: list[str]
    markets: dict[str, str]
    rates: list[RateOut]
    created_by: str
    created_at: datetime
    kind: str  # "price" or "cost" (contract v3 §15)

    @classmethod
    def of(cls, card: RateCard) -> RateCardOut:
        return cls(
            id=card.id,
            name=card.name,
            currency=card.currency,
            effective_from=card.effective_from,
            tenant_id=card.tenant_id,
            free_in_service_window=sorted(category.value for category in card.free_in_service_window),
            markets=dict(sorted(card.markets.items())),
            rates=[
                RateOut(market=r.market, category=r.category.value, unit_price=str(r.unit_price), tier_from=r.tier_from)
                for r in card.rates
            ],
            created_by=card.created_by,
            created_at=card.created_at,
            kind=card.kind.value,
        )


class RateCardPage(msgspec.Struct, kw_only=True):
    items: list[RateCardOut]
    page: int
    page_size: int
    total: int


class QuoteCreate(Body):
    category: str
    recipients: list[str]
    window: str | None = None
    tenant_id: str | None = None
    phone_number_id: str | None = None  # the business number that would send them (v3 §16)


class QuoteOut(msgspec.Struct, kw_only=True):
    recipient: str
    country: str
    market: str
    category: str
    tier: int
    rate_card_id: UUID
    unit_price: str
    amount: str
    free_reason: str | None

    @classmethod
    def of(cls, item: Quote) -> QuoteOut:
        return cls(
            recipient=item.recipient,
            country=item.country,
            market=item.market,
            category=item.category.value,
            tier=item.tier,
            rate_card_id=item.rate_card_id,
            unit_price=str(item.unit_price),
            amount=str(item.amount),
            free_reason=None if item.free_reason is None else item.free_reason.value,
        )


class QuoteSetOut(msgspec.Struct, kw_only=True):
    tenant_id: str
    currency: str
    rate_card_id: UUID
    items: list[QuoteOut]
    total: str
    available: str
    sufficient: bool
    phone_number_id: str | None  # as asked (v3 §16)

    @classmethod
    def of(cls, quoted: QuoteSet) -> QuoteSetOut:
        return cls(
            tenant_id=quoted.tenant_id,
            currency=quoted.currency,
            rate_card_id=quoted.rate_card_id,
            items=[QuoteOut.of(item) for item in quoted.items],
            total=str(quoted.total),
            available=str(quoted.available),
            sufficient=quoted.sufficient,
            phone_number_id=quoted.phone_number_id,
        )


class RateCardController(Controller):
    path = "/rate-cards"
    tags = ["rate cards"]

    @post(
        "/",
        operation_id="create_rate_card",
        status_code=201,
        dto=JsonBody[RateCardCreate],
        return_dto=None,
        responses=problem_responses("forbidden", write=True),
    )
    async def create_rate_card(
        self, data: JSONBody[RateCardCreate], caller: NamedDependency[Caller], idempotency: NamedDependency[Idempotency]
    ) -> Response[RateCardOut]:
        """Add a rate card (immutable): the default card (no `tenant_id`) or one clinic's own prices."""
        return await idempotency.run(rate_cards.create_rate_card, data.command(), caller, rendered(201, RateCardOut.of))

    @get("/", operation_id="list_rate_cards", responses=problem_responses("forbidden"))
    async def list_rate_cards(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        page_request: NamedDependency[PageRequest],
        tenant_id: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
    ) -> RateCardPage:
        """Rate cards of `kind` (`price`, the default, or `cost`), latest `effective_from` first: one tenant's
        (`?tenant_id=`), or every card."""
        query = ListRateCards(tenant_id, page_request, kind)
        page = await service.execute(rate_cards.list_rate_cards, query, caller)
        return RateCardPage(
            items=[RateCardOut.of(c) for c in page.items], page=page.page, page_size=page.page_size, total=page.total
        )

    @get("/current", operation_id="get_current_rate_card", responses=problem_responses("forbidden", "not_found"))
    async def get_current_rate_card(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        tenant_id: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
    ) -> RateCardOut:
        """The card pricing the tenant's messages now (`?tenant_id=` for the root tenant), or with `kind=cost` the
        cost card in force (root + View); 404 when none."""
        query = GetCurrentRateCard(tenant_id, kind)
        card = await service.execute(rate_cards.get_current_rate_card, query, caller)
        return RateCardOut.of(card)

    @get("/{card_id:str}", operation_id="get_rate_card", responses=problem_responses("forbidden", "not_found"))
    async def get_rate_card(
        self, service: NamedDependency[BillingService], caller: NamedDependency[Caller], card_id: FromPath[str]
    ) -> RateCardOut:
        """One rate card (root + View)."""
        query = GetRateCard(parse_id(card_id, "card_id"))
        return RateCardOut.of(await service.execute(rate_cards.get_rate_card, query, caller))


class QuoteController(Controller):
    path = "/quotes"
    tags = ["quotes"]

    @post(
        "/",
        operation_id="quote_messages",
        status_code=200,
        dto=JsonBody[QuoteCreate],
        return_dto=None,
        responses=problem_responses("forbidden", "not_found", "not_priced", write=True),
    )
    async def quote_messages(
        self, data: JSONBody[QuoteCreate], caller: NamedDependency[Caller], idempotency: NamedDependency[Idempotency]
    ) -> Response[QuoteSetOut]:
        """What messages of a category to these recipients (1-1000) would cost now; no money moves."""
        category, free_reason = parse_category(data.category)
        window = parse_window(data.window)
        cmd = QuoteMessages(category, tuple(data.recipients), window, data.tenant_id, free_reason, data.phone_number_id)
        return await idempotency.run(quotes.quote_messages, cmd, caller, rendered(200, QuoteSetOut.of))
