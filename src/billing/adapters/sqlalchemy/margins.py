"""The margin aggregate (`message_margins`, contract v3 §15): one row per tenant, UTC day of message time, price
market and category, moved by one upsert in the unit of work that settles, charges or refunds a message. Its row
lock is the last a settlement takes (the lock order: wallet, hold, counters, then this), and the report reads these
rows only, so a month's report stays flat however many messages it covers."""

from __future__ import annotations

from datetime import date
from typing import Any

from billing.adapters.sqlalchemy.base import SqlAlchemyRepository
from billing.domain.margins import GroupBy, MarginLine, MarginRow
from billing.domain.money import Money

_FIGURES = ("messages", "billed", "cost", "uncosted", "uncosted_billed")

_KEY = ("tenant_id", "day", "market", "category")


def upsert(source: str | None = None) -> str:
    """Add a line's figures (parameters `margin_tenant_id`, `margin_day`, … from `margin_params`) to its row; with
    `source`, only when that CTE answered a row (a settle folds it into its own statement: no round trip more)."""
    columns = (*_KEY, *_FIGURES)
    values = ", ".join(f"%(margin_{name})s" for name in columns)
    rows = f"VALUES ({values})" if source is None else f"SELECT {values} FROM {source}"
    return f"""
    INSERT INTO message_margins AS m ({", ".join(columns)})
    {rows}
    ON CONFLICT ({", ".join(_KEY)}) DO UPDATE
    SET {", ".join(f"{name} = m.{name} + EXCLUDED.{name}" for name in _FIGURES)}
    """


ADD = upsert()

# Each group's key as the report names it; sorted as Python sorts strings (by code point: the "C" collation).
_KEYS = {
    GroupBy.TENANT: "tenant_id",
    GroupBy.MARKET: "market",
    GroupBy.CATEGORY: "category",
    GroupBy.DAY: "to_char(day, 'YYYY-MM-DD')",
}
REPORT = {
    group: f"""
        SELECT {key} AS key, {", ".join(f"sum({name}) AS {name}" for name in _FIGURES)}
        FROM message_margins WHERE day BETWEEN %(from_day)s AND %(to_day)s
        GROUP BY 1 ORDER BY {key} COLLATE "C"
    """
    for group, key in _KEYS.items()
}


class SqlAlchemyMarginRepository(SqlAlchemyRepository):
    async def add(self, line: MarginLine) -> None:
        await self._execute_on_driver(ADD, margin_params(line))

    async def report(self, from_day: date, to_day: date, group_by: GroupBy, currency: str) -> tuple[MarginRow, ...]:
        found = await self._fetch_all_on_driver(REPORT[group_by], {"from_day": from_day, "to_day": to_day})
        return tuple(margin_row_from_row(row, currency) for row in found)


# Rows <-> domain.


def margin_line_to_row(line: MarginLine) -> dict[str, Any]:
    return {
        "tenant_id": line.tenant_id,
        "day": line.day,
        "market": line.market,
        "category": line.category,
        "messages": line.messages,
        "billed": line.billed.amount,
        "cost": line.cost.amount,
        "uncosted": line.uncosted,
        "uncosted_billed": line.uncosted_billed.amount,
    }


def margin_params(line: MarginLine) -> dict[str, Any]:
    """The row's values as `upsert`'s parameters (prefixed: a settle's statement has its own `cost`)."""
    return {f"margin_{name}": value for name, value in margin_line_to_row(line).items()}


def margin_row_from_row(row: dict[str, Any], currency: str) -> MarginRow:
    return MarginRow(
        row["key"],
        int(row["messages"]),
        Money(row["billed"], currency),
        Money(row["cost"], currency),
        int(row["uncosted"]),
        Money(row["uncosted_billed"], currency),
    )
