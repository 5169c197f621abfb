"""Rate cards (`rate_cards` per tenant, `default_rate_cards` platform-wide) and the tiers' counters.

Every hold, quote and settle reads the card in force and the month's counts, so those reads (and the counter's
bump) are prebuilt SQL on the driver connection, as the charge is (docs/performance.md); a card is immutable and
never deleted, so the parsed card is kept by id and the hot read fetches only which card is in force.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import Select, insert, literal, select, union_all

from billing.adapters.sqlalchemy.base import Row, SqlAlchemyRepository
from billing.adapters.sqlalchemy.tables import default_rate_cards, rate_cards
from billing.application.pagination import Page, PageRequest
from billing.domain.money import Money
from billing.domain.pricing import Category, Rate, RateCard

_COLUMNS = [column.name for column in default_rate_cards.columns]

# The tenant's latest card in force, else the default's, in one statement (Citus: a router query, the default
# cards being a reference table on every shard).
_IN_FORCE = """
    SELECT id, tenant_id FROM (
        (SELECT 0 AS preference, id, tenant_id FROM rate_cards
         WHERE tenant_id = %(tenant_id)s AND effective_from <= %(at)s
         ORDER BY effective_from DESC, created_at DESC LIMIT 1)
        UNION ALL
        (SELECT 1, id, NULL FROM default_rate_cards
         WHERE effective_from <= %(at)s
         ORDER BY effective_from DESC, created_at DESC LIMIT 1)
    ) AS cards
    ORDER BY preference LIMIT 1
"""

_SETTLED = """
    SELECT market, settled FROM message_counts
    WHERE tenant_id = %(tenant_id)s AND month = %(month)s AND category = %(category)s AND market = ANY(%(markets)s)
"""

_ADD_SETTLED = """
    INSERT INTO message_counts (tenant_id, month, market, category, settled)
    VALUES (%(tenant_id)s, %(month)s, %(market)s, %(category)s, %(count)s)
    ON CONFLICT (tenant_id, month, market, category) DO UPDATE SET settled = message_counts.settled + EXCLUDED.settled
"""

# Cards kept parsed, by id (a UUID: unique whatever the database), oldest forgotten first.
_PARSED_CARDS: dict[UUID, RateCard] = {}
_PARSED_CARDS_KEPT = 256


def _remember(card: RateCard) -> RateCard:
    _PARSED_CARDS[card.id] = card
    if len(_PARSED_CARDS) > _PARSED_CARDS_KEPT:
        _PARSED_CARDS.pop(next(iter(_PARSED_CARDS)), None)
    return card


def _cards(tenant_id: str | None) -> Select[Any]:
    """Tenant cards and default cards as one relation (default ones with a NULL tenant_id)."""
    own = select(rate_cards.c.tenant_id, *(rate_cards.c[name] for name in _COLUMNS))
    if tenant_id is not None:
        return own.where(rate_cards.c.tenant_id == tenant_id)
    default = select(literal(None).label("tenant_id"), *default_rate_cards.columns)
    return union_all(own, default).subquery().select()


class SqlAlchemyRateCardRepository(SqlAlchemyRepository):
    async def add(self, card: RateCard) -> None:
        row = card_to_row(card)
        if card.tenant_id is None:
            del row["tenant_id"]
            await self._execute(insert(default_rate_cards), [row])
        else:
            await self._execute(insert(rate_cards), [row])

    async def get(self, card_id: UUID) -> RateCard | None:
        cards = _cards(None).subquery()
        row = (await self._execute(select(cards).where(cards.c.id == card_id))).mappings().first()
        return None if row is None else card_from_row(row)

    async def list(self, tenant_id: str | None, page: PageRequest) -> Page[RateCard]:
        cards = _cards(tenant_id).subquery()
        found, total = await self._page(
            select(cards), [cards.c.effective_from.desc(), cards.c.created_at.desc(), cards.c.id], page
        )
        return Page(tuple(card_from_row(row) for row in found), page.page, page.page_size, total)

    async def in_force(self, tenant_id: str, at: datetime) -> RateCard | None:
        """The tenant's latest card in force, else the default's."""
        found = await self._fetch_one_on_driver(_IN_FORCE, {"tenant_id": tenant_id, "at": at})
        if found is None:
            return None
        card = _PARSED_CARDS.get(found["id"])
        if card is None:
            if found["tenant_id"] is None:
                query = select(default_rate_cards).where(default_rate_cards.c.id == found["id"])
            else:
                query = select(rate_cards).where(rate_cards.c.tenant_id == tenant_id, rate_cards.c.id == found["id"])
            row = (await self._execute(query)).mappings().one()
            card = _remember(card_from_row({"tenant_id": None, **row}))
        return card

    async def in_force_in_scope(self, tenant_id: str | None, at: datetime) -> RateCard | None:
        table = default_rate_cards if tenant_id is None else rate_cards
        query = select(table).where(table.c.effective_from <= at)
        if tenant_id is not None:
            query = query.where(table.c.tenant_id == tenant_id)
        latest = query.order_by(table.c.effective_from.desc(), table.c.created_at.desc(), table.c.id.desc()).limit(1)
        row = (await self._execute(latest)).mappings().first()
        return None if row is None else card_from_row({"tenant_id": None, **row})


class SqlAlchemyMessageCountRepository(SqlAlchemyRepository):
    async def settled(self, tenant_id: str, month: str, category: Category, markets: Iterable[str]) -> dict[str, int]:
        wanted = sorted(set(markets))
        counts = dict.fromkeys(wanted, 0)
        if not wanted:
            return counts
        found = await self._fetch_all_on_driver(
            _SETTLED, {"tenant_id": tenant_id, "month": month, "category": category.value, "markets": wanted}
        )
        counts.update({row["market"]: int(row["settled"]) for row in found})
        return counts

    async def add_settled(self, tenant_id: str, month: str, market: str, category: Category, count: int = 1) -> None:
        params = {"tenant_id": tenant_id, "month": month, "market": market, "category": category.value, "count": count}
        await self._execute_on_driver(_ADD_SETTLED, params)


# Rows <-> domain: every field written and read back (tests/integration/test_reloading.py reloads them).


def card_to_row(card: RateCard) -> dict[str, Any]:
    return {
        "tenant_id": card.tenant_id,
        "id": card.id,
        "name": card.name,
        "currency": card.currency,
        "effective_from": card.effective_from,
        "free_in_service_window": sorted(category.value for category in card.free_in_service_window),
        "markets": dict(card.markets),
        "rates": [
            {
                "market": rate.market,
                "category": rate.category.value,
                "unit_price": str(rate.unit_price.amount),
                "tier_from": rate.tier_from,
            }
            for rate in card.rates
        ],
        "created_by": card.created_by,
        "created_at": card.created_at,
    }


def card_from_row(row: Row) -> RateCard:
    currency = row["currency"]
    return RateCard(
        id=row["id"],
        name=row["name"],
        currency=currency,
        effective_from=row["effective_from"],
        tenant_id=row["tenant_id"],
        free_in_service_window=frozenset(Category(value) for value in row["free_in_service_window"]),
        markets=dict(row["markets"]),
        rates=tuple(
            Rate(
                rate["market"],
                Category(rate["category"]),
                Money(Decimal(rate["unit_price"]), currency),
                rate["tier_from"],
            )
            for rate in row["rates"]
        ),
        created_by=row["created_by"],
        created_at=row["created_at"],
    )
