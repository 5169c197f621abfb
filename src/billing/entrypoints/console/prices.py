"""A rate card's price table (a row per market, a column per category): the wallet page and the card page show it."""

from __future__ import annotations

import attrs

from billing.application.caller import Caller
from billing.application.handlers.rate_cards import GetCurrentRateCard, get_current_rate_card
from billing.application.service import BillingService
from billing.domain.errors import NotFoundError
from billing.domain.pricing import ANY_COUNTRY, Category, Rate, RateCard

CATEGORY_LABELS = {
    Category.MARKETING: "Marketing",
    Category.UTILITY: "Utility",
    Category.AUTHENTICATION: "Authentication",
    Category.AUTHENTICATION_INTERNATIONAL: "Authentication (international)",
    Category.SERVICE: "Service",
}


@attrs.frozen
class PriceRow:
    market: str
    countries: tuple[str, ...]  # ISO codes mapped to the market; "*" (every other country) last
    cells: tuple[tuple[Rate, ...], ...]  # one per category of the table: its tiers, lowest first (none: no rate)


@attrs.frozen
class PriceTable:
    """A row per market, a column per category: each cell the unit price, or its tiers when it has several."""

    card: RateCard
    categories: tuple[Category, ...]
    rows: tuple[PriceRow, ...]

    @classmethod
    def of(cls, card: RateCard) -> PriceTable:
        categories = tuple(category for category in Category if any(r.category is category for r in card.rates))
        # Markets in the card's own order (its rates'), then the mapped ones it does not price.
        markets = list(dict.fromkeys(rate.market for rate in card.rates))
        markets += sorted(set(card.markets.values()) - set(markets))
        rows = []
        for market in markets:
            countries = sorted(country for country, name in card.markets.items() if name == market)
            countries.sort(key=lambda country: country == ANY_COUNTRY)
            cells = tuple(
                tuple(sorted((r for r in card.rates if r.market == market and r.category is c), key=_tier))
                for c in categories
            )
            rows.append(PriceRow(market, tuple(countries), cells))
        return cls(card, categories, tuple(rows))

    @property
    def labels(self) -> list[str]:
        return [CATEGORY_LABELS[category] for category in self.categories]

    @property
    def has_tiers(self) -> bool:
        return any(len(tiers) > 1 for row in self.rows for tiers in row.cells)

    @property
    def free_in_service_window(self) -> list[str]:
        return [CATEGORY_LABELS[c] for c in Category if c in self.card.free_in_service_window]


def _tier(rate: Rate) -> int:
    return rate.tier_from


async def card_in_force(service: BillingService, caller: Caller) -> RateCard | None:
    """The card pricing the caller's own messages now, or None."""
    try:
        return await service.execute(get_current_rate_card, GetCurrentRateCard(), caller)
    except NotFoundError:
        return None
