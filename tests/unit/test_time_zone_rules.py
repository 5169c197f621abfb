"""The tenant's time zone in the domain (contract v3 §16): which names a clinic may choose, and the month a message
time falls in there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.errors import ValidationError
from billing.domain.money import Money
from billing.domain.wallet_settings import WalletSettings, known_time_zones, month_in, time_zone_problem

AT = datetime(2026, 12, 1, tzinfo=UTC)
ZONES = sorted(known_time_zones())


def create(timezone: str = "UTC", reserve: str = "0") -> WalletSettings:
    return WalletSettings.create("clinic-a", Money(Decimal(reserve), "USD"), "USD", "u", AT, timezone=timezone)


@pytest.mark.parametrize("name", ["UTC", "Asia/Kolkata", "America/New_York", "Europe/Paris", "Etc/GMT+5"])
def test_an_iana_name_is_a_time_zone(name: str) -> None:
    assert time_zone_problem(name) is None
    assert create(name).timezone == name


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Olympus",  # no such zone
        "utc",  # names are exact
        "Asia/Kolkata ",
        "",
        "../x",  # a path, not a name
        "/usr/share/zoneinfo/UTC",
        "localtime",  # the host's own zone
        "Factory",  # "local time unknown"
        "CET",  # also an abbreviation without summer time
        "Asia/Kolkata\x00",
        5,
        None,
    ],
)
def test_anything_else_is_refused_naming_the_field(name: object) -> None:
    problem = time_zone_problem(name)

    assert problem is not None
    assert problem.field == "timezone"
    assert "Mars" not in problem.message  # the value is never echoed


def test_settings_default_to_utc() -> None:
    assert WalletSettings.defaults("clinic-a", "USD").timezone == "UTC"
    assert WalletSettings.create("clinic-a", Money(Decimal(0), "USD"), "USD", "u", AT).timezone == "UTC"


def test_an_unknown_time_zone_is_listed_with_every_other_problem() -> None:
    with pytest.raises(ValidationError) as refused:
        create("Mars/Olympus", reserve="-1")

    assert {error.field for error in refused.value.errors} == {"timezone", "marketing_reserve"}


def test_the_list_of_names_is_read_once() -> None:
    assert known_time_zones() is known_time_zones()


@pytest.mark.parametrize(
    ("at", "zone", "month"),
    [
        (datetime(2026, 10, 31, 19, 0, tzinfo=UTC), "Asia/Kolkata", "2026-11"),  # 00:30 on 1 November there
        (datetime(2026, 10, 31, 18, 29, tzinfo=UTC), "Asia/Kolkata", "2026-10"),  # 23:59
        (datetime(2026, 10, 31, 19, 0, tzinfo=UTC), "UTC", "2026-10"),
        (datetime(2026, 12, 1, 2, 0, tzinfo=UTC), "America/New_York", "2026-11"),  # 21:00 on 30 November
        (datetime(2026, 11, 30, 21, 0, tzinfo=timezone(timedelta(hours=-5))), "UTC", "2026-12"),  # the instant counts
        (datetime(2026, 12, 31, 23, 0, tzinfo=UTC), "Pacific/Kiritimati", "2027-01"),  # UTC+14: a new year
    ],
)
def test_the_month_is_the_calendar_month_of_the_instant_in_the_time_zone(at: datetime, zone: str, month: str) -> None:
    assert month_in(at, zone) == month


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        month_in(datetime(2026, 11, 1), "UTC")


INSTANTS = st.datetimes(min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30), timezones=st.just(UTC))


@given(at=INSTANTS, zone=st.sampled_from(ZONES))
def test_the_month_is_the_local_wall_clocks_and_at_most_one_month_from_utcs(at: datetime, zone: str) -> None:
    local = at.astimezone(ZoneInfo(zone))
    month = month_in(at, zone)

    assert month == f"{local.year:04d}-{local.month:02d}"
    months_from_utc = (local.year - at.year) * 12 + local.month - at.month
    assert months_from_utc in (-1, 0, 1)


@given(
    at=INSTANTS, later=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)), zone=st.sampled_from(ZONES)
)
def test_months_never_run_backwards(at: datetime, later: timedelta, zone: str) -> None:
    """A later message is never counted in an earlier month (summer time, leaps and all)."""
    assert month_in(at + later, zone) >= month_in(at, zone)


@given(at=INSTANTS, offset_minutes=st.integers(min_value=-14 * 60, max_value=14 * 60))
def test_the_same_instant_in_any_offset_has_the_same_month(at: datetime, offset_minutes: int) -> None:
    shown = at.astimezone(timezone(timedelta(minutes=offset_minutes)))

    assert month_in(shown, "Asia/Kolkata") == month_in(at, "Asia/Kolkata")
    assert month_in(shown, "UTC") == at.strftime("%Y-%m")
