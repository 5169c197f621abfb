"""Quotes (contract v2 §8): what messages to these recipients would cost now. No money moves.

A quote reads three things whatever the number of recipients: the card in force, the month's settled
counts of the markets involved (the tiers' n), and the wallet (for `sufficient`)."""

from __future__ import annotations

from uuid import UUID

import attrs

from billing.application.business_numbers import require_business_numbers
from billing.application.caller import Caller
from billing.application.ports import UnitOfWork
from billing.application.recipients import read_recipients
from billing.application.runtime import Runtime, requires, viewer
from billing.domain.errors import (
    InsufficientFundsError,
    LaneClosedError,
    NotPricedError,
    ValidationError,
    WalletFrozenError,
)
from billing.domain.hold import Funds
from billing.domain.money import Money
from billing.domain.pricing import Category, FreeReason, Quote, RateCard, Window, quote
from billing.domain.recipients import Recipient

MAX_RECIPIENTS = 1000


@attrs.frozen
class QuoteMessages:
    category: Category
    recipients: tuple[str, ...]
    window: Window = Window.NONE
    tenant_id: str | None = None  # root only: another tenant's prices
    free_reason: FreeReason | None = None  # Meta's referral_conversion: free whatever the window
    phone_number_id: str | None = None  # the business number that would send them (v3 §16)


@attrs.frozen
class QuoteSet:
    tenant_id: str
    currency: str
    rate_card_id: UUID
    items: tuple[Quote, ...]
    total: Money
    available: Money
    sufficient: bool
    phone_number_id: str | None = None


def recipients_of(recipients: tuple[str, ...], rt: Runtime) -> list[Recipient]:
    """Each recipient read (a phone number, or a business-scoped user id by its prefix), or one 400 naming every
    invalid one by its index."""
    if not 1 <= len(recipients) <= MAX_RECIPIENTS:
        raise ValidationError.of("recipients", f"must list 1-{MAX_RECIPIENTS} recipients")
    return read_recipients(recipients, rt, lambda index: f"recipients[{index}]")


def markets_of(card: RateCard, countries: list[str]) -> list[str]:
    markets = []
    for country in countries:
        market = card.market_of(country)
        if market is None:
            raise NotPricedError(f"the rate card in force prices no messages to {country}")
        markets.append(market)
    return markets


@requires(viewer)
async def quote_messages(cmd: QuoteMessages, caller: Caller, uow: UnitOfWork, rt: Runtime) -> QuoteSet:
    tenant_id = rt.auth.tenant_of(caller, cmd.tenant_id, "rate card", hidden=True)
    recipients = recipients_of(cmd.recipients, rt)
    await require_business_numbers(tenant_id, [cmd.phone_number_id], uow, field=lambda _, name: name)
    countries = [recipient.country for recipient in recipients]
    now = rt.clock.now()
    card = await uow.rate_cards.in_force(tenant_id, now)
    if card is None:
        raise NotPricedError(f"no rate card is in force for {tenant_id}")
    markets = markets_of(card, countries)
    counts = await uow.message_counts.settled(tenant_id, now, cmd.category, markets)
    items = tuple(
        quote(
            card,
            recipient=recipient.masked,
            country=recipient.country,
            category=cmd.category,
            window=cmd.window,
            free_reason=cmd.free_reason,
            settled_this_month=counts[market],
        )
        for recipient, market in zip(recipients, markets, strict=True)
    )
    total = sum((item.amount for item in items), Money.zero(card.currency))
    funds = await uow.wallets.funds(tenant_id)
    if funds is None:
        await uow.wallets.get_or_open(tenant_id, card.currency, now)
        funds = await uow.wallets.funds(tenant_id)
    assert funds is not None
    sufficient = _sufficient(funds, items)
    return QuoteSet(tenant_id, card.currency, card.id, items, total, funds.available, sufficient, cmd.phone_number_id)


def _sufficient(funds: Funds, items: tuple[Quote, ...]) -> bool:
    """Whether holds for all of them would succeed now: the freeze, funds and lane rules of a batch."""
    try:
        funds.check_holds((item.amount, item.category) for item in items)
    except (WalletFrozenError, InsufficientFundsError, LaneClosedError):
        return False
    return True
