"""Rate cards (`rate_cards` per tenant, `default_rate_cards` platform-wide) and the tiers' counters."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, insert, literal, select, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert

from billing.adapters.sqlalchemy import rows
from billing.adapters.sqlalchemy.base import SqlAlchemyRepository
from billing.adapters.sqlalchemy.tables import default_rate_cards, message_counts, rate_cards
from billing.application.pagination import Page, PageRequest
from billing.domain.pricing import Category, RateCard

_COLUMNS = [column.name for column in default_rate_cards.columns]


def _cards(tenant_id: str | None) -> Select[Any]:
    """Tenant cards and default cards as one relation (default ones with a NULL tenant_id)."""
    own = select(rate_cards.c.tenant_id, *(rate_cards.c[name] for name in _COLUMNS))
    if tenant_id is not None:
        return own.where(rate_cards.c.tenant_id == tenant_id)
    default = select(literal(None).label("tenant_id"), *default_rate_cards.columns)
    return union_all(own, default).subquery().select()


class SqlAlchemyRateCardRepository(SqlAlchemyRepository):
    async def add(self, card: RateCard) -> None:
        row = rows.card_to_row(card)
        if card.tenant_id is None:
            del row["tenant_id"]
            await self._execute(insert(default_rate_cards), [row])
        else:
            await self._execute(insert(rate_cards), [row])

    async def get(self, card_id: UUID) -> RateCard | None:
        cards = _cards(None).subquery()
        row = (await self._execute(select(cards).where(cards.c.id == card_id))).mappings().first()
        return None if row is None else rows.card_from_row(row)

    async def list(self, tenant_id: str | None, page: PageRequest) -> Page[RateCard]:
        cards = _cards(tenant_id).subquery()
        found, total = await self._page(
            select(cards), [cards.c.effective_from.desc(), cards.c.created_at.desc(), cards.c.id], page
        )
        return Page(tuple(rows.card_from_row(row) for row in found), page.page, page.page_size, total)

    async def in_force(self, tenant_id: str, at: datetime) -> RateCard | None:
        """One statement: the tenant's latest card in force, else the default's (Citus: a router query,
        the default cards being a reference table on every shard)."""
        own = (
            select(literal(0).label("preference"), rate_cards)
            .where(rate_cards.c.tenant_id == tenant_id, rate_cards.c.effective_from <= at)
            .order_by(rate_cards.c.effective_from.desc(), rate_cards.c.created_at.desc())
            .limit(1)
        )
        default = (
            select(literal(1).label("preference"), literal(None).label("tenant_id"), *default_rate_cards.columns)
            .where(default_rate_cards.c.effective_from <= at)
            .order_by(default_rate_cards.c.effective_from.desc(), default_rate_cards.c.created_at.desc())
            .limit(1)
        )
        both = union_all(own, default).subquery()
        statement = select(both).order_by(both.c.preference).limit(1)
        row = (await self._execute(statement)).mappings().first()
        return None if row is None else rows.card_from_row(row)


class SqlAlchemyMessageCountRepository(SqlAlchemyRepository):
    async def settled(self, tenant_id: str, month: str, category: Category, markets: Iterable[str]) -> dict[str, int]:
        wanted = sorted(set(markets))
        counts = dict.fromkeys(wanted, 0)
        if not wanted:
            return counts
        query = select(message_counts.c.market, message_counts.c.settled).where(
            message_counts.c.tenant_id == tenant_id,
            message_counts.c.month == month,
            message_counts.c.category == category.value,
            message_counts.c.market.in_(wanted),
        )
        counts.update({row.market: int(row.settled) for row in await self._execute(query)})
        return counts

    async def add_settled(self, tenant_id: str, month: str, market: str, category: Category, count: int = 1) -> None:
        statement = pg_insert(message_counts).values(
            tenant_id=tenant_id, month=month, market=market, category=category.value, settled=count
        )
        await self._execute(
            statement.on_conflict_do_update(
                index_elements=[
                    message_counts.c.tenant_id,
                    message_counts.c.month,
                    message_counts.c.market,
                    message_counts.c.category,
                ],
                set_={"settled": message_counts.c.settled + statement.excluded.settled},
            )
        )
