"""Rate cards and quotes (contract v2 §8): each validation rule refuses its own card naming the field, the card in
force, markets, tiers, windows and free reasons, and the properties every quote keeps."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import billing
from billing.domain.errors import NotPricedError, ValidationError
from billing.domain.money import Money
from billing.domain.pricing import (
    ISO_3166_ALPHA_2,
    MAX_TIER_FROM,
    Category,
    FreeReason,
    Quote,
    Rate,
    RateCard,
    Window,
    card_in_force,
    mask_recipient,
    parse_category,
    parse_window,
    quote,
)

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
JAN = datetime(2026, 1, 1, tzinfo=UTC)
INDIA_NUMBER = "+919876543210"


def _usd(text: str) -> Money:
    return Money(Decimal(text), "USD")


def _body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Meta list rates",
        "currency": "USD",
        "effective_from": JAN,
        "tenant_id": None,
        "free_in_service_window": ["utility", "service"],
        "markets": {"IN": "India", "US": "North America", "CA": "North America", "*": "Other"},
        "rates": [
            {"market": "India", "category": "marketing", "unit_price": "0.0118"},
            {"market": "India", "category": "utility", "unit_price": "0.0014", "tier_from": 1},
            {"market": "India", "category": "utility", "unit_price": "0.0012", "tier_from": 1001},
            {"market": "India", "category": "service", "unit_price": "0"},
            {"market": "North America", "category": "marketing", "unit_price": "0.0250"},
            {"market": "Other", "category": "marketing", "unit_price": "0.0604"},
        ],
    }
    body.update(overrides)
    return body


def _create(
    *,
    card_id: UUID | None = None,
    created_at: datetime = AT,
    deployment_currency: str = "USD",
    **overrides: Any,
) -> RateCard:
    return RateCard.create(
        card_id=card_id or uuid4(),
        created_by="root",
        created_at=created_at,
        deployment_currency=deployment_currency,
        **_body(**overrides),
    )


def _refused(**overrides: Any) -> list[str]:
    """The field of every problem with the card, in order."""
    with pytest.raises(ValidationError) as caught:
        _create(**overrides)
    return [error.field for error in caught.value.errors]


def _with_rate(**rate: Any) -> list[dict[str, Any]]:
    """The base card's rates plus one more (the 7th, rates[6])."""
    return [*_body()["rates"], rate]


def _quote(card: RateCard, **overrides: Any) -> Quote:
    arguments: dict[str, Any] = {
        "recipient": INDIA_NUMBER,
        "country": "IN",
        "category": Category.MARKETING,
        "window": Window.NONE,
    }
    arguments.update(overrides)
    return quote(card, **arguments)


# --- a valid card -----------------------------------------------------------------------------------------------


def test_a_valid_card_is_built_as_sent() -> None:
    card_id = uuid4()

    card = _create(card_id=card_id)

    assert card.id == card_id
    assert card.name == "Meta list rates"
    assert card.currency == "USD"
    assert card.effective_from == JAN
    assert card.tenant_id is None
    assert card.free_in_service_window == frozenset({Category.UTILITY, Category.SERVICE})
    assert card.markets == {"IN": "India", "US": "North America", "CA": "North America", "*": "Other"}
    assert card.rates[0] == Rate("India", Category.MARKETING, _usd("0.0118"), 1)
    assert card.rates[2] == Rate("India", Category.UTILITY, _usd("0.0012"), 1001)
    assert (card.created_by, card.created_at) == ("root", AT)


def test_tier_from_defaults_to_1() -> None:
    card = _create(rates=[{"market": "India", "category": "marketing", "unit_price": "0.0118", "tier_from": None}])

    assert card.rates[0].tier_from == 1
    assert _create().rates[0].tier_from == 1  # absent


def test_effective_from_is_kept_in_utc() -> None:
    ist = timezone(timedelta(hours=5, minutes=30))

    card = _create(effective_from=datetime(2026, 1, 1, 5, 30, tzinfo=ist))

    assert card.effective_from == JAN
    assert card.effective_from.tzinfo is UTC


