"""Meta's status webhook (contract v2 §11): each status settles, voids or charges its message at most once, and
every status received is recorded with what became of it. What a status does is the domain's table
(`webhook_events.decide`); this module reads the hold, does it, and records it.

A body's statuses are applied one tenant per unit of work (spec §6: one shard per transaction) by the service
(`BillingSession.apply_whatsapp_statuses`); a redelivered body finds its statuses recorded and skips them, and two
workers applying one status wait for each other on the wallet's row and record it once.

Locks follow the package's one order (docs/decisions.md, "The lock order"): the tenant's wallet row first, then
its holds by message id, then its counters. A body locks the wallet before its first hold and keeps it to the
end; a settle or void locks the wallet, then its hold. Whoever holds a hold's lock holds its wallet's, so a body
and a settle never wait for each other in a circle: they queue on the wallet.

Every status is applied or recorded on its own: what Meta says that we cannot price (a category we do not know,
or one the hold's card cannot price) settles a hold at its own price and says why; only a database outage or a
conflict that outlives its re-runs fails a body (Meta then delivers it again).
"""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

import attrs

from billing.application.caller import Caller
from billing.application.handlers.holds import message_cost, settle_locked, settlement_price, void_locked
from billing.application.pagination import Page, PageRequest
from billing.application.ports import LockedHold, Movement, UnitOfWork, WebhookEventFilter
from billing.application.protections import protect
from billing.application.runtime import Audited, Runner, Runtime, operator, requires, root_viewer
from billing.domain.errors import DuplicateError, NotFoundError, NotPricedError, ValidationError
from billing.domain.hold import FREE_PRICING_TYPES, meta_word
from billing.domain.ledger import Posting, PriceSnapshot
from billing.domain.margins import MarginLine
from billing.domain.money import Money
from billing.domain.pricing import FreeReason, Quote, Window, parse_category, quote
from billing.domain.tenant import validate_tenant_id
from billing.domain.webhook_events import (
    Action,
    Outcome,
    Reason,
    WebhookEvent,
    WhatsAppNumber,
    decide,
    status_recipient,
    validate_phone_number_id,
)
from billing.domain.whatsapp import IgnoredStatus, ParsedWebhook, StatusNotice


@attrs.frozen
class MapNumber:
    phone_number_id: str
    tenant_id: str


@attrs.frozen
class NumberMapping:
    number: WhatsAppNumber
    created: bool  # False: this very mapping existed already


@attrs.frozen
class ListNumbers:
    tenant_id: str | None = None
    page: PageRequest = attrs.field(factory=PageRequest)


@attrs.frozen
class UnmapNumber:
    phone_number_id: str


@attrs.frozen
class ListWebhookEvents:
    filters: WebhookEventFilter = attrs.field(factory=WebhookEventFilter)
    page: PageRequest = attrs.field(factory=PageRequest)


@attrs.frozen
class FindNumbers:
    phone_number_ids: tuple[str, ...]


@attrs.frozen
class ApplyStatuses:
    """One tenant's statuses of one body (`tenant_id` None: numbers nobody mapped, recorded `unmatched`)."""

    tenant_id: str | None
    statuses: tuple[StatusNotice, ...]
    ignored: tuple[IgnoredStatus, ...] = ()


def _mapped(cmd: object, mapping: NumberMapping) -> tuple[str | None, str] | None:
    number = mapping.number
    return (number.tenant_id, number.phone_number_id) if mapping.created else None


def _unmapped(cmd: UnmapNumber, result: None) -> tuple[str | None, str]:
    return None, cmd.phone_number_id  # number mappings are platform-wide (v2 §13)


@requires(operator, audit=Audited("whatsapp_number", "map_whatsapp_number", _mapped))
async def map_number(cmd: MapNumber, caller: Caller, uow: UnitOfWork, rt: Runtime) -> NumberMapping:
    """Statuses from this number are the tenant's. The same mapping again is answered as it is; a number another
    tenant has is `duplicate` (unmap it first: a number moving silently would move its messages' money)."""
    asked = WhatsAppNumber(
        validate_phone_number_id(cmd.phone_number_id),
        validate_tenant_id(cmd.tenant_id),
        caller.user_id,
        rt.clock.now(),
    )
    mapped, created = await uow.whatsapp_numbers.add(asked)
    if mapped.tenant_id != asked.tenant_id:
        raise DuplicateError(f"phone number {asked.phone_number_id} is mapped to another tenant")
    return NumberMapping(mapped, created)


