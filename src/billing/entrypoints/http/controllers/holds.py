"""Holds (contract v2 §9): the messaging module reserves a message's price, settles it once when Meta says it was
delivered, and voids it when it failed. A message id travels in bodies and query strings, never in a path (a wamid
may hold `/`, `+` and `=`).

The request and response structs live beside their routes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody

from billing.application.caller import Caller
from billing.application.handlers import holds
from billing.application.handlers.holds import (
    MAX_BATCH,
    GetHold,
    HoldBatch,
    HoldMessage,
    HoldResult,
    ListHolds,
    PlaceHold,
    PlaceHolds,
    SettleHold,
    VoidHold,
)
from billing.application.pagination import Page, PageRequest
from billing.application.ports import HoldFilter
from billing.application.service import BillingService
from billing.domain.hold import Hold, HoldStatus
from billing.domain.pricing import Category, parse_category, parse_window
from billing.entrypoints.http.body import JsonBody
from billing.entrypoints.http.controllers.params import JSON, parse_id, rendered, sees_costs
from billing.entrypoints.http.idempotency import Idempotency
from billing.entrypoints.http.problems import Rendered, problem_responses
from billing.entrypoints.http.schemas import encode
from billing.entrypoints.json_body import Body

# A batch of 1,000 messages with 200-character ids is about 350 KB: more than the API's usual 64 KiB.
MAX_BATCH_BODY_BYTES = 1024 * 1024
HOLD_CONFLICTS = ("duplicate", "insufficient_funds", "lane_closed", "wallet_frozen", "wallet_in_debt")


class HoldMessageIn(Body):
    message_id: str
    category: str
    recipient: str
    window: str | None = None
    phone_number_id: str | None = None  # the business number sending it (v3 §16): mapped to the tenant

    def message(self, prefix: str = "") -> HoldMessage:
        """The use case's message; `prefix` names a batch's fields (`messages[3].category`)."""
        category, free_reason = parse_category(self.category, field=f"{prefix}category")
        window = parse_window(self.window, field=f"{prefix}window")
        return HoldMessage(self.message_id, category, self.recipient, window, free_reason, self.phone_number_id)


class HoldCreate(HoldMessageIn):
    expires_in_seconds: int | None = None  # 1-2592000; None: BILLING_HOLD_TTL_SECONDS


class HoldBatchCreate(Body):
    messages: Annotated[list[HoldMessageIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]
    expires_in_seconds: int | None = None

    def command(self, tenant_id: str) -> PlaceHolds:
        parsed = tuple(message.message(f"messages[{index}].") for index, message in enumerate(self.messages))
        return PlaceHolds(tenant_id, parsed, self.expires_in_seconds)


class HoldSettle(Body):
    message_id: str
    category: str | None = None  # Meta's word; a different category is repriced on the hold's own card
    pricing_type: str | None = None  # regular | free_customer_service | free_entry_point
    billable: bool | None = None


class HoldVoid(Body):
    message_id: str


class HoldOut(msgspec.Struct, kw_only=True):
    id: UUID
    tenant_id: str
    message_id: str
    status: str
    recipient: str
    country: str
    market: str
    category: str
    tier: int
    rate_card_id: UUID
    unit_price: str
    amount: str
    free_reason: str | None
    window: str
    expires_at: datetime
    created_at: datetime
    settled_at: datetime | None
    voided_at: datetime | None
    charged: str | None  # null until charged or settled
    shortfall: str | None
    transaction_id: UUID | None
    settled_category: str | None
    phone_number_id: str | None  # the business number that sends it (v3 §16), when the caller said it
    # What the message was expected to cost the platform when held (contract v3 §15; null: uncosted): in root's
    # answers only, absent for clinics.
    cost_estimate: str | msgspec.UnsetType | None = msgspec.UNSET

    @classmethod
    def of(cls, hold: Hold, *, costs: bool = False) -> HoldOut:
        shown = cls.of_hold(hold)
        if costs:
            shown.cost_estimate = None if hold.cost_estimate is None else str(hold.cost_estimate)
        return shown

    @classmethod
    def of_hold(cls, hold: Hold) -> HoldOut:
        price = hold.quote
        return cls(
            id=hold.id,
            tenant_id=hold.tenant_id,
            message_id=hold.message_id,
            status=hold.status.value,
            recipient=price.recipient,
            country=price.country,
            market=price.market,
            category=price.category.value,
            tier=price.tier,
            rate_card_id=price.rate_card_id,
            unit_price=str(price.unit_price),
            amount=str(price.amount),
            free_reason=None if price.free_reason is None else price.free_reason.value,
            window=hold.window.value,
            expires_at=_utc(hold.expires_at),
            created_at=_utc(hold.created_at),
            settled_at=None if hold.settled_at is None else _utc(hold.settled_at),
            voided_at=None if hold.voided_at is None else _utc(hold.voided_at),
            charged=None if hold.charged is None else str(hold.charged),
            shortfall=None if hold.shortfall is None else str(hold.shortfall),
            transaction_id=hold.transaction_id,
            settled_category=None if hold.settled_category is None else hold.settled_category.value,
            phone_number_id=hold.phone_number_id,
        )


class HoldBatchOut(msgspec.Struct, kw_only=True):
    items: list[HoldOut]
    total: str  # money: the sum of the amounts


class HoldPage(msgspec.Struct, kw_only=True):
    items: list[HoldOut]
    page: int
    page_size: int
    total: int

    @classmethod
    def of(cls, page: Page[Hold], *, costs: bool = False) -> HoldPage:
        items = [HoldOut.of(h, costs=costs) for h in page.items]
        return cls(items=items, page=page.page, page_size=page.page_size, total=page.total)


def hold_for_root(hold: Hold) -> HoldOut:
    """A hold as the messaging module's writes answer it (root + Manage: it sees the cost estimate)."""
    return HoldOut.of(hold, costs=True)


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC)