def test_a_card_for_one_tenant() -> None:
    assert _create(tenant_id="clinic-a").tenant_id == "clinic-a"


def test_the_shipped_meta_card_is_valid() -> None:
    path = Path(billing.__file__).parent / "data" / "rate_cards" / "meta_usd.json"
    body = json.loads(path.read_text())
    body["effective_from"] = datetime.fromisoformat(body["effective_from"])

    card = RateCard.create(card_id=uuid4(), created_by="root", created_at=AT, deployment_currency="USD", **body)

    assert card.market_of("IN") == "India"
    assert card.market_of("NA") == "Rest of Africa"  # Namibia, not North America
    assert card.market_of("EE") == card.markets["*"]


def test_a_card_cannot_change_once_built() -> None:
    markets = {**_body()["markets"]}
    card = _create(markets=markets)

    markets["IN"] = "Other"

    assert card.market_of("IN") == "India"
    with pytest.raises(TypeError):
        card.markets["IN"] = "Other"  # type: ignore[index]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        card.name = "changed"  # type: ignore[misc]
    assert isinstance(card.rates, tuple)
    assert copy.deepcopy(card) == card
    assert hash(copy.deepcopy(card)) == hash(card)


# --- each rule of §8 refuses its own card, naming the field -----------------------------------------------------


@pytest.mark.parametrize("currency", ["EUR", "usd", "", None, 840])
def test_the_currency_must_be_the_deployments(currency: object) -> None:
    assert _refused(currency=currency) == ["currency"]


def test_a_card_in_the_deployments_currency_is_accepted() -> None:
    card = _create(
        currency="JPY",
        deployment_currency="JPY",
        rates=[{"market": "India", "category": "marketing", "unit_price": "1.2345"}],
    )

    assert card.rates[0].unit_price == Money(Decimal("1.2345"), "JPY")


@pytest.mark.parametrize("name", ["", "   ", None, 7, "x" * 201, "tab\tname"])
def test_the_name_is_1_to_200_characters(name: object) -> None:
    assert _refused(name=name) == ["name"]


def test_a_200_character_name_is_accepted() -> None:
    assert _create(name="x" * 200).name == "x" * 200


def test_effective_from_must_carry_a_time_zone() -> None:
    assert _refused(effective_from=datetime(2026, 1, 1)) == ["effective_from"]


def test_the_tenant_id_must_be_a_tenant_id() -> None:
    assert _refused(tenant_id="clinic a") == ["tenant_id"]


@pytest.mark.parametrize("price", ["-0.0001", "-1", -1, "0.00001", "0.01185", 0.5, "abc", "1e-2", None, True])
def test_a_unit_price_is_at_least_0_with_at_most_4_fractional_digits(price: object) -> None:
    assert _refused(rates=_with_rate(market="Other", category="utility", unit_price=price)) == ["rates[6].unit_price"]


@pytest.mark.parametrize(
    ("price", "expected"), [("0", "0"), ("0.0000", "0"), ("0.0001", "0.0001"), (3, "3"), (Decimal("0.0118"), "0.0118")]
)
def test_zero_and_4_digit_unit_prices_are_accepted(price: object, expected: str) -> None:
    card = _create(rates=[{"market": "India", "category": "marketing", "unit_price": price}])

    assert card.rates[0].unit_price == _usd(expected)


@pytest.mark.parametrize("tier_from", [0, -1, True, False, "2", 2.0, MAX_TIER_FROM + 1])
def test_tier_from_is_a_whole_number_of_at_least_1(tier_from: object) -> None:
    rates = _with_rate(market="Other", category="utility", unit_price="0.0077", tier_from=tier_from)

    assert _refused(rates=rates) == ["rates[6].tier_from"]


