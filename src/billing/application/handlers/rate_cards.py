"""Rate cards (contract v2 §8): operators add them (immutable), tenants read the one in force."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

import attrs

from billing.application.caller import Caller
from billing.application.pagination import Page, PageRequest
from billing.application.ports import UnitOfWork
from billing.application.runtime import Audited, Runtime, operator, requires, root_viewer, viewer
from billing.domain.errors import NotFoundError, UnchangedRateCardError
from billing.domain.invoice import utc_instant
from billing.domain.pricing import CardKind, RateCard, parse_card_kind
from billing.domain.tenant import validate_tenant_id


@attrs.frozen
class CreateRateCard:
    """A card as the client sent it: the domain checks every rule and lists every problem."""

    name: object
    currency: object
    effective_from: datetime
    tenant_id: str | None  # None: a default card, for every tenant without its own
    free_in_service_window: object
    markets: object
    rates: object
    # Refuse (UnchangedRateCardError) a card that prices every message as the card of its scope in force at its
    # effective date does: `billing ratecard import` asks, unless --again; the API and the console do not.
    refuse_unchanged: bool = False
    kind: object = None  # "price" (None) or "cost": Meta's price list to the platform (contract v3 §15)


@attrs.frozen
class ListRateCards:
    tenant_id: str | None = None  # None: every card
    page: PageRequest = attrs.field(factory=PageRequest)
    kind: str | None = None  # None: price cards


@attrs.frozen
class GetRateCard:
    card_id: UUID


@attrs.frozen
class GetCurrentRateCard:
    tenant_id: str | None = None  # None: the caller's own tenant
    kind: str | None = None  # None: the price card; "cost": the cost card in force (root + View)


@requires(operator, audit=Audited("rate_card", "create_rate_card"))
async def create_rate_card(cmd: CreateRateCard, caller: Caller, uow: UnitOfWork, rt: Runtime) -> RateCard:
    # A bad tenant_id or a naive effective_from is one of the card's problems: RateCard.create lists it with the rest.
    effective_from = cmd.effective_from
    if effective_from.utcoffset() is not None:
        effective_from = utc_instant(effective_from, field="effective_from")  # its UTC within years 1-9999
    card = RateCard.create(
        card_id=rt.ids.new_id(),
        name=cmd.name,
        currency=cmd.currency,
        effective_from=effective_from,
        tenant_id=cmd.tenant_id,
        free_in_service_window=cmd.free_in_service_window,
        markets=cmd.markets,
        rates=cmd.rates,
        created_by=caller.user_id,
        created_at=rt.clock.now(),
        deployment_currency=rt.settings.currency,
        kind=cmd.kind,
    )
    if cmd.refuse_unchanged:
        await _refuse_unchanged(card, uow)
    await uow.rate_cards.add(card)
    return card


async def _refuse_unchanged(card: RateCard, uow: UnitOfWork) -> None:
    if card.is_cost:
        current = await uow.rate_cards.cost_in_force(card.effective_from)
    else:
        current = await uow.rate_cards.in_force_in_scope(card.tenant_id, card.effective_from)
    if current is not None and card.prices_like(current):
        scope = (
            "cost card"
            if current.is_cost
            else "default card"
            if current.tenant_id is None
            else f"card of {current.tenant_id}"
        )
        raise UnchangedRateCardError(
            f"the {scope} in force from {current.effective_from.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ} ({current.id}, "
            f"{current.name!r}) has the same prices: this card would change none"
        )


@requires(root_viewer)
async def list_rate_cards(query: ListRateCards, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Page[RateCard]:
    tenant_id = None if query.tenant_id is None else validate_tenant_id(query.tenant_id)
    return await uow.rate_cards.list(tenant_id, query.page, parse_card_kind(query.kind))


@requires(root_viewer)
async def get_rate_card(query: GetRateCard, caller: Caller, uow: UnitOfWork, rt: Runtime) -> RateCard:
    card = await uow.rate_cards.get(query.card_id)
    if card is None:
        raise NotFoundError("rate card not found")
    return card


@requires(viewer)
async def get_current_rate_card(query: GetCurrentRateCard, caller: Caller, uow: UnitOfWork, rt: Runtime) -> RateCard:
    if parse_card_kind(query.kind) is CardKind.COST:  # Meta's costs: root + View only (clinics never see one)
        rt.auth.require_root_viewer(caller)
        cost_card = await uow.rate_cards.cost_in_force(rt.clock.now())
        if cost_card is None:
            raise NotFoundError("no cost card is in force")
        return cost_card
    tenant_id = rt.auth.tenant_of(caller, query.tenant_id, "rate card", hidden=True)
    card = await uow.rate_cards.in_force(tenant_id, rt.clock.now())
    if card is None:
        raise NotFoundError(f"no rate card is in force for {tenant_id}")
    return card
