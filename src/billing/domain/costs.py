"""What a message cost the platform (contract v3 §15): Meta's price for it, on the cost card in force at its message
time. Priced by the same `quote` as a price, on the cost card's own markets, tiers and window rule; what Meta says
at settlement (a free pricing type, a free category, `billable: false`, or `regular`) decides the cost as it decides
the price. No cost card, or no rate for the message's market and category: the message is uncosted (None), and a
settlement never fails or waits for a cost."""

from __future__ import annotations

from uuid import UUID

import attrs

from billing.domain.errors import NotPricedError
from billing.domain.money import Money
from billing.domain.pricing import Category, FreeReason, RateCard, Window, quote


@attrs.frozen
class Cost:
    """A costed message: what it cost, at which unit price, on which cost card, tier and market."""

    amount: Money
    unit_price: Money
    card_id: UUID
    tier: int
    market: str

    @property
    def counts_in_tier(self) -> bool:
        """Meta counts only charged messages in its tiers."""
        return self.amount.is_positive


@attrs.frozen
class MetaWord:
    """What Meta said of a message at settlement: free (and why), billed (`regular` or `billable: true`), or
    nothing (the hold's window decides, on each card by its own rule)."""

    free_reason: FreeReason | None = None
    billed: bool = False

    def window(self, window: Window) -> Window:
        """The window each card's rule sees: none when Meta said the message is billed."""
        return Window.NONE if self.billed else window


def cost_of(
    card: RateCard | None,
    *,
    country: str,
    category: Category,
    window: Window,
    meta: MetaWord,
    counted_this_month: int,
) -> Cost | None:
    """The message's cost on `card` (a cost card), the n = 1 + `counted_this_month`-th costed message of its tenant's
    month in the card's market and `category`; None when uncosted."""
    if card is None:
        return None
    try:
        priced = quote(
            card,
            recipient="",
            country=country,
            category=category,
            window=meta.window(window),
            free_reason=meta.free_reason,
            settled_this_month=counted_this_month,
        )
    except NotPricedError:
        return None
    return Cost(priced.amount, priced.unit_price, card.id, priced.tier, priced.market)


NOTHING_SAID = MetaWord()  # the settle route's: no word from Meta, each card's window rule decides