def test_the_largest_tier_from_is_accepted() -> None:
    rates = _with_rate(market="India", category="utility", unit_price="0.0010", tier_from=MAX_TIER_FROM)

    assert _create(rates=rates).rates[-1].tier_from == MAX_TIER_FROM


def test_each_market_category_and_tier_is_priced_once() -> None:
    repeated = _with_rate(market="India", category="utility", unit_price="0.0011", tier_from=1001)
    repeated_by_default = _with_rate(market="India", category="marketing", unit_price="0.0200")

    assert _refused(rates=repeated) == ["rates[6].tier_from"]
    assert _refused(rates=repeated_by_default) == ["rates[6].tier_from"]


def test_the_same_tier_in_another_market_or_category_is_not_a_repeat() -> None:
    rates = [
        {"market": "India", "category": "utility", "unit_price": "0.0014"},
        {"market": "India", "category": "authentication", "unit_price": "0.0014"},
        {"market": "Other", "category": "utility", "unit_price": "0.0077"},
    ]

    assert len(_create(rates=rates).rates) == 3


def test_a_priced_market_and_category_has_a_tier_from_1_row() -> None:
    rates = _with_rate(market="Other", category="utility", unit_price="0.0070", tier_from=1001)

    assert _refused(rates=rates) == ["rates"]


def test_every_market_in_rates_is_a_market_of_markets() -> None:
    assert _refused(rates=_with_rate(market="Atlantis", category="marketing", unit_price="0.01")) == ["rates[6].market"]


@pytest.mark.parametrize("market", ["", "  ", None, 3, "x" * 201])
def test_a_rate_names_its_market(market: object) -> None:
    assert _refused(rates=_with_rate(market=market, category="marketing", unit_price="0.01")) == ["rates[6].market"]


@pytest.mark.parametrize("category", ["marketing_lite", "referral_conversion", "MARKETING", "", None, "sms"])
def test_a_rate_has_one_of_the_five_categories(category: object) -> None:
    assert _refused(rates=_with_rate(market="Other", category=category, unit_price="0.01")) == ["rates[6].category"]


def test_a_rate_has_no_other_fields() -> None:
    rates = _with_rate(market="Other", category="utility", price="0.01", unit_price="0.01")

    assert _refused(rates=rates) == ["rates[6].price"]


@pytest.mark.parametrize("row", ["India marketing 0.01", None, ["India", "marketing", "0.01"]])
def test_a_rate_is_an_object(row: object) -> None:
    assert _refused(rates=[*_body()["rates"], row]) == ["rates[6]"]


@pytest.mark.parametrize("code", ["XX", "UK", "EU", "XK", "in", "IND", "", "**"])
def test_markets_keys_are_real_iso_3166_alpha_2_codes(code: str) -> None:
    markets = {**_body()["markets"], code: "India"}

    assert _refused(markets=markets) == [f"markets.{code}"]


def test_a_card_may_leave_out_every_other_country() -> None:
    card = _create(
        markets={"IN": "India"}, rates=[{"market": "India", "category": "marketing", "unit_price": "0.0118"}]
    )

    assert card.market_of("BR") is None


@pytest.mark.parametrize("market", ["", "   ", None, 5, "x" * 201])
def test_markets_values_are_market_names(market: object) -> None:
    markets = {**_body()["markets"], "BR": market}

    assert _refused(markets=markets) == ["markets.BR"]


@pytest.mark.parametrize("markets", [None, ["IN", "India"], "IN=India"])
def test_markets_is_an_object(markets: object) -> None:
    assert _refused(markets=markets) == ["markets"]


def test_markets_maps_at_least_one_country() -> None:
    assert "markets" in _refused(markets={})


@pytest.mark.parametrize("rates", [[], None, "India marketing", {"market": "India"}])
def test_a_card_has_a_list_of_at_least_one_rate(rates: object) -> None:
    assert _refused(rates=rates) == ["rates"]


