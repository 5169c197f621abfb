"""Holds (contract v2 §9): reserve a message's price when it is sent, settle it once when it is delivered,
void it when it failed; expired ones are swept. The platform's messaging module makes them (root + Manage, or
in-process as the platform).

A hold is one round trip in the common case: the repository's conditional step places it, or answers the message
id's earlier hold. Only a refusal reads more, to say why (the database decided; the domain explains)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from uuid import UUID

import attrs

from billing.application import audit
from billing.application.caller import Caller
from billing.application.handlers.quotes import month_of
from billing.application.pagination import Page, PageRequest
from billing.application.ports import ConcurrencyConflictError, HoldFilter, LockedHold, Movement, Sweep, UnitOfWork
from billing.application.protections import protect
from billing.application.runtime import Runtime, operator, requires, viewer
from billing.domain.audit import SWEEPER, Target
from billing.domain.errors import DuplicateError, FieldError, NotFoundError, NotPricedError, ValidationError
from billing.domain.hold import MAX_HOLD_TTL, Hold, reprice, reprices_category, validate_message_id
from billing.domain.ledger import Posting, PriceSnapshot, describe
from billing.domain.money import Money
from billing.domain.pricing import Category, FreeReason, Quote, RateCard, Window, quote
from billing.domain.tenant import validate_tenant_id

MAX_BATCH = 1000
SWEEP_BATCH = 500
# How a message's field is named in errors: `recipient` alone, `messages[3].recipient` in a batch.
FieldName = Callable[[int, str], str]


@attrs.frozen
class HoldMessage:
    message_id: str
    category: Category
    recipient: str
    window: Window = Window.NONE
    free_reason: FreeReason | None = None  # Meta's referral_conversion: free whatever the window


@attrs.frozen
class PlaceHold:
    tenant_id: str
    message: HoldMessage
    expires_in_seconds: int | None = None  # None: BILLING_HOLD_TTL_SECONDS


@attrs.frozen
class PlaceHolds:
    tenant_id: str
    messages: tuple[HoldMessage, ...]
    expires_in_seconds: int | None = None


@attrs.frozen
class SettleHold:
    tenant_id: str
    message_id: str
    category: str | None = None  # Meta's word, when it says one
    pricing_type: str | None = None
    billable: bool | None = None


@attrs.frozen
class VoidHold:
    tenant_id: str
    message_id: str


@attrs.frozen
class GetHold:
    tenant_id: str
    hold_id: UUID


@attrs.frozen
class ListHolds:
    tenant_id: str | None = None  # None: the caller's own (`/wallet/me/holds`)
    filters: HoldFilter = attrs.field(factory=HoldFilter)
    page: PageRequest = attrs.field(factory=PageRequest)


@attrs.frozen
class ExpireHolds:
    limit: int = SWEEP_BATCH


@attrs.frozen
class HoldResult:
    hold: Hold
    created: bool  # False: the message id's earlier hold, answered again


@attrs.frozen
class HoldBatch:
    items: tuple[Hold, ...]
    total: Money  # the sum of their amounts
    created: bool  # False: every message was already held as asked


@requires(operator)
async def place_hold(cmd: PlaceHold, caller: Caller, uow: UnitOfWork, rt: Runtime) -> HoldResult:
    tenant_id = validate_tenant_id(cmd.tenant_id)
    validate_message_id(cmd.message.message_id)
    expires_in = _expires_in(cmd.expires_in_seconds, rt)
    [priced] = await _quote_messages(tenant_id, (cmd.message,), uow, rt, field=lambda _, name: name)
    hold = Hold.place(
        rt.ids.new_id(), tenant_id, cmd.message.message_id, priced, cmd.message.window, rt.clock.now(), expires_in
    )
    for _ in range(2):
        placement = await uow.holds.place(hold)
        if placement.hold is not None:
            await protect(placement.movement, uow, rt)
            return HoldResult(placement.hold, created=True)
        if placement.earlier is not None:
            placement.earlier.check_repeat(hold.category, hold.market, hold.window)
            return HoldResult(placement.earlier, created=False)
        if not await _refusal_explained(tenant_id, [hold], uow, rt):
            continue  # the wallet was just opened: place again
    raise ConcurrencyConflictError("the wallet changed while the hold was placed")


@requires(operator)
async def place_holds(cmd: PlaceHolds, caller: Caller, uow: UnitOfWork, rt: Runtime) -> HoldBatch:
    """All or nothing: a campaign reserves its whole cost before its first message, or nothing."""
    tenant_id = validate_tenant_id(cmd.tenant_id)
    expires_in = _expires_in(cmd.expires_in_seconds, rt)
    if not 1 <= len(cmd.messages) <= MAX_BATCH:
        raise ValidationError.of("messages", f"must list 1-{MAX_BATCH} messages")
    message_ids = _distinct_message_ids(cmd.messages)
    prices = await _quote_messages(tenant_id, cmd.messages, uow, rt, field=lambda i, name: f"messages[{i}].{name}")
    now = rt.clock.now()
    asked = [
        Hold.place(rt.ids.new_id(), tenant_id, message_id, priced, message.window, now, expires_in)
        for message_id, message, priced in zip(message_ids, cmd.messages, prices, strict=True)
    ]
    earlier = {hold.message_id: hold for hold in await uow.holds.find(tenant_id, message_ids)}
    for hold in asked:
        if hold.message_id in earlier:
            earlier[hold.message_id].check_repeat(hold.category, hold.market, hold.window)
    new = [hold for hold in asked if hold.message_id not in earlier]
    if new:
        await _place_all(tenant_id, new, uow, rt)
    items = tuple(earlier.get(hold.message_id, hold) for hold in asked)
    total = sum((hold.amount for hold in items), Money.zero(rt.settings.currency))
    return HoldBatch(items, total, created=bool(new))


@requires(operator)
async def settle_hold(cmd: SettleHold, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Hold:
    """Charge the message once, at Meta's word (its category and pricing type), in one transaction."""
    tenant_id = validate_tenant_id(cmd.tenant_id)
    message_id = validate_message_id(cmd.message_id)
    locked = await uow.holds.lock(tenant_id, message_id)
    if locked is None:
        raise NotFoundError(f"no hold for message {message_id!r}")
    if locked.hold.is_settled:
        return locked.hold  # a repeat: nothing new
    locked.hold.check_settle(rt.clock.now())
    price = await settlement_price(locked.hold, cmd.category, cmd.pricing_type, cmd.billable, uow)
    return await settle_locked(locked, price, uow, rt)


