"""Holds (contract v2 §9): reserve a message's price when it is sent, settle it once when it is delivered,
void it when it failed; expired ones are swept. The platform's messaging module makes them (root + Manage, or
in-process as the platform).

A hold is one round trip in the common case: the repository's conditional step places it, or answers the message
id's earlier hold. Only a refusal reads more, to say why (the database decided; the domain explains)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from uuid import UUID

import attrs

from billing.application import audit
from billing.application.business_numbers import require_business_numbers
from billing.application.caller import Caller
from billing.application.pagination import Page, PageRequest
from billing.application.ports import ConcurrencyConflictError, HoldFilter, LockedHold, Movement, Sweep, UnitOfWork
from billing.application.protections import protect
from billing.application.recipients import read_recipients
from billing.application.runtime import Runtime, operator, requires, viewer
from billing.domain.audit import SWEEPER, Target
from billing.domain.costs import NOTHING_SAID, Cost, MetaWord, cost_of
from billing.domain.errors import DuplicateError, FieldError, NotFoundError, NotPricedError, ValidationError
from billing.domain.hold import MAX_HOLD_TTL, Hold, meta_word, reprice, reprices_category, validate_message_id
from billing.domain.ledger import Posting, PriceSnapshot, describe
from billing.domain.margins import MarginLine
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
    phone_number_id: str | None = None  # the business number sending it (v3 §16): mapped to the same tenant


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
    await require_business_numbers(tenant_id, [cmd.message.phone_number_id], uow, field=lambda _, name: name)
    now = rt.clock.now()  # the price's and the cost's instant: one read finds both cards
    [priced] = await _quote_messages(tenant_id, (cmd.message,), now, uow, rt, field=lambda _, name: name)
    [estimate] = await _cost_estimates(tenant_id, (cmd.message,), [priced], now, uow)
    message = cmd.message
    hold = Hold.place(
        rt.ids.new_id(),
        tenant_id,
        message.message_id,
        priced,
        message.window,
        now,
        expires_in,
        estimate,
        message.phone_number_id,
    )
    for _ in range(2):
        placement = await uow.holds.place(hold)
        if placement.hold is not None:
            await protect(placement.movement, uow, rt)
            return HoldResult(placement.hold, created=True)
        if placement.earlier is not None:
            placement.earlier.check_repeat(hold.category, hold.market, hold.window, hold.phone_number_id)
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
    numbers = [message.phone_number_id for message in cmd.messages]
    await require_business_numbers(tenant_id, numbers, uow, field=lambda i, name: f"messages[{i}].{name}")
    now = rt.clock.now()
    prices = await _quote_messages(tenant_id, cmd.messages, now, uow, rt, field=lambda i, name: f"messages[{i}].{name}")
    estimates = await _cost_estimates(tenant_id, cmd.messages, prices, now, uow)
    asked = [
        Hold.place(
            rt.ids.new_id(),
            tenant_id,
            message_id,
            priced,
            message.window,
            now,
            expires_in,
            estimate,
            message.phone_number_id,
        )
        for message_id, message, priced, estimate in zip(message_ids, cmd.messages, prices, estimates, strict=True)
    ]
    earlier = {hold.message_id: hold for hold in await uow.holds.find(tenant_id, message_ids)}
    for hold in asked:
        if hold.message_id in earlier:
            earlier[hold.message_id].check_repeat(hold.category, hold.market, hold.window, hold.phone_number_id)
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
    now = rt.clock.now()  # the message time of a settle by this route
    locked = await uow.holds.lock(tenant_id, message_id, costs_at=now)
    if locked is None:
        raise NotFoundError(f"no hold for message {message_id!r}")
    if locked.hold.is_settled:
        return locked.hold  # a repeat: nothing new
    locked.hold.check_settle(now)
    price = await settlement_price(locked.hold, cmd.category, cmd.pricing_type, cmd.billable, uow)
    said = meta_word(locked.hold, category=cmd.category, pricing_type=cmd.pricing_type, billable=cmd.billable)
    return await settle_locked(locked, price, uow, rt, said=said, message_at=now)


async def settlement_price(
    hold: Hold, category: str | None, pricing_type: str | None, billable: bool | None, uow: UnitOfWork
) -> Quote:
    """What settling `hold` charges by Meta's word (see `reprice`); NotPricedError when the hold's card has no
    price for Meta's category in the hold's market. Reads, never writes: a caller may fall back on the hold's own
    price (Meta's webhook does)."""
    card = await _card_of(hold, uow) if reprices_category(hold, category) else None
    return reprice(card, hold, category=category, pricing_type=pricing_type, billable=billable)


async def settle_locked(
    locked: LockedHold,
    price: Quote,
    uow: UnitOfWork,
    rt: Runtime,
    *,
    said: MetaWord = NOTHING_SAID,
    message_at: datetime | None = None,
) -> Hold:
    """Settle a locked open hold (`check_settle` passed) at `price` (`settlement_price`), in one transaction: the
    settle route and Meta's webhook share it. `said`: Meta's word, which prices the cost as it priced `price`;
    `message_at`: Meta's status timestamp (the settle route's message time is now)."""
    hold, funds, tenant_id = locked.hold, locked.funds, locked.hold.tenant_id
    now = rt.clock.now()
    at = now if message_at is None else message_at
    cost = await message_cost(tenant_id, hold.quote.country, price.category, hold.window, said, at, uow, locked)
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
            PriceSnapshot.of(price, hold.id, cost=cost, message_at=at),
        )
    transaction_id = None if charge is None else charge.entry_id
    hold.settle(now, charged, shortfall, transaction_id, price.category, message_at=at, cost=cost)
    margin = MarginLine.of_message(tenant_id, at, price.market, price.category.value, charged, cost)
    await uow.holds.save_settled(hold, charge, margin)
    if price.amount.is_positive:  # a billable message moves its market's tier
        await uow.message_counts.add_settled(tenant_id, at, price.market, price.category)
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


