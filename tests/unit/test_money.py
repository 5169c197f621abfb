"""Money: exact amounts in one currency, parsed strictly, never rounded."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.errors import ValidationError
from billing.domain.money import MAX_AMOUNT, Money, Scale


def _fields(error: ValidationError) -> list[str]:
    return [e.field for e in error.errors]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("150.00", Decimal("150.00")),
        ("150.5", Decimal("150.50")),
        ("150", Decimal("150.00")),
        (150, Decimal("150.00")),
        (Decimal("150"), Decimal("150.00")),
        (Decimal("150.5"), Decimal("150.50")),
        (Decimal("150.50"), Decimal("150.50")),
        ("0.01", Decimal("0.01")),
        ("0150.00", Decimal("150.00")),
        (str(MAX_AMOUNT), MAX_AMOUNT),
    ],
)
def test_parse_accepts_plain_decimals_and_integers(value: object, expected: Decimal) -> None:
    money = Money.parse(value, "USD")

    assert money == Money(expected, "USD")
    assert money.amount == expected
    assert money.currency == "USD"


@pytest.mark.parametrize(
    "value",
    [
        0,
        "0",
        "0.00",
        Decimal(0),
        "-0",
        -5,
        "-5.00",
        Decimal("-0.01"),
        "1.001",
        "150.000",
        Decimal("150.000"),
        "NaN",
        "nan",
        Decimal("NaN"),
        Decimal("sNaN"),
        "Infinity",
        "-Infinity",
        "inf",
        Decimal("Infinity"),
        Decimal("-Infinity"),
        "1e2",
        "1E2",
        "1.5e1",
        150.0,
        150.5,
        float("nan"),
        True,
        False,
        "abc",
        "",
        " 1",
        "1 ",
        "1,000",
        "+1",
        ".5",
        "1.",
        "١٢",  # Arabic-Indic digits are digits to Python, not to the contract
        None,
        [1],
        str(MAX_AMOUNT + 1),
        int(MAX_AMOUNT) + 1,
        10**40,
    ],
)
def test_parse_rejects_what_is_not_an_exact_positive_amount(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Money.parse(value, "USD")

    assert _fields(caught.value) == ["amount"]
    assert caught.value.code == "validation_error"


def test_parse_names_the_field_it_was_given() -> None:
    with pytest.raises(ValidationError) as caught:
        Money.parse("1.001", "USD", field="lines[0].unit_price")

    assert _fields(caught.value) == ["lines[0].unit_price"]


@pytest.mark.parametrize("value", ["1.0", "1.5", Decimal("100.0")])
def test_jpy_has_no_minor_digits(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        Money.parse(value, "JPY")

    assert _fields(caught.value) == ["amount"]


def test_jpy_accepts_whole_amounts() -> None:
    assert str(Money.parse("1500", "JPY")) == "1500"


def test_three_digit_currencies_keep_three_digits() -> None:
    assert str(Money.parse("1.5", "KWD")) == "1.500"
    with pytest.raises(ValidationError):
        Money.parse("1.0001", "KWD")


def test_negative_amounts_only_when_allowed() -> None:
    assert Money.parse("-5.5", "USD", allow_negative=True) == Money(Decimal("-5.50"), "USD")
    with pytest.raises(ValidationError) as caught:
        Money.parse("-0.00", "USD", allow_negative=True)
    assert _fields(caught.value) == ["amount"]
    with pytest.raises(ValidationError):
        Money.parse(str(-MAX_AMOUNT - 1), "USD", allow_negative=True)


def test_an_unsupported_currency_is_a_validation_error() -> None:
    with pytest.raises(ValidationError) as caught:
        Money.parse("1.00", "XXX")
    assert _fields(caught.value) == ["currency"]

    with pytest.raises(ValidationError):
        Money(Decimal(1), "usd")


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        (Decimal("150"), "USD", "150.00"),
        (Decimal("150.5"), "USD", "150.50"),
        (Decimal("0.1"), "EUR", "0.10"),
        (Decimal("1.500"), "USD", "1.50"),
        (Decimal("1E+2"), "USD", "100.00"),
        (Decimal(0), "USD", "0.00"),
        (Decimal("-7.1"), "USD", "-7.10"),
        (Decimal(1500), "JPY", "1500"),
        (Decimal("2.5"), "BHD", "2.500"),
    ],
)
def test_str_gives_exactly_the_minor_digits(amount: Decimal, currency: str, text: str) -> None:
    assert str(Money(amount, currency)) == text


def test_construction_never_rounds_silently() -> None:
    with pytest.raises(ValidationError):
        Money(Decimal("1.00005"), "USD")  # past the 4 digits a message's price may have
    with pytest.raises(ValidationError):
        Money(Decimal("NaN"), "USD")
    with pytest.raises(ValidationError):
        Money(Decimal("Infinity"), "USD")


def test_arithmetic_and_comparison_stay_exact_and_in_one_currency() -> None:
    a, b = Money.parse("0.10", "USD"), Money.parse("0.20", "USD")

    assert a + b == Money.parse("0.30", "USD")
    assert b - a == a
    assert -a == Money(Decimal("-0.10"), "USD")
    assert a < b <= b
    assert b > a >= a
    assert Money.zero("USD") == Money(Decimal("0.00"), "USD")
    assert (a - b).is_negative
    assert a.is_positive
    assert not Money.zero("USD").is_positive
    assert not Money.zero("USD").is_negative


def test_mixing_currencies_is_refused() -> None:
    usd, eur = Money.parse("1", "USD"), Money.parse("1", "EUR")

    for combine in (lambda: usd + eur, lambda: usd - eur, lambda: usd < eur, lambda: usd >= eur):
        with pytest.raises(ValidationError) as caught:
            combine()
        assert _fields(caught.value) == ["currency"]


@settings(max_examples=60, deadline=None)
@given(cents=st.integers(min_value=1, max_value=int(MAX_AMOUNT) * 100))
def test_any_amount_in_cents_survives_a_round_trip_through_its_wire_form(cents: int) -> None:
    text = f"{cents // 100}.{cents % 100:02d}"

    money = Money.parse(text, "USD")

    assert str(money) == text
    assert Money.parse(str(money), "USD") == money


# Money at message scale (contract v2 §7) ----------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "text"),
    [
        ("150", "USD", "150.00"),
        ("149.9882", "USD", "149.9882"),
        ("0.0118", "USD", "0.0118"),
        ("0.0500", "USD", "0.05"),
        ("0.011", "USD", "0.011"),
        ("120", "JPY", "120"),
        ("1.25", "JPY", "1.25"),
        ("-0.0001", "USD", "-0.0001"),
        ("2.5", "BHD", "2.500"),
        ("2.5001", "BHD", "2.5001"),
    ],
)
def test_the_wire_form_has_the_minor_digits_and_up_to_four(amount: str, currency: str, text: str) -> None:
    assert str(Money(Decimal(amount), currency)) == text


def test_top_ups_keep_the_minor_digits_and_messages_take_four() -> None:
    with pytest.raises(ValidationError, match="at most 2 decimal places for USD"):
        Money.parse("10.001", "USD")
    assert str(Money.parse("0.0118", "USD", scale=Scale.MESSAGE)) == "0.0118"
    with pytest.raises(ValidationError, match="at most 4 decimal places"):
        Money.parse("0.00001", "USD", scale=Scale.MESSAGE)
    assert str(Money.parse("0.0001", "JPY", scale=Scale.MESSAGE)) == "0.0001"


def test_a_price_may_be_zero_only_when_allowed() -> None:
    assert Money.parse("0", "USD", allow_zero=True, scale=Scale.MESSAGE) == Money.zero("USD")
    with pytest.raises(ValidationError):
        Money.parse("0", "USD", scale=Scale.MESSAGE)


@pytest.mark.parametrize(
    ("computed", "price"), [("0.01185", "0.0119"), ("0.01184999", "0.0118"), ("0.00005", "0.0001"), ("2", "2.00")]
)
def test_a_computed_price_is_rounded_half_up_to_four_digits(computed: str, price: str) -> None:
    assert str(Money.rounded(Decimal(computed), "USD")) == price


def test_checked_holds_an_in_process_amount_to_its_scale() -> None:
    assert Money(Decimal("0.0118"), "USD").checked("USD", scale=Scale.MESSAGE) == Money(Decimal("0.0118"), "USD")
    with pytest.raises(ValidationError, match="at most 2 decimal places"):
        Money(Decimal("0.0118"), "USD").checked("USD")
    with pytest.raises(ValidationError, match="must be in USD"):
        Money(Decimal("1"), "EUR").checked("USD")


@given(st.integers(min_value=-(10**17), max_value=10**17))
def test_whole_cents_are_written_exactly_as_in_v1(cents: int) -> None:
    money = Money(Decimal(cents).scaleb(-2), "USD")
    assert str(money) == f"{Decimal(cents).scaleb(-2):f}"


@given(st.integers(min_value=-(10**18), max_value=10**18))
def test_any_four_digit_amount_survives_its_wire_form(units: int) -> None:
    money = Money(Decimal(units).scaleb(-4), "USD")
    assert Money.parse(str(money), "USD", allow_negative=True, allow_zero=True, scale=Scale.MESSAGE) == money
