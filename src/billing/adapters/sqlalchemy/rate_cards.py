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
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.adapters.sqlalchemy.base import Row, SqlAlchemyRepository
from billing.adapters.sqlalchemy.tables import cost_cards, default_rate_cards, rate_cards
from billing.application.pagination import Page, PageRequest
from billing.domain.events import DomainEvent
from billing.domain.money import Money
from billing.domain.pricing import CardKind, Category, Rate, RateCard

_COLUMNS = [column.name for column in default_rate_cards.columns]

# The tenant's latest card in force, else the default's, in one statement (Citus: a router query, the default
# cards being a reference table on every shard).
# The cost card in force at %(at)s (contract v3 §15), as a scalar subquery of the reads that need it.
COST_CARD_IN_FORCE = """(
    SELECT id FROM cost_cards WHERE effective_from <= %(at)s
    ORDER BY effective_from DESC, created_at DESC, id DESC LIMIT 1
)"""

_IN_FORCE = f"""
    SELECT id, tenant_id, {COST_CARD_IN_FORCE} AS cost_card_id FROM (
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

_COST_IN_FORCE = f"SELECT {COST_CARD_IN_FORCE} AS id"

# The tenant's month of the message time (contract v3 §16), inside the statement that reads or bumps the count: the
# settings' row is one index lookup (no row: UTC), so the hot paths pay no round trip for the time zone. The name
# was checked against PostgreSQL's reading when it was saved (wallet_settings.py). Cast to the key's CHAR(7), so that
# the primary key finds the month.
_TENANT_MONTH = """CAST(to_char(%(at)s AT TIME ZONE coalesce(
        (SELECT timezone FROM wallet_settings WHERE tenant_id = %(tenant_id)s), 'UTC'), 'YYYY-MM') AS CHAR(7))"""


def _count_statements(table: str) -> tuple[str, str]:
    """A tiers' counter's read and bump (`message_counts`, or another table of the same columns)."""
    settled = f"""
    SELECT market, settled FROM {table}
    WHERE tenant_id = %(tenant_id)s AND month = {_TENANT_MONTH}
      AND category = %(category)s AND market = ANY(%(markets)s)
"""
    add_settled = f"""
    INSERT INTO {table} (tenant_id, month, market, category, settled)
    VALUES (CAST(%(tenant_id)s AS VARCHAR), {_TENANT_MONTH}, %(market)s, %(category)s, %(count)s)
    ON CONFLICT (tenant_id, month, market, category) DO UPDATE SET settled = {table}.settled + EXCLUDED.settled
"""
    return settled, add_settled


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
    price = literal(CardKind.PRICE.value).label("kind")
    own = select(rate_cards.c.tenant_id, *(rate_cards.c[name] for name in _COLUMNS), price)
    if tenant_id is not None:
        return own.where(rate_cards.c.tenant_id == tenant_id)
    default = select(literal(None).label("tenant_id"), *default_rate_cards.columns, price)
    return union_all(own, default).subquery().select()


def _cost_cards() -> Select[Any]:
    return select(literal(None).label("tenant_id"), *cost_cards.columns, literal(CardKind.COST.value).label("kind"))


class SqlAlchemyRateCardRepository(SqlAlchemyRepository):
    """`in_force` also finds the cost card in force at its instant, kept for `cost_in_force` at the same instant in
    this unit of work (a hold prices and costs its message at one moment: one read for both)."""

    def __init__(self, connection: AsyncConnection, events: list[DomainEvent] | None = None) -> None:
        super().__init__(connection, events)
        self._cost_card_at: tuple[datetime, UUID | None] | None = None

    async def add(self, card: RateCard) -> None:
        row = card_to_row(card)
        if card.tenant_id is None:
            del row["tenant_id"]
            await self._execute(insert(cost_cards if card.is_cost else default_rate_cards), [row])
        else:
            await self._execute(insert(rate_cards), [row])

    async def get(self, card_id: UUID) -> RateCard | None:
        cards = union_all(_cards(None).subquery().select(), _cost_cards()).subquery()
        row = (await self._execute(select(cards).where(cards.c.id == card_id))).mappings().first()
        return None if row is None else card_from_row(row)

    async def list(self, tenant_id: str | None, page: PageRequest, kind: CardKind = CardKind.PRICE) -> Page[RateCard]:
        if kind is CardKind.COST and tenant_id is not None:
            return Page((), page.page, page.page_size, 0)  # no tenant has a cost card
        cards = (_cost_cards() if kind is CardKind.COST else _cards(tenant_id)).subquery()
        found, total = await self._page(
            select(cards), [cards.c.effective_from.desc(), cards.c.created_at.desc(), cards.c.id], page
        )
        return Page(tuple(card_from_row(row) for row in found), page.page, page.page_size, total)

    async def cost_in_force(self, at: datetime) -> RateCard | None:
        if self._cost_card_at is not None and self._cost_card_at[0] == at:
            card_id = self._cost_card_at[1]
        else:
            found = await self._fetch_one_on_driver(_COST_IN_FORCE, {"at": at})
            card_id = None if found is None else found["id"]
        return None if card_id is None else await self.cost_card(card_id)

    async def cost_card(self, card_id: UUID) -> RateCard | None:
        card = _PARSED_CARDS.get(card_id)
        if card is None:
            row = (await self._execute(_cost_cards().where(cost_cards.c.id == card_id))).mappings().first()
            card = None if row is None else _remember(card_from_row(row))
        return card

    async def in_force(self, tenant_id: str, at: datetime) -> RateCard | None:
        """The tenant's latest card in force, else the default's."""
        found = await self._fetch_one_on_driver(_IN_FORCE, {"tenant_id": tenant_id, "at": at})
        if found is None:
            return None
        self._cost_card_at = (at, found["cost_card_id"])
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
    """The price tiers' counts, by the tenant's month of the message time."""

    _SETTLED, _ADD_SETTLED = _count_statements("message_counts")

    async def settled(self, tenant_id: str, at: datetime, category: Category, markets: Iterable[str]) -> dict[str, int]:
        wanted = sorted(set(markets))
        counts = dict.fromkeys(wanted, 0)
        if not wanted:
            return counts
        found = await self._fetch_all_on_driver(
            self._SETTLED, {"tenant_id": tenant_id, "at": at, "category": category.value, "markets": wanted}
        )
        counts.update({row["market"]: int(row["settled"]) for row in found})
        return counts

    async def add_settled(self, tenant_id: str, at: datetime, market: str, category: Category, count: int = 1) -> None:
        params = {"tenant_id": tenant_id, "at": at, "market": market, "category": category.value, "count": count}
        await self._execute_on_driver(self._ADD_SETTLED, params)


class SqlAlchemyCostCountRepository(SqlAlchemyMessageCountRepository):
    """The cost tiers' counts (contract v3 §15): per tenant in the cost card's markets, apart from the prices'."""

    _SETTLED, _ADD_SETTLED = _count_statements("cost_message_counts")


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
        kind=CardKind(row.get("kind", CardKind.PRICE.value)),
    )