async def settlement_price(
    hold: Hold, category: str | None, pricing_type: str | None, billable: bool | None, uow: UnitOfWork
) -> Quote:
    """What settling `hold` charges by Meta's word (see `reprice`); NotPricedError when the hold's card has no
    price for Meta's category in the hold's market. Reads, never writes: a caller may fall back on the hold's own
    price (Meta's webhook does)."""
    card = await _card_of(hold, uow) if reprices_category(hold, category) else None
    return reprice(card, hold, category=category, pricing_type=pricing_type, billable=billable)


async def settle_locked(locked: LockedHold, price: Quote, uow: UnitOfWork, rt: Runtime) -> Hold:
    """Settle a locked open hold (`check_settle` passed) at `price` (`settlement_price`), in one transaction: the
    settle route and Meta's webhook share it."""
    hold, funds, tenant_id = locked.hold, locked.funds, locked.hold.tenant_id
    now = rt.clock.now()
    after, charged, shortfall = funds.after_settle(hold.amount, price.amount)
    charge = None
    if charged.is_positive:
        charge = Posting.charge(
            rt.ids.new_id(),
            tenant_id,
            charged,
            hold.message_id,
            _description(price),
            now,
            PriceSnapshot.of(price, hold.id),
        )
    hold.settle(now, charged, shortfall, None if charge is None else charge.entry_id, price.category)
    await uow.holds.save_settled(hold, charge)
    if price.amount.is_positive:  # a billable message moves its market's tier
        await uow.message_counts.add_settled(tenant_id, month_of(now), price.market, price.category)
    if funds.in_debt and charged < hold.amount:  # below its hold, the settle released the rest
        await _repay_from_release(hold, "settle", uow, rt)
    # Above its hold, the settle took the difference from `available`.
    await protect(Movement(tenant_id, funds.available, after.available, locked.watch_below), uow, rt)
    return hold