@pytest.mark.parametrize(
    ("free", "field"),
    [
        (["utility", "referral_conversion"], "free_in_service_window[1]"),
        (["utility", "marketing_lite"], "free_in_service_window[1]"),
        (["Service"], "free_in_service_window[0]"),
        ("utility", "free_in_service_window"),
        (None, "free_in_service_window"),
    ],
)
def test_free_in_service_window_lists_category_names(free: object, field: str) -> None:
    assert _refused(free_in_service_window=free) == [field]


def test_free_in_service_window_may_be_empty() -> None:
    assert _create(free_in_service_window=[]).free_in_service_window == frozenset()


def test_every_problem_is_listed_at_once() -> None:
    fields = _refused(
        name="",
        currency="EUR",
        tenant_id="a b",
        free_in_service_window=["utility", "sms"],
        markets={"IN": "India", "XX": "Other", "BR": ""},
        rates=[
            {"market": "India", "category": "marketing", "unit_price": "-1"},
            {"market": "India", "category": "marketing", "unit_price": "0.01"},
            {"market": "Atlantis", "category": "utility", "unit_price": "0.01"},
            {"market": "India", "category": "utility", "unit_price": "0.01", "tier_from": 0},
            {"market": "India", "category": "sms", "unit_price": "0.00001"},
            {"market": "India", "category": "authentication", "unit_price": "0.01", "tier_from": 5},
        ],
    )

    assert fields == [
        "name",
        "currency",
        "tenant_id",
        "free_in_service_window[1]",
        "markets.XX",
        "markets.BR",
        "rates[0].unit_price",
        "rates[1].tier_from",
        "rates[2].market",
        "rates[3].tier_from",
        "rates[4].category",
        "rates[4].unit_price",
        "rates",
    ]


def test_the_iso_list_holds_the_249_assigned_codes() -> None:
    assert len(ISO_3166_ALPHA_2) == 249
    assert {"IN", "US", "NA", "SS", "AQ", "BQ", "GB"} <= ISO_3166_ALPHA_2
    assert {"UK", "EU", "XK", "AN", "ZZ"}.isdisjoint(ISO_3166_ALPHA_2)
    assert all(len(code) == 2 and code.isupper() for code in ISO_3166_ALPHA_2)


# --- categories and windows as Meta or a client names them ------------------------------------------------------


@pytest.mark.parametrize("category", list(Category))
def test_the_five_categories_parse_as_themselves(category: Category) -> None:
    assert parse_category(category.value) == (category, None)


def test_marketing_lite_is_priced_as_marketing() -> None:
    assert parse_category("marketing_lite") == (Category.MARKETING, None)


def test_referral_conversion_is_free_as_a_free_entry_point() -> None:
    assert parse_category("referral_conversion") == (Category.MARKETING, FreeReason.FREE_ENTRY_POINT)