@requires(root_viewer)
async def list_numbers(query: ListNumbers, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Page[WhatsAppNumber]:
    tenant_id = None if query.tenant_id is None else validate_tenant_id(query.tenant_id)
    return await uow.whatsapp_numbers.list(tenant_id, query.page)


@requires(operator, audit=Audited("whatsapp_number", "unmap_whatsapp_number", _unmapped))
async def unmap_number(cmd: UnmapNumber, caller: Caller, uow: UnitOfWork, rt: Runtime) -> None:
    """Statuses from the number are `unmatched` (`unknown_number`) from now on."""
    if not await uow.whatsapp_numbers.remove(validate_phone_number_id(cmd.phone_number_id)):
        raise NotFoundError("phone number not mapped")


@requires(root_viewer)
async def list_webhook_events(
    query: ListWebhookEvents, caller: Caller, uow: UnitOfWork, rt: Runtime
) -> Page[WebhookEvent]:
    filters = query.filters
    if filters.tenant_id is not None:
        filters = attrs.evolve(filters, tenant_id=validate_tenant_id(filters.tenant_id))
    return await uow.webhook_events.list(filters, query.page)


@requires(operator)
async def find_numbers(query: FindNumbers, caller: Caller, uow: UnitOfWork, rt: Runtime) -> dict[str, str]:
    """phone_number_id -> tenant_id of the numbers mapped (the webhook's first read of a body)."""
    return await uow.whatsapp_numbers.tenants_of(query.phone_number_ids)


async def apply_body(runner: Runner, parsed: ParsedWebhook) -> list[WebhookEvent]:
    """A verified body's statuses, one tenant per unit of work (one shard per transaction); the events recorded
    now (a status recorded before is skipped). A failure leaves the tenants not yet applied to Meta's redelivery."""
    numbers = {s.phone_number_id for s in parsed.statuses} | {
        i.phone_number_id for i in parsed.ignored if i.phone_number_id is not None
    }
    tenants = await runner.run(find_numbers, FindNumbers(tuple(sorted(numbers)))) if numbers else {}
    events: list[WebhookEvent] = []
    for group in statuses_by_tenant(parsed, tenants):
        events += await runner.run(apply_statuses, group)
    return events


def statuses_by_tenant(parsed: ParsedWebhook, tenants: Mapping[str, str]) -> list[ApplyStatuses]:
    """A body's statuses grouped by their number's tenant (None: nobody's), each group in the body's order."""
    statuses: dict[str | None, list[StatusNotice]] = {}
    ignored: dict[str | None, list[IgnoredStatus]] = {}
    for notice in parsed.statuses:
        statuses.setdefault(tenants.get(notice.phone_number_id), []).append(notice)
    for status in parsed.ignored:
        ignored.setdefault(tenants.get(status.phone_number_id or ""), []).append(status)
    return [
        ApplyStatuses(tenant, tuple(statuses.get(tenant, ())), tuple(ignored.get(tenant, ())))
        for tenant in dict.fromkeys([*statuses, *ignored])
    ]


@requires(operator)
async def apply_statuses(cmd: ApplyStatuses, caller: Caller, uow: UnitOfWork, rt: Runtime) -> list[WebhookEvent]:
    """Apply each status not applied before and record it; the events recorded now."""
    events = [_ignored(cmd.tenant_id, ignored, rt) for ignored in cmd.ignored]
    if cmd.tenant_id is None:
        events += [_event(None, s, rt, Outcome.UNMATCHED, Reason.UNKNOWN_NUMBER) for s in cmd.statuses]
    else:
        seen = await uow.webhook_events.seen(cmd.tenant_id, [(s.message_id, str(s.status)) for s in cmd.statuses])
        applied: dict[int, WebhookEvent] = {}
        if any((s.message_id, str(s.status)) not in seen for s in cmd.statuses):
            await uow.wallets.lock(cmd.tenant_id)  # the lock order: the wallet before any of its holds
        # Then holds by message id (stable, so one message's statuses keep the body's order).
        for index, notice in sorted(enumerate(cmd.statuses), key=lambda pair: pair[1].message_id):
            key = (notice.message_id, str(notice.status))
            if key not in seen:
                seen.add(key)
                applied[index] = await _apply(cmd.tenant_id, notice, uow, rt)
        events += [applied[index] for index in sorted(applied)]
    await uow.webhook_events.record(events)
    return events


async def _apply(tenant_id: str, notice: StatusNotice, uow: UnitOfWork, rt: Runtime) -> WebhookEvent:
    locked = await uow.holds.lock(tenant_id, notice.message_id, costs_at=notice.timestamp)
    charged = locked is None and bool(await uow.wallets.charged(tenant_id, [notice.message_id]))
    decision = decide(notice.status, None if locked is None else locked.hold, rt.clock.now(), charged)
    if decision.action is Action.CHARGE_UNHELD:
        return await _charge_unheld(tenant_id, notice, uow, rt)
    if decision.action is Action.NOTHING or locked is None:
        return _event(tenant_id, notice, rt, Outcome.IGNORED, decision.reason)
    if decision.action is Action.SETTLE:
        return await _settle(tenant_id, notice, locked, uow, rt)
    if decision.action is Action.VOID:
        hold = await void_locked(locked, uow, rt)
        return _event(tenant_id, notice, rt, Outcome.APPLIED, hold_id=hold.id)
    return await _charge_released(tenant_id, notice, locked, uow, rt)


async def _settle(
    tenant_id: str, notice: StatusNotice, locked: LockedHold, uow: UnitOfWork, rt: Runtime
) -> WebhookEvent:
    """Settle the open hold by Meta's word; a category we do not know, or one the hold's card cannot price in its
    market, settles at the hold's own price (Meta's pricing type and `billable` still apply) and says why."""
    category, reason = _meta_category(notice)
    pricing_type = _known_type(notice)
    try:
        price = await settlement_price(locked.hold, category, pricing_type, notice.billable, uow)
    except NotPricedError:
        reason = Reason.META_CATEGORY_NOT_PRICED
        price = await settlement_price(locked.hold, None, pricing_type, notice.billable, uow)
        category = None
    said = meta_word(locked.hold, category=category, pricing_type=pricing_type, billable=notice.billable)
    hold = await settle_locked(locked, price, uow, rt, said=said, message_at=notice.timestamp)
    return _event(tenant_id, notice, rt, Outcome.APPLIED, reason, hold_id=hold.id, transaction_id=hold.transaction_id)


async def _charge_released(
    tenant_id: str, notice: StatusNotice, locked: LockedHold, uow: UnitOfWork, rt: Runtime
) -> WebhookEvent:
    """Delivered after all: a voided or expired hold is charged once at its own price when `available` covers it
    (else `unmatched`, `no_hold`); the hold keeps its status and gains `charged` and `transaction_id`."""
    hold, funds = locked.hold, locked.funds
    now = rt.clock.now()
    if hold.expire(now):  # open past its expires_at: expired first, its money released
        await uow.holds.save_released(hold)
        funds = funds.after_release(hold.amount)
    if not funds.covers(hold.amount):
        return _event(tenant_id, notice, rt, Outcome.UNMATCHED, Reason.NO_HOLD, hold_id=hold.id)
    at = notice.timestamp
    said = meta_word(
        hold, category=_meta_category(notice)[0], pricing_type=_known_type(notice), billable=notice.billable
    )
    cost = await message_cost(tenant_id, hold.quote.country, hold.category, hold.window, said, at, uow, locked)
    charge = Posting.charge(
        rt.ids.new_id(),
        tenant_id,
        hold.amount,
        hold.message_id,
        f"WhatsApp {hold.category} message ({hold.market}), delivered after its hold was released",
        now,
        PriceSnapshot.of(hold.quote, hold.id, cost=cost, message_at=at),
    )
    hold.charge_released(hold.amount, charge.entry_id, message_at=at, cost=cost)
    await uow.holds.save_released_charge(hold, charge)
    await uow.margins.add(MarginLine.of_message(tenant_id, at, hold.market, hold.category.value, hold.amount, cost))
    after = funds.after_charge(hold.amount)  # from the funds before an expiry above: its money was held already
    await protect(Movement(tenant_id, locked.funds.available, after.available, locked.watch_below), uow, rt)
    return _event(tenant_id, notice, rt, Outcome.APPLIED, hold_id=hold.id, transaction_id=charge.entry_id)


async def _charge_unheld(tenant_id: str, notice: StatusNotice, uow: UnitOfWork, rt: Runtime) -> WebhookEvent:
    """Delivered without a hold: priced by the card in force at the status's time and charged when `available`
    covers it, frozen or not (a freeze stops new sending, not paying for what Meta delivered); else `unmatched`
    (`no_hold`), or why it could not be priced."""
    price = await _price_unheld(tenant_id, notice, uow, rt)
    if isinstance(price, Reason):
        return _event(tenant_id, notice, rt, Outcome.UNMATCHED, price)
    if not price.amount.is_positive:
        return _event(tenant_id, notice, rt, Outcome.APPLIED)  # free by Meta's word: nothing to charge
    at = notice.timestamp
    said = meta_word(None, category=notice.category, pricing_type=_known_type(notice), billable=notice.billable)
    cost = await message_cost(tenant_id, price.country, price.category, Window.NONE, said, at, uow)
    charge = Posting.charge(
        rt.ids.new_id(),
        tenant_id,
        price.amount,
        notice.message_id,
        f"WhatsApp {price.category} message to {price.recipient} ({price.market})",
        rt.clock.now(),
        PriceSnapshot.of(price, None, cost=cost, message_at=at),
    )
    attempt = await uow.wallets.charge_once(charge, despite_freeze=True)
    if attempt.entry is None:  # not covered; an earlier charge was ruled out above
        return _event(tenant_id, notice, rt, Outcome.UNMATCHED, Reason.NO_HOLD)
    await uow.message_counts.add_settled(tenant_id, at, price.market, price.category)
    await uow.margins.add(MarginLine.of_message(tenant_id, at, price.market, price.category.value, price.amount, cost))
    await protect(attempt.movement, uow, rt)
    return _event(tenant_id, notice, rt, Outcome.APPLIED, transaction_id=attempt.entry.id)


async def _price_unheld(tenant_id: str, notice: StatusNotice, uow: UnitOfWork, rt: Runtime) -> Quote | Reason:
    """The message's price by the card in force at the status's time, Meta's category and pricing type; else why
    there is none: `no_recipient` (Meta named none), `not_priced` (Meta said no category, no recipient we can place,
    or no card prices its country), `unknown_category`, or `meta_category_not_priced` (the card has no price for that
    category there)."""
    named = status_recipient(notice, rt.countries.country_of)  # a BSUID decides the country before a phone number
    if isinstance(named, Reason):
        return named
    recipient, country = named.masked, named.country
    if notice.category is None:
        return Reason.NOT_PRICED
    try:
        category, free_reason = parse_category(notice.category)
    except ValidationError:
        return Reason.UNKNOWN_CATEGORY
    card = await uow.rate_cards.in_force(tenant_id, notice.timestamp)
    market = None if card is None else card.market_of(country)
    if card is None or market is None:
        return Reason.NOT_PRICED
    counts = await uow.message_counts.settled(tenant_id, notice.timestamp, category, [market])
    try:
        price = quote(
            card,
            recipient=recipient,
            country=country,
            category=category,
            window=Window.NONE,
            free_reason=free_reason or FREE_PRICING_TYPES.get(notice.pricing_type or ""),
            settled_this_month=counts[market],
        )
    except NotPricedError:
        return Reason.META_CATEGORY_NOT_PRICED
    if notice.billable is False and price.free_reason is None:
        return attrs.evolve(price, amount=Money.zero(price.amount.currency), free_reason=FreeReason.FREE_ENTRY_POINT)
    return price


def _meta_category(notice: StatusNotice) -> tuple[str | None, Reason | None]:
    """Meta's category when it names one we price (None: it named none); a category Meta adds later settles as
    the hold was priced, with the reason `unknown_category` (never a refused body: Meta would redeliver it for
    days)."""
    if notice.category is None:
        return None, None
    try:
        parse_category(notice.category)
    except ValidationError:
        return None, Reason.UNKNOWN_CATEGORY
    return notice.category, None


def _known_type(notice: StatusNotice) -> str | None:
    """Meta's pricing type when the settle rules know it; a type Meta adds later prices as the hold did."""
    kind = notice.pricing_type
    return kind if kind is None or kind == "regular" or kind in FREE_PRICING_TYPES else None


def _ignored(tenant_id: str | None, ignored: IgnoredStatus, rt: Runtime) -> WebhookEvent:
    return WebhookEvent(
        rt.ids.new_id(),
        tenant_id,
        ignored.phone_number_id,
        ignored.message_id,
        ignored.status,
        Outcome.IGNORED,
        str(ignored.reason),
        rt.clock.now(),
    )


def _event(
    tenant_id: str | None,
    notice: StatusNotice,
    rt: Runtime,
    outcome: Outcome,
    reason: Reason | None = None,
    *,
    hold_id: UUID | None = None,
    transaction_id: UUID | None = None,
) -> WebhookEvent:
    return WebhookEvent(
        rt.ids.new_id(),
        tenant_id,
        notice.phone_number_id,
        notice.message_id,
        str(notice.status),
        outcome,
        None if reason is None else str(reason),
        rt.clock.now(),
        hold_id,
        transaction_id,
    )
