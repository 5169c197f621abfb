"""The margin on messages (contract v3 §15): what clinics were billed against what Meta charged the platform.

A `MarginLine` is what one message (or one refund of its charge) adds to its tenant's aggregate for the UTC day of
its message time, its price market and category; the report sums lines into `MarginRow`s grouped by tenant,
market, category or day. `margin = billed - uncosted_billed - cost`: an uncosted message's money is kept out of the
margin rather than counted as if it cost nothing.
"""

from __future__ import annotations

import calendar
import enum
from datetime import UTC, date, datetime

import attrs

from billing.domain.costs import Cost
from billing.domain.errors import ValidationError
from billing.domain.ledger import PriceSnapshot
from billing.domain.money import Money

MAX_REPORT_DAYS = 366


class GroupBy(enum.StrEnum):
    TENANT = "tenant"
    MARKET = "market"
    CATEGORY = "category"
    DAY = "day"


_GROUPS = {group.value: group for group in GroupBy}


def parse_group_by(value: object, *, field: str = "group_by") -> GroupBy:
    if value is None:
        return GroupBy.TENANT
    if isinstance(value, str) and value in _GROUPS:
        return _GROUPS[value]
    raise ValidationError.of(field, f"must be one of {', '.join(_GROUPS)}")


def report_days(from_day: date | None, to_day: date | None, today: date) -> tuple[date, date]:
    """The report's inclusive UTC days: the whole current month by default, at most 366 days, `from` <= `to`."""
    start = from_day if from_day is not None else today.replace(day=1)
    end = to_day if to_day is not None else _month_end(today)
    if start > end:
        raise ValidationError.of("to", "must not be before `from`")
    if (end - start).days + 1 > MAX_REPORT_DAYS:
        raise ValidationError.of("to", f"a report covers at most {MAX_REPORT_DAYS} days")
    return start, end


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


@attrs.frozen
class MarginLine:
    tenant_id: str
    day: date
    market: str
    category: str
    messages: int
    billed: Money
    cost: Money
    uncosted: int
    uncosted_billed: Money

    @classmethod
    def of_message(
        cls, tenant_id: str, message_at: datetime, market: str, category: str, billed: Money, cost: Cost | None
    ) -> MarginLine:
        """A message charged (or settled free) once: counted, with its cost or as uncosted."""
        zero = Money.zero(billed.currency)
        return cls(
            tenant_id,
            message_at.astimezone(UTC).date(),
            market,
            category,
            messages=1,
            billed=billed,
            cost=zero if cost is None else cost.amount,
            uncosted=1 if cost is None else 0,
            uncosted_billed=billed if cost is None else zero,
        )

    @classmethod
    def of_refund(cls, tenant_id: str, price: PriceSnapshot, charged_at: datetime, refunded: Money) -> MarginLine:
        """A refund of a message's charge, on its message's day (a past report can change): less billed; the cost
        stays (Meta still charged it)."""
        zero = Money.zero(refunded.currency)
        message_at = price.message_at or charged_at
        return cls(
            tenant_id,
            message_at.astimezone(UTC).date(),
            price.market,
            price.category.value,
            messages=0,
            billed=-refunded,
            cost=zero,
            uncosted=0,
            uncosted_billed=-refunded if price.cost is None else zero,
        )


@attrs.frozen
class MarginRow:
    """One group's figures (or the report's total)."""

    key: str
    messages: int
    billed: Money
    cost: Money
    uncosted: int
    uncosted_billed: Money

    @property
    def margin(self) -> Money:
        return self.billed - self.uncosted_billed - self.cost


@attrs.frozen
class MarginReport:
    currency: str
    from_day: date
    to_day: date
    group_by: GroupBy
    rows: tuple[MarginRow, ...]

    @property
    def total(self) -> MarginRow:
        zero = Money.zero(self.currency)
        return MarginRow(
            "total",
            sum((row.messages for row in self.rows), 0),
            sum((row.billed for row in self.rows), zero),
            sum((row.cost for row in self.rows), zero),
            sum((row.uncosted for row in self.rows), 0),
            sum((row.uncosted_billed for row in self.rows), zero),
        )


def key_of(line: MarginLine, group_by: GroupBy) -> str:
    """A line's group: its tenant, market, category or day (`YYYY-MM-DD`)."""
    if group_by is GroupBy.TENANT:
        return line.tenant_id
    if group_by is GroupBy.MARKET:
        return line.market
    if group_by is GroupBy.CATEGORY:
        return line.category
    return line.day.isoformat()


def summed(lines: list[MarginLine], group_by: GroupBy, currency: str) -> tuple[MarginRow, ...]:
    """Lines summed by group, sorted by key (the memory adapter's report; PostgreSQL groups in SQL)."""
    zero = Money.zero(currency)
    groups: dict[str, MarginRow] = {}
    for line in lines:
        key = key_of(line, group_by)
        row = groups.get(key, MarginRow(key, 0, zero, zero, 0, zero))
        groups[key] = MarginRow(
            key,
            row.messages + line.messages,
            row.billed + line.billed,
            row.cost + line.cost,
            row.uncosted + line.uncosted,
            row.uncosted_billed + line.uncosted_billed,
        )
    return tuple(groups[key] for key in sorted(groups))