@pytest.mark.parametrize("value", ["Marketing", "", None, 1, "sms", "free_entry_point"])
def test_an_unknown_category_names_its_field(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_category(value, field="messages[2].category")

    assert [e.field for e in caught.value.errors] == ["messages[2].category"]


def test_the_window_defaults_to_none() -> None:
    assert parse_window(None) is Window.NONE


@pytest.mark.parametrize("window", list(Window))
def test_the_three_windows_parse_as_themselves(window: Window) -> None:
    assert parse_window(window.value) is window


@pytest.mark.parametrize("value", ["", "CUSTOMER_SERVICE", "open", 0])
def test_an_unknown_window_names_its_field(value: object) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_window(value)

    assert [e.field for e in caught.value.errors] == ["window"]


# --- the card in force ------------------------------------------------------------------------------------------


def _card(
    tenant_id: str | None, effective_from: datetime, created_at: datetime = JAN, card_id: UUID | None = None
) -> RateCard:
    return _create(
        tenant_id=tenant_id, effective_from=effective_from, created_at=created_at, card_id=card_id or uuid4()
    )


def test_the_latest_started_card_is_in_force() -> None:
    old, current, future = _card(None, JAN), _card(None, AT - timedelta(days=1)), _card(None, AT + timedelta(days=1))

    assert card_in_force([future, current, old], "clinic-a", AT) is current


def test_a_card_is_in_force_from_its_effective_instant() -> None:
    old, starting = _card(None, JAN), _card(None, AT)

    assert card_in_force([old, starting], "clinic-a", AT) is starting
    assert card_in_force([old, starting], "clinic-a", AT - timedelta(microseconds=1)) is old


def test_the_tenants_own_card_wins_over_a_newer_default_card() -> None:
    own, default = _card("clinic-a", JAN), _card(None, AT - timedelta(days=1))

    assert card_in_force([default, own], "clinic-a", AT) is own


def test_the_default_card_applies_until_the_tenants_own_card_starts() -> None:
    own, default = _card("clinic-a", AT + timedelta(days=1)), _card(None, JAN)

    assert card_in_force([own, default], "clinic-a", AT) is default
    assert card_in_force([own, default], "clinic-a", AT + timedelta(days=1)) is own


def test_the_later_created_card_wins_a_tie() -> None:
    first, second = _card(None, JAN, created_at=JAN), _card(None, JAN, created_at=JAN + timedelta(seconds=1))

    assert card_in_force([first, second], "clinic-a", AT) is second
    assert card_in_force([second, first], "clinic-a", AT) is second


def test_a_full_tie_never_depends_on_the_order_of_the_cards() -> None:
    low, high = _card(None, JAN, card_id=UUID(int=1)), _card(None, JAN, card_id=UUID(int=2))

    assert card_in_force([low, high], "clinic-a", AT) is high
    assert card_in_force([high, low], "clinic-a", AT) is high


def test_another_tenants_card_is_never_chosen() -> None:
    theirs, default = _card("clinic-b", AT - timedelta(days=1)), _card(None, JAN)

    assert card_in_force([theirs, default], "clinic-a", AT) is default
    assert card_in_force([theirs], "clinic-a", AT) is None


def test_no_card_in_force_is_none() -> None:
    assert card_in_force([], "clinic-a", AT) is None
    assert card_in_force([_card(None, AT + timedelta(days=1))], "clinic-a", AT) is None


# --- markets ----------------------------------------------------------------------------------------------------


def test_a_mapped_country_takes_its_market() -> None:
    card = _create()

    assert card.market_of("IN") == "India"
    assert card.market_of("US") == card.market_of("CA") == "North America"
    assert card.market_of("in") == "India"
    assert _quote(card, country="in").country == "IN"


def test_an_unmapped_country_takes_the_star_market() -> None:
    card = _create()

    assert card.market_of("BR") == "Other"
    assert card.market_of("XK") == "Other"  # Kosovo: a numbering library's code, not an ISO one
    assert _quote(card, country="BR", recipient="+5511987654321").market == "Other"


def test_an_unmapped_country_without_a_star_is_not_priced() -> None:
    card = _create(
        markets={"IN": "India"}, rates=[{"market": "India", "category": "marketing", "unit_price": "0.0118"}]
    )

    assert card.market_of("BR") is None
    with pytest.raises(NotPricedError) as caught:
        _quote(card, country="BR")
    assert caught.value.code == "not_priced"


def test_markets_of_counts_each_market_once() -> None:
    card = _create(
        markets={"IN": "India", "US": "North America", "CA": "North America"},
        rates=[{"market": "India", "category": "marketing", "unit_price": "0.0118"}],
    )

    assert card.markets_of(["US", "CA", "IN", "BR"]) == {"North America", "India"}


def test_a_market_and_category_without_a_rate_is_not_priced() -> None:
    with pytest.raises(NotPricedError):
        _quote(_create(), category=Category.AUTHENTICATION)


# --- tiers ------------------------------------------------------------------------------------------------------


def _tiered() -> RateCard:
    return _create(
        rates=[
            {"market": "India", "category": "utility", "unit_price": "0.0014", "tier_from": 1},
            {"market": "India", "category": "utility", "unit_price": "0.0010", "tier_from": 1_000_001},
            {"market": "India", "category": "utility", "unit_price": "0.0012", "tier_from": 1001},
        ]
    )


@pytest.mark.parametrize(
    ("settled", "tier", "price"),
    [
        (0, 1, "0.0014"),  # the first message of the month
        (999, 1, "0.0014"),  # n = 1000 = tier_from - 1
        (1000, 1001, "0.0012"),  # n = tier_from
        (1001, 1001, "0.0012"),
        (999_999, 1001, "0.0012"),
        (1_000_000, 1_000_001, "0.0010"),
        (50_000_000, 1_000_001, "0.0010"),  # beyond the last tier
    ],
)
def test_the_tier_is_the_largest_tier_from_up_to_n(settled: int, tier: int, price: str) -> None:
    priced = _quote(_tiered(), category=Category.UTILITY, settled_this_month=settled)

    assert (priced.tier, priced.unit_price, priced.amount) == (tier, _usd(price), _usd(price))


def test_rate_looks_up_one_market_and_category() -> None:
    card = _tiered()

    assert card.rate("India", Category.UTILITY, 1000) == Rate("India", Category.UTILITY, _usd("0.0014"), 1)
    assert card.rate("India", Category.MARKETING, 1) is None
    assert card.rate("Other", Category.UTILITY, 1) is None


def test_settled_this_month_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match="negative"):
        _quote(_create(), settled_this_month=-1)