@requires(operator)
async def void_hold(cmd: VoidHold, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Hold:
    """The message failed: its money is available again. A repeat, or an expired hold, is answered unchanged."""
    tenant_id = validate_tenant_id(cmd.tenant_id)
    message_id = validate_message_id(cmd.message_id)
    locked = await uow.holds.lock(tenant_id, message_id)
    if locked is None:
        raise NotFoundError(f"no hold for message {message_id!r}")
    return await void_locked(locked, uow, rt)


async def void_locked(locked: LockedHold, uow: UnitOfWork, rt: Runtime) -> Hold:
    """Void a locked hold (see `Hold.void`): the void route and Meta's webhook share it."""
    hold = locked.hold
    now = rt.clock.now()
    if hold.void(now):  # an open hold past expires_at expires instead (no HoldVoided)
        await uow.holds.save_released(hold)
        if locked.funds.in_debt:
            await _repay_from_release(hold, "void", uow, rt)
    return hold


async def _repay_from_release(hold: Hold, how: str, uow: UnitOfWork, rt: Runtime) -> None:
    """A wallet in debt repays it from what a hold's release made available (contract v3 §19). Only then: a
    wallet that owes nothing pays no extra statement."""
    description = describe(f"Debt repaid from the {how} of the hold of message {hold.message_id}")
    await uow.wallets.repay_debt(hold.tenant_id, rt.ids.new_id(), hold.message_id, description, rt.clock.now())


@requires(viewer)
async def get_hold(query: GetHold, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Hold:
    tenant_id = validate_tenant_id(query.tenant_id)
    rt.auth.ensure_visible(caller, tenant_id, "hold")
    hold = await uow.holds.get(tenant_id, query.hold_id)
    if hold is None:
        raise NotFoundError("hold not found")
    return hold


@requires(viewer)
async def list_holds(query: ListHolds, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Page[Hold]:
    """`/wallet/me/holds` (the own tenant, View) or `/wallets/{tenant_id}/holds` (root + View)."""
    tenant_id = rt.auth.tenant_of(caller, query.tenant_id, "wallet", operators_view=True)
    filters = query.filters
    if filters.message_id is not None:
        filters = attrs.evolve(filters, message_id=validate_message_id(filters.message_id))
    return await uow.holds.list(tenant_id, filters, query.page)


@requires(operator)
async def expire_holds(cmd: ExpireHolds, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Sweep:
    """One bounded sweep: open holds past `expires_at` stop counting in `held`. Safe with several sweepers (one
    sweeps, the others learn that it does). Each tenant it changed gets an audit row, and a wallet in debt repays
    it from what the expiry released."""
    sweep = await uow.holds.expire_due(rt.clock.now(), cmd.limit)
    for tenant_id, message_ids in sweep.expired_by_tenant.items():
        details = {"count": len(message_ids)}
        await audit.record_system(SWEEPER, "expire_holds", tenant_id, Target("wallet", tenant_id), details, uow, rt)
        description = describe(f"Debt repaid from the expiry of the hold of message {message_ids[0]}")
        await uow.wallets.repay_debt(tenant_id, rt.ids.new_id(), message_ids[0], description, rt.clock.now())
    return sweep


def _expires_in(seconds: int | None, rt: Runtime) -> timedelta:
    if seconds is None:
        return timedelta(seconds=rt.settings.hold_ttl_seconds)
    most = int(MAX_HOLD_TTL.total_seconds())
    if isinstance(seconds, bool) or not isinstance(seconds, int) or not 1 <= seconds <= most:
        raise ValidationError.of("expires_in_seconds", f"must be a whole number from 1 to {most}")
    return timedelta(seconds=seconds)


def _distinct_message_ids(messages: Sequence[HoldMessage]) -> list[str]:
    seen: dict[str, int] = {}
    problems: list[FieldError] = []
    ids: list[str] = []
    for index, message in enumerate(messages):
        message_id = validate_message_id(message.message_id, f"messages[{index}].message_id")
        if message_id in seen:
            problems.append(
                FieldError(f"messages[{index}].message_id", f"repeats messages[{seen[message_id]}].message_id")
            )
        seen.setdefault(message_id, index)
        ids.append(message_id)
    if problems:
        raise ValidationError(problems)
    return ids


async def _quote_messages(
    tenant_id: str, messages: Sequence[HoldMessage], uow: UnitOfWork, rt: Runtime, *, field: FieldName
) -> list[Quote]:
    """Each message's price on the card in force now: the card and each category's tier counts read once."""
    countries: list[str] = []
    problems: list[FieldError] = []
    for index, message in enumerate(messages):
        country = rt.countries.country_of(message.recipient) if isinstance(message.recipient, str) else None
        if country is None:
            problems.append(FieldError(field(index, "recipient"), "is not a valid phone number in E.164 (+ optional)"))
        countries.append(country or "")
    if problems:
        raise ValidationError(problems)
    now = rt.clock.now()
    card = await uow.rate_cards.in_force(tenant_id, now)
    if card is None:
        raise NotPricedError(f"no rate card is in force for {tenant_id}")
    markets = [_market(card, country) for country in countries]
    counts: dict[Category, dict[str, int]] = {}
    for category in {message.category for message in messages}:
        involved = {market for market, message in zip(markets, messages, strict=True) if message.category is category}
        counts[category] = await uow.message_counts.settled(tenant_id, month_of(now), category, sorted(involved))
    return [
        quote(
            card,
            recipient=message.recipient,
            country=country,
            category=message.category,
            window=message.window,
            free_reason=message.free_reason,
            settled_this_month=counts[message.category][market],
        )
        for message, country, market in zip(messages, countries, markets, strict=True)
    ]


def _market(card: RateCard, country: str) -> str:
    market = card.market_of(country)
    if market is None:
        raise NotPricedError(f"the rate card in force prices no messages to {country}")
    return market


async def _place_all(tenant_id: str, holds: list[Hold], uow: UnitOfWork, rt: Runtime) -> None:
    charged = await uow.wallets.charged(tenant_id, [hold.message_id for hold in holds])
    if charged:
        raise DuplicateError(f"message {sorted(charged)[0]!r} was already charged")
    for _ in range(2):
        movement = await uow.holds.place_batch(holds)
        if movement is not None:
            await protect(movement, uow, rt)
            return
        if not await _refusal_explained(tenant_id, holds, uow, rt):
            continue
    raise ConcurrencyConflictError("the wallet changed while the holds were placed")


async def _refusal_explained(tenant_id: str, holds: list[Hold], uow: UnitOfWork, rt: Runtime) -> bool:
    """The repository refused new holds: raise the rule's error. False when there was no wallet yet (it is
    opened now, place again); ConcurrencyConflictError when no rule refuses them any more (a race: run again)."""
    if len(holds) == 1 and await uow.wallets.charged(tenant_id, [holds[0].message_id]):
        raise DuplicateError(f"message {holds[0].message_id!r} was already charged")
    funds = await uow.wallets.funds(tenant_id)
    if funds is None:
        await uow.wallets.get_or_open(tenant_id, rt.settings.currency, rt.clock.now())
        return False
    funds.check_holds((hold.amount, hold.category) for hold in holds)
    raise ConcurrencyConflictError("no rule refuses these holds now: the wallet changed meanwhile")


async def _card_of(hold: Hold, uow: UnitOfWork) -> RateCard:
    card = await uow.rate_cards.get(hold.quote.rate_card_id)
    if card is None:  # cards are never deleted
        raise NotPricedError(f"rate card {hold.quote.rate_card_id} of hold {hold.id} is gone")
    return card


def _description(price: Quote) -> str:
    return f"WhatsApp {price.category} message to {price.recipient} ({price.market})"