def _held(result: HoldResult) -> Rendered:
    """201 for a new hold; 200 with the first hold for the same message id asked again the same way."""
    return Rendered(201 if result.created else 200, encode(hold_for_root(result.hold)), JSON)


def _batch_held(batch: HoldBatch) -> Rendered:
    """201 when anything was held now; 200 when every message was already held as asked."""
    body = HoldBatchOut(items=[hold_for_root(h) for h in batch.items], total=str(batch.total))
    return Rendered(201 if batch.created else 200, encode(body), JSON)


def hold_filter(status: HoldStatus | None, category: Category | None, message_id: str | None) -> HoldFilter:
    return HoldFilter(status, category, message_id)


class HoldController(Controller):
    path = "/wallets/{tenant_id:str}/holds"
    tags = ["holds"]

    @post(
        "/",
        operation_id="place_hold",
        status_code=201,
        dto=JsonBody[HoldCreate],
        return_dto=None,
        responses={
            200: ResponseSpec(HoldOut, description="The same message id asked again the same way: the first hold"),
            **problem_responses("forbidden", *HOLD_CONFLICTS, "not_priced", write=True),
        },
    )
    async def place_hold(
        self,
        data: JSONBody[HoldCreate],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        tenant_id: FromPath[str],
    ) -> Response[HoldOut]:
        """Reserve one message's price before it is sent (root + Manage); `available` falls by its amount."""
        cmd = PlaceHold(tenant_id, data.message(), data.expires_in_seconds)
        return await idempotency.run(holds.place_hold, cmd, caller, _held)

    @post(
        "/batch",
        operation_id="place_holds",
        status_code=201,
        dto=JsonBody[HoldBatchCreate],
        return_dto=None,
        request_max_body_size=MAX_BATCH_BODY_BYTES,
        responses={
            200: ResponseSpec(HoldBatchOut, description="Every message was already held as asked: those holds"),
            **problem_responses("forbidden", *HOLD_CONFLICTS, "not_priced", write=True),
        },
    )
    async def place_holds(
        self,
        data: JSONBody[HoldBatchCreate],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        tenant_id: FromPath[str],
    ) -> Response[HoldBatchOut]:
        """Reserve a campaign's messages (1-1000), all or nothing; one message id twice is a 400."""
        return await idempotency.run(holds.place_holds, data.command(tenant_id), caller, _batch_held)

    @post(
        "/settle",
        operation_id="settle_hold",
        status_code=200,
        dto=JsonBody[HoldSettle],
        return_dto=None,
        responses=problem_responses("forbidden", "not_found", "invalid_state", "not_priced", write=True),
    )
    async def settle_hold(
        self,
        data: JSONBody[HoldSettle],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        tenant_id: FromPath[str],
    ) -> Response[HoldOut]:
        """Charge the message once, by Meta's category and pricing type; a repeat answers the settled hold."""
        cmd = SettleHold(tenant_id, data.message_id, data.category, data.pricing_type, data.billable)
        return await idempotency.run(holds.settle_hold, cmd, caller, rendered(200, hold_for_root))

    @post(
        "/void",
        operation_id="void_hold",
        status_code=200,
        dto=JsonBody[HoldVoid],
        return_dto=None,
        responses=problem_responses("forbidden", "not_found", "invalid_state", write=True),
    )
    async def void_hold(
        self,
        data: JSONBody[HoldVoid],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        tenant_id: FromPath[str],
    ) -> Response[HoldOut]:
        """The message failed: release its money. A repeat, or an expired hold, answers it unchanged."""
        cmd = VoidHold(tenant_id, data.message_id)
        return await idempotency.run(holds.void_hold, cmd, caller, rendered(200, hold_for_root))

    @get("/", operation_id="list_tenant_holds", responses=problem_responses("forbidden"))
    async def list_tenant_holds(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        page_request: NamedDependency[PageRequest],
        tenant_id: FromPath[str],
        status: FromQuery[HoldStatus | None] = None,
        category: FromQuery[Category | None] = None,
        message_id: FromQuery[str | None] = None,
    ) -> HoldPage:
        """A tenant's holds, newest first (root + View)."""
        query = ListHolds(tenant_id, hold_filter(status, category, message_id), page_request)
        return HoldPage.of(await service.execute(holds.list_holds, query, caller), costs=sees_costs(service, caller))

    @get("/{hold_id:str}", operation_id="get_hold", responses=problem_responses("forbidden", "not_found"))
    async def get_hold(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        tenant_id: FromPath[str],
        hold_id: FromPath[str],
    ) -> HoldOut:
        """One hold of the tenant: its own for a clinic, any tenant's for the root tenant."""
        query = GetHold(tenant_id, parse_id(hold_id, "hold_id"))
        return HoldOut.of(await service.execute(holds.get_hold, query, caller), costs=sees_costs(service, caller))