# --- windows and free reasons -----------------------------------------------------------------------------------


def test_a_message_outside_any_window_is_billed() -> None:
    priced = _quote(_create(), category=Category.UTILITY, window=Window.NONE)

    assert (priced.amount, priced.free_reason) == (_usd("0.0014"), None)


def test_a_category_free_in_the_service_window_is_free_there() -> None:
    priced = _quote(_create(), category=Category.UTILITY, window=Window.CUSTOMER_SERVICE, settled_this_month=5000)

    assert priced.amount == Money.zero("USD")
    assert priced.free_reason is FreeReason.CUSTOMER_SERVICE_WINDOW
    assert (priced.market, priced.tier, priced.unit_price) == ("India", 1001, _usd("0.0012"))


def test_a_category_not_free_in_the_service_window_is_billed_there() -> None:
    priced = _quote(_create(), category=Category.MARKETING, window=Window.CUSTOMER_SERVICE)

    assert (priced.amount, priced.free_reason) == (_usd("0.0118"), None)


def test_each_card_says_what_is_free_in_the_service_window() -> None:
    card = _create(free_in_service_window=["service"])

    priced = _quote(card, category=Category.UTILITY, window=Window.CUSTOMER_SERVICE)

    assert (priced.amount, priced.free_reason) == (_usd("0.0014"), None)


def test_everything_is_free_in_a_free_entry_point_window() -> None:
    priced = _quote(_create(), category=Category.MARKETING, window=Window.FREE_ENTRY_POINT)

    assert (priced.amount, priced.free_reason, priced.unit_price) == (
        Money.zero("USD"),
        FreeReason.FREE_ENTRY_POINT,
        _usd("0.0118"),
    )


def test_a_referral_conversion_is_free_in_any_window() -> None:
    category, free_reason = parse_category("referral_conversion")

    priced = _quote(_create(), category=category, window=Window.NONE, free_reason=free_reason)

    assert (priced.category, priced.amount, priced.free_reason) == (
        Category.MARKETING,
        Money.zero("USD"),
        FreeReason.FREE_ENTRY_POINT,
    )


def test_a_marketing_lite_message_is_billed_as_marketing() -> None:
    category, free_reason = parse_category("marketing_lite")

    priced = _quote(_create(), category=category, free_reason=free_reason)

    assert (priced.category, priced.amount, priced.free_reason) == (Category.MARKETING, _usd("0.0118"), None)