async def message_cost(
    tenant_id: str,
    country: str,
    category: Category,
    window: Window,
    said: MetaWord,
    at: datetime,
    uow: UnitOfWork,
    locked: LockedHold | None = None,
) -> Cost | None:
    """What a message charged or settled at `at` cost the platform (contract v3 §15), on the cost card in force then,
    its tier counted per tenant in the cost card's market when Meta charged for it; None: uncosted."""
    card = await _cost_card_at(at, uow, locked)
    market = None if card is None else card.market_of(country)
    if card is None or market is None:
        return None
    counted = (await uow.cost_counts.settled(tenant_id, at, category, [market]))[market]
    cost = cost_of(card, country=country, category=category, window=window, meta=said, counted_this_month=counted)
    if cost is not None and cost.counts_in_tier:
        await uow.cost_counts.add_settled(tenant_id, at, cost.market, category)
    return cost


async def _cost_card_at(at: datetime, uow: UnitOfWork, locked: LockedHold | None) -> RateCard | None:
    """The cost card in force at `at`: the one the hold's lock found at that instant (no read), else one read."""
    if locked is not None and locked.costs_at == at:
        return None if locked.cost_card_id is None else await uow.rate_cards.cost_card(locked.cost_card_id)
    return await uow.rate_cards.cost_in_force(at)


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
    tenant_id: str,
    messages: Sequence[HoldMessage],
    now: datetime,
    uow: UnitOfWork,
    rt: Runtime,
    *,
    field: FieldName,
) -> list[Quote]:
    """Each message's price on the card in force `now`: the card and each category's tier counts read once."""
    recipients = read_recipients([m.recipient for m in messages], rt, lambda index: field(index, "recipient"))
    countries = [recipient.country for recipient in recipients]
    card = await uow.rate_cards.in_force(tenant_id, now)
    if card is None:
        raise NotPricedError(f"no rate card is in force for {tenant_id}")
    markets = [_market(card, country) for country in countries]
    counts: dict[Category, dict[str, int]] = {}
    for category in {message.category for message in messages}:
        involved = {market for market, message in zip(markets, messages, strict=True) if message.category is category}
        counts[category] = await uow.message_counts.settled(tenant_id, now, category, sorted(involved))
    return [
        quote(
            card,
            recipient=recipient.masked,
            country=recipient.country,
            category=message.category,
            window=message.window,
            free_reason=message.free_reason,
            settled_this_month=counts[message.category][market],
        )
        for message, recipient, market in zip(messages, recipients, markets, strict=True)
    ]


async def _cost_estimates(
    tenant_id: str, messages: Sequence[HoldMessage], prices: Sequence[Quote], at: datetime, uow: UnitOfWork
) -> list[Money | None]:
    """Each message's cost at hold time (contract v3 §15: `cost_estimate`) on the cost card in force, as if settled
    now; None where uncosted. The card and each category's counts are read once."""
    card = await uow.rate_cards.cost_in_force(at)
    if card is None:
        return [None] * len(messages)
    markets = [card.market_of(price.country) for price in prices]
    counts: dict[Category, dict[str, int]] = {}
    for category in {message.category for message in messages}:
        involved = {m for m, message in zip(markets, messages, strict=True) if m and message.category is category}
        counts[category] = await uow.cost_counts.settled(tenant_id, at, category, sorted(involved))
    estimates: list[Money | None] = []
    for message, price, market in zip(messages, prices, markets, strict=True):
        said = MetaWord(free_reason=message.free_reason)
        counted = counts[message.category].get(market, 0) if market else 0
        cost = cost_of(
            card,
            country=price.country,
            category=message.category,
            window=message.window,
            meta=said,
            counted_this_month=counted,
        )
        estimates.append(None if cost is None else cost.amount)
    return estimates


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
