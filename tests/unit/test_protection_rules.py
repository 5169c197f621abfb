"""The protections' rules in the domain (contract v2 §10): which levels a move crosses, the automatic request's amount
and the runway's rounding, with properties where an invariant can be stated."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.errors import ValidationError
from billing.domain.money import Money
from billing.domain.protections import Runway
from billing.domain.wallet_settings import AutoTopup, WalletSettings

AT = datetime(2026, 12, 1, tzinfo=UTC)
MINIMUM = Money(Decimal("1.00"), "USD")
MAXIMUM = Money(Decimal("1000000.00"), "USD")


def usd(text: str | Decimal) -> Money:
    return Money(Decimal(text), "USD")


def with_levels(*levels: str) -> WalletSettings:
    return WalletSettings.create(
        "clinic-a", usd("0"), "USD", "u", AT, low_balance_levels=[usd(level) for level in levels]
    )


cents = st.integers(min_value=0, max_value=100_000).map(lambda n: usd(Decimal(n).scaleb(-2)))
message_amounts = st.integers(min_value=0, max_value=10**8).map(lambda n: usd(Decimal(n).scaleb(-4)))


def test_a_move_crosses_the_levels_between_before_inclusive_and_after_exclusive() -> None:
    settings = with_levels("10", "5", "1")

    assert settings.levels_crossed(usd("10"), usd("4.9999")) == [usd("10"), usd("5")]
    assert settings.levels_crossed(usd("9.99"), usd("5")) == []
    assert settings.levels_crossed(usd("5"), usd("0")) == [usd("5"), usd("1")]


@given(st.lists(message_amounts, min_size=1, max_size=40), st.lists(cents.filter(lambda m: m.is_positive), max_size=5))
def test_crossings_per_move_are_the_armed_models_alerts(path: list[Money], raw_levels: list[Money]) -> None:
    """Alerting on each move that crosses (>= L before, < L after) equals a model that arms a level while
    available >= L and fires once when it falls below: one alert per crossing, re-armed by going back up."""
    levels = list(dict.fromkeys(raw_levels))
    settings = WalletSettings.create("t", usd("0"), "USD", "u", AT, low_balance_levels=levels)
    armed = {level: path[0] >= level for level in levels}
    by_moves: list[Money] = []
    by_model: list[Money] = []
    for before, after in itertools.pairwise(path):
        by_moves.extend(settings.levels_crossed(before, after))
        for level in levels:
            if armed[level] and after < level:
                by_model.append(level)
            armed[level] = after >= level
    assert sorted(by_moves, key=lambda m: m.amount) == sorted(by_model, key=lambda m: m.amount)


def test_watch_below_is_the_highest_level_or_enabled_threshold() -> None:
    auto = AutoTopup(True, usd("20"), usd("100"), usd("500"))
    disabled = AutoTopup(False, usd("20"), usd("100"), usd("500"))

    assert with_levels("10", "5").watch_below == usd("10")
    assert WalletSettings.create("t", usd("0"), "USD", "u", AT, auto_topup=auto).watch_below == usd("20")
    assert WalletSettings.create("t", usd("0"), "USD", "u", AT, auto_topup=disabled).watch_below is None
    assert WalletSettings.defaults("t", "USD").watch_below is None


def test_levels_are_validated_together() -> None:
    with pytest.raises(ValidationError) as refused:
        with_levels("10", "10.00", "-1")

    assert [error.field for error in refused.value.errors] == ["low_balance_levels[1]", "low_balance_levels[2]"]


@given(
    available=message_amounts,
    threshold=cents,
    gap=cents.filter(lambda m: m >= MINIMUM),
    cap=cents.filter(lambda m: m >= MINIMUM),
    requested=cents,
)
def test_the_automatic_amount_is_what_is_missing_within_the_bounds_and_the_cap(
    available: Money, threshold: Money, gap: Money, cap: Money, requested: Money
) -> None:
    auto = AutoTopup(True, threshold, threshold + gap, cap)

    amount = auto.request_amount(available, MINIMUM, MAXIMUM, requested)

    if available >= threshold or cap - requested < MINIMUM:
        assert amount is None
        return
    assert amount is not None
    assert amount.amount == amount.amount.quantize(Decimal("0.01"))  # the currency's minor unit
    assert MINIMUM <= amount <= MAXIMUM
    assert amount <= cap - requested
    wanted = (threshold + gap) - available
    if amount < cap - requested and amount < MAXIMUM:
        assert wanted <= amount < wanted + usd("0.01")  # rounded up, never by a cent more


def test_runway_rounds_spend_half_up_and_days_down() -> None:
    runway = Runway.of(usd("94.00"), usd("6.00"))

    assert (str(runway.daily_spend), runway.days) == ("0.4286", Decimal("219.3"))
    assert Runway.of(usd("10"), usd("0")).days is None
    assert Runway.of(usd("10"), usd("-3")).daily_spend == usd("0")  # refunds beyond the charges count as none
    assert Runway.of(usd("10"), usd("0.0006")).days is None  # 0.0006 / 14 rounds to 0: no spend to speak of