def test_a_free_message_in_an_unmapped_country_is_still_not_priced() -> None:
    card = _create(
        markets={"IN": "India"}, rates=[{"market": "India", "category": "marketing", "unit_price": "0.0118"}]
    )

    with pytest.raises(NotPricedError):
        _quote(card, country="BR", window=Window.FREE_ENTRY_POINT)


def test_a_free_message_without_a_rate_is_still_not_priced() -> None:
    with pytest.raises(NotPricedError):
        _quote(_create(), category=Category.AUTHENTICATION, window=Window.FREE_ENTRY_POINT)


def test_a_zero_priced_message_is_billed_zero_not_free() -> None:
    priced = _quote(_create(), category=Category.SERVICE, window=Window.NONE)

    assert (priced.amount, priced.free_reason) == (Money.zero("USD"), None)


# --- the quote itself -------------------------------------------------------------------------------------------


def test_a_quote_says_everything_about_its_price() -> None:
    card = _create()

    assert _quote(card) == Quote(
        recipient="…3210",
        country="IN",
        market="India",
        category=Category.MARKETING,
        tier=1,
        rate_card_id=card.id,
        unit_price=_usd("0.0118"),
        amount=_usd("0.0118"),
        free_reason=None,
    )


def test_the_amount_keeps_4_digits_and_is_not_rounded_to_cents() -> None:
    card = _create()
    amounts = [_quote(card).amount for _ in range(3)]

    assert str(amounts[0]) == "0.0118"
    assert str(sum(amounts, Money.zero("USD"))) == "0.0354"  # summed exactly, not re-rounded per message


def test_a_quote_rounds_half_up_to_4_digits() -> None:
    """Prices arrive with at most 4 digits, so rounding at quote is exact; the rule it applies is half-up."""
    assert Money.rounded(Decimal("0.01185"), "USD") == _usd("0.0119")
    assert Money.rounded(Decimal("0.01184999"), "USD") == _usd("0.0118")
    assert _quote(
        _create(
            currency="JPY",
            deployment_currency="JPY",
            rates=[{"market": "India", "category": "marketing", "unit_price": "1.2345"}],
        )
    ).amount == Money(Decimal("1.2345"), "JPY")


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+919876543210", "…3210"),
        ("919876543210", "…3210"),
        ("+91 98765 43210", "…3210"),
        ("+1 (415) 555-0100", "…0100"),
    ],
)
def test_a_recipient_shows_only_its_last_4_digits(number: str, masked: str) -> None:
    assert mask_recipient(number) == masked


def test_a_quote_never_shows_the_whole_number() -> None:
    assert "98765" not in _quote(_create(), recipient=INDIA_NUMBER).recipient


# --- properties -------------------------------------------------------------------------------------------------

_MARKET_NAMES = ["India", "Brazil", "Rest of Africa", "Other"]
_COUNTRIES = ["IN", "BR", "NA", "KE", "US", "*"]
_TENANTS = [None, "clinic-a", "clinic-b"]


@st.composite
def _cards(draw: st.DrawFn) -> RateCard:
    """A valid card of 1-4 markets, some categories each, up to 3 tiers each, for any tenant or the default."""
    markets = draw(st.dictionaries(st.sampled_from(_COUNTRIES), st.sampled_from(_MARKET_NAMES), min_size=1, max_size=5))
    rates: list[dict[str, Any]] = []
    for market in sorted(set(markets.values())):
        for category in draw(st.lists(st.sampled_from(list(Category)), unique=True, max_size=3)):
            later_tiers = draw(st.lists(st.integers(2, 3000), unique=True, max_size=2))
            for tier_from in [1, *later_tiers]:
                price = draw(st.decimals(min_value=0, max_value=1, places=4))
                rates.append(
                    {"market": market, "category": category.value, "unit_price": str(price), "tier_from": tier_from}
                )
    if not rates:
        rates.append({"market": next(iter(markets.values())), "category": "marketing", "unit_price": "0.0100"})
    return RateCard.create(
        card_id=draw(st.uuids()),
        name="generated",
        currency="USD",
        effective_from=draw(
            st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC))
        ),
        tenant_id=draw(st.sampled_from(_TENANTS)),
        free_in_service_window=[c.value for c in draw(st.frozensets(st.sampled_from(list(Category))))],
        markets=markets,
        rates=rates,
        created_by="root",
        created_at=draw(
            st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC))
        ),
        deployment_currency="USD",
    )


