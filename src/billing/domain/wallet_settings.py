"""A wallet's settings (contract v2 §10): what the clinic chose to protect itself with.

- `marketing_reserve` keeps the clinical lane open: a marketing hold may not take `available` below it, so a
  marketing blast never starves appointment reminders and one-time passwords.
- `low_balance_levels` (at most 5, distinct, > 0): a move that takes `available` from >= L to < L raises one alert.
- `auto_topup`: when enabled and a move leaves `available` below `threshold`, a top-up request for
  `target - available` is made for the clinic (see `AutoTopup.request_amount`).
- `timezone` (contract v3 §16): an IANA name, default `"UTC"`; tiers count calendar months of message time in it
  (`month_in`), as Meta resets them at midnight in the business account's time zone.

Amounts have the currency's minor digits. A tenant that never saved its settings has the defaults. The rules of a
PUT are checked together, so one answer lists every problem.

Decisions the contract leaves open:
- Levels keep the order they were given in (a PUT and the GET after it answer the same list).
- A disabled automatic top-up keeps the amounts it was given (checked as amounts only), so a clinic can switch it
  off and on without typing them again; the rules between them apply once it is enabled.
- A time zone is a name of the IANA database as the standard library's `zoneinfo` lists it (the `tzdata` package
  where the system has none), exactly as spelt there. Refused besides: the host's own `localtime` and `Factory`
  (no place's time), and `CET`, `EET`, `MET` and `WET`, which are also fixed-offset abbreviations (PostgreSQL reads
  them so, without summer time): a clinic names a place instead (`Europe/Paris`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

import attrs

from billing.domain.errors import FieldError, ValidationError
from billing.domain.money import Money, minor_digits

MAX_LEVELS = 5
DEFAULT_TIMEZONE = "UTC"
TIMEZONE = "timezone"  # the field, as errors name it
# Listed by zoneinfo, yet no place's time (the host's own zone; "local time unknown"), or read by PostgreSQL as the
# fixed-offset abbreviation of the same name (without the zone's summer time).
_NOT_A_PLACE = frozenset({"localtime", "posixrules", "Factory"})
_ABBREVIATIONS = frozenset({"CET", "EET", "MET", "WET"})


@attrs.frozen
class AutoTopup:
    enabled: bool = False
    threshold: Money | None = None
    target: Money | None = None
    monthly_cap: Money | None = None

    def problems(self, topup_minimum: Money) -> list[FieldError]:
        """Enabled: every amount given, `target > threshold >= 0`, and `target - threshold` and `monthly_cap`
        at least the top-up minimum (a smaller request could never be made)."""
        if not self.enabled:
            return []
        missing = [
            FieldError(f"auto_topup.{name}", "is required when the automatic top-up is enabled")
            for name in ("threshold", "target", "monthly_cap")
            if getattr(self, name) is None
        ]
        if missing:
            return missing
        threshold, target, cap = self.threshold, self.target, self.monthly_cap
        assert threshold is not None
        assert target is not None
        assert cap is not None
        found: list[FieldError] = []
        if target <= threshold:
            found.append(FieldError("auto_topup.target", "must be greater than auto_topup.threshold"))
        elif target - threshold < topup_minimum:
            message = f"must exceed the threshold by at least the top-up minimum {topup_minimum}"
            found.append(FieldError("auto_topup.target", message))
        if cap < topup_minimum:
            found.append(FieldError("auto_topup.monthly_cap", f"must be at least the top-up minimum {topup_minimum}"))
        return found

    def is_due(self, available: Money) -> bool:
        return self.enabled and self.threshold is not None and available < self.threshold

    def request_amount(
        self,
        available: Money,
        minimum: Money,
        maximum: Money,
        requested_this_month: Money,
        debt: Money | None = None,
    ) -> Money | None:
        """The automatic request's amount when `available` is below the threshold: `target - available + debt`
        (contract v3 §19) rounded up to the minor unit, within the top-up bounds and what the monthly cap leaves
        (None when that is less than the minimum, or when nothing is due)."""
        if not self.is_due(available) or self.target is None or self.monthly_cap is None:
            return None
        step = Decimal(1).scaleb(-minor_digits(available.currency))
        owed = Money.zero(available.currency) if debt is None else debt
        wanted = self.target - available + owed
        wanted = Money(wanted.amount.quantize(step, rounding=ROUND_CEILING), available.currency)
        amount = min(max(wanted, minimum), maximum)
        left = self.monthly_cap - requested_this_month
        if left < minimum:
            return None
        return min(amount, left)


@attrs.frozen
class WalletSettings:
    tenant_id: str
    marketing_reserve: Money
    low_balance_levels: tuple[Money, ...] = ()
    auto_topup: AutoTopup = attrs.field(factory=AutoTopup)
    updated_by: str | None = None  # None: the defaults, never saved
    updated_at: datetime | None = None
    timezone: str = attrs.field(default=DEFAULT_TIMEZONE, kw_only=True)  # tiers' months (v3 §16)

    @classmethod
    def defaults(cls, tenant_id: str, currency: str) -> WalletSettings:
        return cls(tenant_id, Money.zero(currency))

    @classmethod
    def create(
        cls,
        tenant_id: str,
        marketing_reserve: Money,
        currency: str,
        by: str,
        at: datetime,
        *,
        low_balance_levels: Sequence[Money] = (),
        auto_topup: AutoTopup | None = None,
        topup_minimum: Money | None = None,
        timezone: str = DEFAULT_TIMEZONE,
    ) -> WalletSettings:
        """The settings a PUT replaces the old ones with; every amount held to its rules, the time zone known,
        every problem listed."""
        auto_topup = auto_topup or AutoTopup()
        minimum = topup_minimum or Money.zero(currency)
        problems: list[FieldError] = []
        if (zone_problem := time_zone_problem(timezone)) is not None:
            problems.append(zone_problem)
        reserve = _amount(marketing_reserve, currency, "marketing_reserve", problems, allow_zero=True)
        levels = _levels(low_balance_levels, currency, problems)
        malformed = len(problems)
        auto = AutoTopup(
            auto_topup.enabled is True,
            _optional_amount(auto_topup.threshold, currency, "auto_topup.threshold", problems, allow_zero=True),
            _optional_amount(auto_topup.target, currency, "auto_topup.target", problems),
            _optional_amount(auto_topup.monthly_cap, currency, "auto_topup.monthly_cap", problems),
        )
        if len(problems) == malformed:  # the rules between the amounts, once each of them is one
            problems.extend(auto.problems(minimum))
        if problems:
            raise ValidationError(problems)
        assert reserve is not None
        return cls(tenant_id, reserve, levels, auto, by, at, timezone=timezone)

    @property
    def watch_below(self) -> Money | None:
        """The highest `available` at which a protection may act: a move leaving `available` at or above it needs
        no look at the settings (the hot paths read only this, from the settings' row)."""
        marks = list(self.low_balance_levels)
        if self.auto_topup.enabled and self.auto_topup.threshold is not None:
            marks.append(self.auto_topup.threshold)
        return max(marks, default=None)

    def levels_crossed(self, before: Money, after: Money) -> list[Money]:
        """The levels L that a move from `before` to `after` crossed downwards (before >= L > after)."""
        return [level for level in self.low_balance_levels if before >= level > after]


@cache
def known_time_zones() -> frozenset[str]:
    """The names a clinic may choose: zoneinfo's list (read once: it walks the time zone directories), less the
    names that are no place's time or that PostgreSQL reads as abbreviations."""
    return frozenset(available_timezones()) - _NOT_A_PLACE - _ABBREVIATIONS


def time_zone_problem(name: object, field: str = TIMEZONE) -> FieldError | None:
    """Why `name` is not a time zone a clinic may choose (None when it is). The message never repeats the value."""
    if isinstance(name, str) and name in known_time_zones():
        return None
    if isinstance(name, str) and name in _ABBREVIATIONS:
        return FieldError(field, "is also an abbreviation without summer time: name a place, such as Europe/Paris")
    return FieldError(field, "must be an IANA time zone name, such as UTC, Europe/Paris or Asia/Kolkata")


def month_in(at: datetime, timezone: str) -> str:
    """The calendar month of the instant `at` in the time zone `timezone`, e.g. "2026-11": the month a tier counts
    a message in (`at` timezone-aware; `timezone` a known name)."""
    if at.tzinfo is None:
        raise ValueError("a message time must be timezone-aware")
    zone = UTC if timezone == DEFAULT_TIMEZONE else ZoneInfo(timezone)  # ZoneInfo keeps its instances
    return at.astimezone(zone).strftime("%Y-%m")


def month_boundaries(timezone: str, first_year: int = 2026, years: int = 10) -> list[datetime]:
    """Each month's first instant in `timezone` (midnight on the 1st there, in UTC) and the second before it, over
    `years` years from `first_year`: where a month is decided, for checking that another reader of the zone (the
    database) decides it alike."""
    zone = UTC if timezone == DEFAULT_TIMEZONE else ZoneInfo(timezone)
    instants: list[datetime] = []
    for index in range(12 * years):
        start = datetime(first_year + index // 12, index % 12 + 1, 1, tzinfo=zone).astimezone(UTC)
        instants += [start - timedelta(seconds=1), start]
    return instants


def _amount(
    value: Money, currency: str, field: str, problems: list[FieldError], *, allow_zero: bool = False
) -> Money | None:
    try:
        if value.currency != currency:
            raise ValidationError.of(field, f"must be in {currency}")
        exact = value.amount.normalize() if value.amount else 0
        return Money.parse(exact, currency, field=field, allow_zero=allow_zero)
    except ValidationError as error:
        problems.extend(error.errors)
        return None


def _optional_amount(
    value: Money | None, currency: str, field: str, problems: list[FieldError], *, allow_zero: bool = False
) -> Money | None:
    return None if value is None else _amount(value, currency, field, problems, allow_zero=allow_zero)


def _levels(given: Sequence[Money], currency: str, problems: list[FieldError]) -> tuple[Money, ...]:
    if len(given) > MAX_LEVELS:
        problems.append(FieldError("low_balance_levels", f"must list at most {MAX_LEVELS} levels"))
        return ()
    levels: list[Money] = []
    for index, value in enumerate(given):
        level = _amount(value, currency, f"low_balance_levels[{index}]", problems)
        if level is None:
            continue
        if level in levels:
            problems.append(FieldError(f"low_balance_levels[{index}]", f"repeats the level {level}"))
        levels.append(level)
    return tuple(levels)
