"""What protects a clinic's wallet once it spends (contract v2 §10): low-balance alerts and the runway.

A **low-balance alert** is recorded when a move lowers `available` across a configured level (`WalletSettings.
levels_crossed`); the level re-arms by itself, since only a move from >= L to < L crosses it again.

The **runway** says how long `available` lasts at the recent pace: `daily_spend` is the message charges less their
refunds over the last 14 days, / 14, rounded half-up to 4 digits; `runway_days` is `available / daily_spend`
rounded down to one decimal, None without spend. Spend is kept per hour by the ledger's writes, so the window is
the 336 hourly buckets that start within the last 14 x 24 hours: reading it never scans the ledger.

    AUTO_REQUESTER is who asks for an automatic top-up: a reserved user id no token may carry.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from uuid import UUID

import attrs

from billing.domain.events import DomainEvent, LowBalance
from billing.domain.money import Money

AUTO_REQUESTER = "auto"
RUNWAY_WINDOW = timedelta(days=14)
_WINDOW_DAYS = Decimal(14)
_SPEND_STEP = Decimal("0.0001")
_DAYS_STEP = Decimal("0.1")


@attrs.frozen
class LowBalanceAlert:
    id: UUID
    tenant_id: str
    level: Money
    available: Money  # just after the move that crossed the level
    created_at: datetime
    # LowBalance once raised, heard by the unit of work once the alert is written (`pull_events`).
    events: list[DomainEvent] = attrs.field(factory=list, eq=False, repr=False)

    @classmethod
    def raised(cls, alert_id: UUID, tenant_id: str, level: Money, available: Money, at: datetime) -> LowBalanceAlert:
        """A new alert: `available` fell below `level`."""
        alert = cls(alert_id, tenant_id, level, available, at)
        alert.events.append(LowBalance(alert_id, tenant_id, level, available, at))
        return alert

    def pull_events(self) -> list[DomainEvent]:
        events = list(self.events)
        self.events.clear()  # frozen: the list is emptied, not replaced
        return events


def spend_hour(at: datetime) -> datetime:
    """The hourly bucket a ledger row's spend is counted in."""
    return at.replace(minute=0, second=0, microsecond=0)


def spend_window_start(now: datetime) -> datetime:
    """The earliest bucket start counted at `now`: buckets that start within the last 14 x 24 hours."""
    return now - RUNWAY_WINDOW


@attrs.frozen
class Runway:
    daily_spend: Money
    days: Decimal | None  # None: nothing spent in the window, the runway is unbounded

    @classmethod
    def of(cls, available: Money, spent: Money) -> Runway:
        """From the window's spend (message charges less their refunds); refunds beyond the charges count as 0."""
        daily = max(spent.amount, Decimal(0)) / _WINDOW_DAYS
        daily_spend = Money(daily.quantize(_SPEND_STEP, rounding=ROUND_HALF_UP), available.currency)
        if not daily_spend.is_positive:
            return cls(daily_spend, None)
        days = (available.amount / daily_spend.amount).quantize(_DAYS_STEP, rounding=ROUND_DOWN)
        return cls(daily_spend, days)

    @classmethod
    def none(cls, currency: str) -> Runway:
        return cls(Money.zero(currency), None)