_messages = st.fixed_dictionaries(
    {
        "recipient": st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True),
        "country": st.sampled_from([c for c in _COUNTRIES if c != "*"] + ["DE", "JP"]),
        "category": st.sampled_from(list(Category)),
        "window": st.sampled_from(list(Window)),
        "free_reason": st.sampled_from([None, FreeReason.FREE_ENTRY_POINT]),
        "settled_this_month": st.integers(0, 5000),
    }
)


def _outcome(card: RateCard, message: dict[str, Any]) -> Quote | str:
    try:
        return quote(card, **message)
    except NotPricedError as error:
        return error.code


@settings(max_examples=200)
@given(card=_cards(), message=_messages)
def test_a_quote_is_deterministic(card: RateCard, message: dict[str, Any]) -> None:
    assert _outcome(card, message) == _outcome(copy.deepcopy(card), dict(message))


@settings(max_examples=200)
@given(card=_cards(), message=_messages)
def test_a_quote_is_never_negative_nor_above_its_unit_price(card: RateCard, message: dict[str, Any]) -> None:
    priced = _outcome(card, message)

    if isinstance(priced, Quote):
        assert Money.zero("USD") <= priced.amount <= priced.unit_price


@settings(max_examples=300)
@given(card=_cards(), message=_messages)
def test_a_quote_is_free_exactly_when_the_rules_say_so(card: RateCard, message: dict[str, Any]) -> None:
    priced = _outcome(card, message)
    market = card.market_of(message["country"])
    rate = None if market is None else card.rate(market, message["category"], 1 + message["settled_this_month"])
    if message["free_reason"] is not None or message["window"] is Window.FREE_ENTRY_POINT:
        expected = FreeReason.FREE_ENTRY_POINT
    elif message["window"] is Window.CUSTOMER_SERVICE and message["category"] in card.free_in_service_window:
        expected = FreeReason.CUSTOMER_SERVICE_WINDOW
    else:
        expected = None

    if rate is None:
        assert priced == "not_priced"
    else:
        assert isinstance(priced, Quote)
        assert priced.free_reason is expected
        assert priced.amount == (Money.zero("USD") if expected else rate.unit_price)
        assert (priced.unit_price, priced.tier, priced.market) == (rate.unit_price, rate.tier_from, market)


@settings(max_examples=200)
@given(
    cards=st.lists(_cards(), min_size=1, max_size=4),
    added=_cards(),
    at=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)),
    message=_messages,
)
def test_a_later_card_or_another_tenants_never_changes_an_earlier_quote(
    cards: list[RateCard], added: RateCard, at: datetime, message: dict[str, Any]
) -> None:
    in_force = card_in_force(cards, "clinic-a", at)
    later = added.effective_from > at
    if not later and added.tenant_id != "clinic-b":
        added = attrs.evolve(added, tenant_id="clinic-b")  # not later, so it must be another tenant's

    in_force_after = card_in_force([*cards, added], "clinic-a", at)

    assert in_force_after is in_force
    if in_force is not None and in_force_after is not None:
        assert _outcome(in_force_after, message) == _outcome(in_force, message)


@given(cards=st.lists(_cards(), max_size=5), at=st.datetimes(timezones=st.just(UTC)), data=st.data())
def test_the_card_in_force_does_not_depend_on_the_order_of_the_cards(
    cards: list[RateCard], at: datetime, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(cards))

    assert card_in_force(shuffled, "clinic-a", at) == card_in_force(cards, "clinic-a", at)
