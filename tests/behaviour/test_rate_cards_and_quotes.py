"""Rate cards and quotes (contract v2 §8) through the facade, on every backend: which card prices a tenant's
messages, what each message costs (market, tier, window), and who may see and add cards."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

import billing
from billing.application.caller import MANAGE, VIEW
from billing.application.handlers.quotes import QuoteSet
from billing.domain.errors import ForbiddenError, NotFoundError, NotPricedError, ValidationError
from billing.domain.pricing import Category, FreeReason, RateCard

CLINIC = "clinic-a"
OTHER_CLINIC = "clinic-b"
STARTED = datetime(2026, 1, 1, tzinfo=UTC)  # long before the scenario clock's 2026-11-26 12:00 UTC
MONTH = "2026-11"  # the scenario clock's UTC month

MARKETS = {"IN": "India", "US": "North America", "CA": "North America", "BR": "Brazil", "DE": "Germany", "*": "Other"}
RATES: list[dict[str, object]] = [
    {"market": "India", "category": "marketing", "unit_price": "0.0118"},
    {"market": "India", "category": "utility", "unit_price": "0.0014"},
    {"market": "India", "category": "utility", "unit_price": "0.0010", "tier_from": 11},
    {"market": "India", "category": "utility", "unit_price": "0.0008", "tier_from": 101},
    {"market": "India", "category": "service", "unit_price": "0"},
    {"market": "North America", "category": "marketing", "unit_price": "0.0250"},
    {"market": "North America", "category": "utility", "unit_price": "0.0034"},
    {"market": "Brazil", "category": "marketing", "unit_price": "0.0625"},
    {"market": "Germany", "category": "marketing", "unit_price": "0.1365"},
    {"market": "Other", "category": "marketing", "unit_price": "0.0604"},
]

# Valid numbers (libphonenumber) and their last four digits.
INDIA = "+919876543210"
USA = "+14155552671"
BRAZIL = "+5511987654321"
GERMANY = "+4915123456789"
FRANCE = "+33612345678"  # not listed by the card: the "*" market
KOSOVO = "+38344123456"  # XK: no ISO code, so never listed: the "*" market


def money(text: str) -> Decimal:
    return Decimal(text)


@pytest.fixture
def meta_card() -> dict[str, Any]:
    """The shipped sample: Meta's USD list rates, as the API takes them."""
    card: dict[str, Any] = json.loads((Path(billing.__file__).parent / "data/rate_cards/meta_usd.json").read_text())
    return card


async def add_card(
    scenario,
    *,
    name: str = "Test card",
    effective_from: datetime = STARTED,
    tenant_id: str | None = None,
    markets: Mapping[str, str] = MARKETS,
    rates: Sequence[Mapping[str, object]] = RATES,
    free: Sequence[str] = ("utility", "service"),
) -> RateCard:
    """An operator adds a card; the clock moves on first, so that cards are created at distinct instants."""
    scenario.tick()
    return await scenario.operator.create_rate_card(
        name, effective_from, markets, rates, tenant_id=tenant_id, free_in_service_window=free
    )


async def settle(scenario, tenant_id: str, month: str, market: str, category: Category, count: int) -> None:
    """What settling `count` billable messages in `month` ("YYYY-MM") will write: the tiers' monthly counter. They
    are counted at noon UTC on the 15th, inside that month in every time zone."""
    year, number = (int(part) for part in month.split("-"))
    async with scenario.service.uow_factory() as uow:
        await uow.message_counts.add_settled(
            tenant_id, datetime(year, number, 15, 12, tzinfo=UTC), market, category, count
        )
        await uow.commit()


def only(quoted: QuoteSet):
    assert len(quoted.items) == 1, quoted.items
    return quoted.items[0]


# Creating and reading cards ----------------------------------------------------------------------------------


async def test_an_operator_adds_a_default_card_that_reloads_whole(scenario) -> None:
    card = await add_card(scenario, effective_from=datetime(2026, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))))

    reloaded = await scenario.operator.rate_card(card.id)

    assert reloaded == card
    assert reloaded.tenant_id is None
    assert reloaded.effective_from == STARTED
    assert reloaded.effective_from.utcoffset() == timedelta(0)
    assert reloaded.created_by == "operator-1"
    assert reloaded.created_at == scenario.clock.now()
    assert reloaded.currency == "USD"
    assert reloaded.free_in_service_window == {Category.UTILITY, Category.SERVICE}
    assert dict(reloaded.markets) == MARKETS
    assert [(r.market, r.category.value, str(r.unit_price), r.tier_from) for r in reloaded.rates][:4] == [
        ("India", "marketing", "0.0118", 1),
        ("India", "utility", "0.0014", 1),
        ("India", "utility", "0.001", 11),
        ("India", "utility", "0.0008", 101),
    ]


async def test_an_operator_adds_a_card_for_one_tenant(scenario) -> None:
    default = await add_card(scenario, name="Default")
    own = await add_card(scenario, name="Negotiated", tenant_id=CLINIC)
    theirs = await add_card(scenario, name="Theirs", tenant_id=OTHER_CLINIC)

    reloaded = await scenario.operator.rate_card(own.id)
    clinics = await scenario.operator.rate_cards(CLINIC)
    every = await scenario.operator.rate_cards()

    assert reloaded == own
    assert reloaded.tenant_id == CLINIC
    assert ([card.id for card in clinics.items], clinics.total) == ([own.id], 1)
    assert {card.id for card in every.items} == {default.id, own.id, theirs.id}
    assert every.total == 3


async def test_the_shipped_meta_card_is_accepted(scenario, meta_card) -> None:
    card = await scenario.operator.create_rate_card(
        meta_card["name"],
        datetime.fromisoformat(meta_card["effective_from"]),
        meta_card["markets"],
        meta_card["rates"],
        free_in_service_window=meta_card["free_in_service_window"],
    )

    assert await scenario.operator.rate_card(card.id) == card
    quoted = await scenario.operator.quote("marketing", [INDIA], tenant_id=CLINIC)
    assert (only(quoted).market, str(only(quoted).amount)) == ("India", "0.0118")


async def test_cards_are_listed_latest_effective_first(scenario) -> None:
    middle = await add_card(scenario, name="middle", effective_from=STARTED + timedelta(days=30))
    oldest = await add_card(scenario, name="oldest", effective_from=STARTED)
    future = await add_card(scenario, name="future", effective_from=STARTED + timedelta(days=3650), tenant_id=CLINIC)

    page = await scenario.operator.rate_cards()
    first = await scenario.operator.rate_cards(page=1, page_size=2)

    assert [card.id for card in page.items] == [future.id, middle.id, oldest.id]
    assert ([card.id for card in first.items], first.total) == ([future.id, middle.id], 3)


async def test_an_unknown_card_is_not_found(scenario) -> None:
    await add_card(scenario)

    with pytest.raises(NotFoundError):
        await scenario.operator.rate_card(UUID("00000000-0000-4000-8000-000000000000"))


async def test_a_refused_card_lists_every_problem_and_keeps_nothing(scenario) -> None:
    with pytest.raises(ValidationError) as refused:
        await scenario.operator.create_rate_card(
            "",
            STARTED,
            {"UK": "United Kingdom", "in": "India", "IN": "India"},
            [
                {"market": "Atlantis", "category": "marketing", "unit_price": "0.01"},
                {"market": "India", "category": "utility", "unit_price": "-0.01"},
                {"market": "India", "category": "marketing", "unit_price": "0.00001"},
                {"market": "India", "category": "marketing", "unit_price": "0.02"},
                {"market": "India", "category": "marketing", "unit_price": "0.03"},
                {"market": "India", "category": "authentication", "unit_price": "0.01", "tier_from": 5},
                {"market": "India", "category": "whisper", "unit_price": "0.01"},
                {"market": "India", "category": "service", "unit_price": "0", "tier_from": 0},
            ],
            free_in_service_window=["utility", "gossip"],
            currency="EUR",
        )

    fields = {error.field for error in refused.value.errors}
    assert fields == {
        "name",
        "currency",
        "markets.UK",  # not an ISO code (GB is)
        "markets.in",  # lower case
        "rates[0].market",  # a market the card's markets do not name
        "rates[1].unit_price",  # negative
        "rates[2].unit_price",  # five fractional digits
        "rates[3].tier_from",  # India marketing from 1 again (rates[2] has it, though its price is refused)
        "rates[4].tier_from",  # and again
        "rates",  # India authentication has no tier_from 1 row
        "rates[6].category",
        "rates[7].tier_from",  # below 1
        "free_in_service_window[1]",
    }, refused.value.errors
    assert (await scenario.operator.rate_cards()).total == 0


async def test_a_refused_card_with_a_bad_tenant_still_lists_every_problem(scenario) -> None:
    with pytest.raises(ValidationError) as refused:
        await add_card(scenario, tenant_id="not a tenant!", rates=[{**RATES[0], "unit_price": "-1"}])

    assert {error.field for error in refused.value.errors} == {"tenant_id", "rates[0].unit_price"}


async def test_a_refused_card_with_a_naive_start_still_lists_every_problem(scenario) -> None:
    with pytest.raises(ValidationError) as refused:
        await add_card(scenario, effective_from=datetime(2026, 1, 1), rates=[{**RATES[0], "unit_price": "-1"}])

    assert {error.field for error in refused.value.errors} == {"effective_from", "rates[0].unit_price"}


# The card in force -------------------------------------------------------------------------------------------


async def test_the_default_card_is_in_force_for_a_tenant_without_its_own(scenario) -> None:
    default = await add_card(scenario)

    assert (await scenario.clinic.current_rate_card()).id == default.id
    assert only(await scenario.clinic.quote("marketing", [INDIA])).rate_card_id == default.id


async def test_a_tenants_own_card_wins_over_a_newer_default_card(scenario) -> None:
    own = await add_card(scenario, tenant_id=CLINIC, rates=[{**RATES[0], "unit_price": "0.0100"}])
    newer_default = await add_card(scenario, effective_from=STARTED + timedelta(days=100))

    clinics = only(await scenario.clinic.quote("marketing", [INDIA]))
    others = only(await scenario.other_clinic.quote("marketing", [INDIA]))

    assert (await scenario.clinic.current_rate_card()).id == own.id
    assert (clinics.rate_card_id, str(clinics.unit_price)) == (own.id, "0.01")
    assert (await scenario.other_clinic.current_rate_card()).id == newer_default.id
    assert (others.rate_card_id, str(others.unit_price)) == (newer_default.id, "0.0118")


async def test_the_latest_started_card_is_in_force(scenario) -> None:
    now = scenario.clock.now()
    await add_card(scenario, name="old", effective_from=now - timedelta(days=60))
    latest = await add_card(scenario, name="latest", effective_from=now - timedelta(days=1))
    await add_card(scenario, name="older, created last", effective_from=now - timedelta(days=30))

    assert (await scenario.clinic.current_rate_card()).id == latest.id


async def test_a_future_card_is_in_force_from_its_effective_instant(scenario) -> None:
    current = await add_card(scenario)
    starts = scenario.clock.now() + timedelta(hours=1)
    future = await add_card(scenario, effective_from=starts, rates=[{**RATES[0], "unit_price": "0.0200"}])

    scenario.clock.current = starts - timedelta(microseconds=1)
    before = only(await scenario.clinic.quote("marketing", [INDIA]))
    assert (await scenario.clinic.current_rate_card()).id == current.id
    scenario.clock.current = starts
    at = only(await scenario.clinic.quote("marketing", [INDIA]))

    assert (before.rate_card_id, str(before.amount)) == (current.id, "0.0118")
    assert (at.rate_card_id, str(at.amount)) == (future.id, "0.02")
    assert (await scenario.clinic.current_rate_card()).id == future.id


async def test_a_tenants_own_future_card_leaves_the_default_in_force_until_it_starts(scenario) -> None:
    default = await add_card(scenario)
    starts = scenario.clock.now() + timedelta(days=1)
    own = await add_card(scenario, tenant_id=CLINIC, effective_from=starts)

    assert (await scenario.clinic.current_rate_card()).id == default.id
    scenario.clock.current = starts
    assert (await scenario.clinic.current_rate_card()).id == own.id


async def test_the_later_created_card_wins_a_tie(scenario) -> None:
    # Cards of one effective instant: the one created last wins, whatever the order they were stored in (the
    # clock is set back between them) and whatever their random ids.
    start = scenario.clock.now()
    default: dict[int, RateCard] = {}
    own: dict[int, RateCard] = {}
    for seconds in (40, 10, 30, 20):
        scenario.clock.current = start + timedelta(seconds=seconds)
        default[seconds] = await add_card(scenario, name=f"default {seconds}")
        own[seconds] = await add_card(scenario, name=f"own {seconds}", tenant_id=CLINIC)
    scenario.clock.current = start + timedelta(minutes=1)

    assert (await scenario.other_clinic.current_rate_card()).id == default[40].id
    assert (await scenario.clinic.current_rate_card()).id == own[40].id


async def test_another_tenants_card_is_never_used(scenario) -> None:
    await add_card(scenario, tenant_id=OTHER_CLINIC)

    with pytest.raises(NotFoundError):
        await scenario.clinic.current_rate_card()
    with pytest.raises(NotPricedError):
        await scenario.clinic.quote("marketing", [INDIA])

    default = await add_card(scenario, effective_from=STARTED - timedelta(days=365))  # older than theirs
    assert (await scenario.clinic.current_rate_card()).id == default.id
    assert only(await scenario.clinic.quote("marketing", [INDIA])).rate_card_id == default.id


# Quotes ------------------------------------------------------------------------------------------------------


async def test_a_quote_for_one_recipient(scenario) -> None:
    card = await add_card(scenario)

    quoted = await scenario.clinic.quote("marketing", [INDIA])

    item = only(quoted)
    assert (quoted.tenant_id, quoted.currency, quoted.rate_card_id) == (CLINIC, "USD", card.id)
    assert item.recipient == "…3210"
    assert INDIA[1:-4] not in item.recipient
    assert (item.country, item.market, item.category, item.tier) == ("IN", "India", Category.MARKETING, 1)
    assert (item.rate_card_id, str(item.unit_price), str(item.amount), item.free_reason) == (
        card.id,
        "0.0118",
        "0.0118",
        None,
    )
    assert str(quoted.total) == "0.0118"


async def test_a_quote_for_1000_recipients_in_several_countries(scenario) -> None:
    await add_card(scenario)
    countries = {
        "+91987654{:04d}": ("IN", "India", "0.0118"),
        "+1415555{:04d}": ("US", "North America", "0.025"),
        "+55119876{:05d}": ("BR", "Brazil", "0.0625"),
        "+49151234{:05d}": ("DE", "Germany", "0.1365"),
    }
    patterns = list(countries)
    recipients = [patterns[i % 4].format(i) for i in range(1000)]

    quoted = await scenario.clinic.quote("marketing", recipients)

    assert len(quoted.items) == 1000
    for number, item in zip(recipients, quoted.items, strict=True):  # in the order sent
        country, market, price = countries[patterns[recipients.index(number) % 4]]
        assert (item.recipient, item.country, item.market, str(item.amount)) == (
            "…" + number[-4:],
            country,
            market,
            price,
        )
    assert quoted.total.amount == 250 * (money("0.0118") + money("0.0250") + money("0.0625") + money("0.1365"))
    assert str(quoted.total) == "58.95"


async def test_a_country_the_card_does_not_list_takes_the_star_market(scenario) -> None:
    await add_card(scenario)

    quoted = await scenario.clinic.quote("marketing", [FRANCE, KOSOVO])

    assert [(item.country, item.market, str(item.amount)) for item in quoted.items] == [
        ("FR", "Other", "0.0604"),
        ("XK", "Other", "0.0604"),
    ]


async def test_canada_and_the_us_share_one_market(scenario) -> None:
    await add_card(scenario)

    quoted = await scenario.clinic.quote("utility", [USA, "+16135550123"])

    assert [(item.country, item.market, str(item.amount)) for item in quoted.items] == [
        ("US", "North America", "0.0034"),
        ("CA", "North America", "0.0034"),
    ]


async def test_a_quote_moves_no_money(scenario) -> None:
    await add_card(scenario)
    await scenario.fund(CLINIC, "10.00")
    before = await scenario.ledger()

    await scenario.clinic.quote("marketing", [INDIA, USA])

    assert await scenario.ledger() == before
    assert str(await scenario.clinic.balance()) == "10.00"


async def test_every_invalid_number_is_named_by_its_index(scenario) -> None:
    await add_card(scenario)

    with pytest.raises(ValidationError) as refused:
        await scenario.clinic.quote("marketing", [INDIA, "12345", "not a number", USA, "+91 98765 43210", "+9198765"])

    assert [error.field for error in refused.value.errors] == [
        "recipients[1]",
        "recipients[2]",
        "recipients[4]",
        "recipients[5]",
    ]


@pytest.mark.parametrize("count", [0, 1001])
async def test_a_quote_takes_1_to_1000_recipients(scenario, count: int) -> None:
    await add_card(scenario)

    with pytest.raises(ValidationError) as refused:
        await scenario.clinic.quote("marketing", [INDIA] * count)

    assert [error.field for error in refused.value.errors] == ["recipients"]


@pytest.mark.parametrize(("category", "window"), [("whisper", None), ("marketing", "sometimes")])
async def test_an_unknown_category_or_window_is_refused(scenario, category: str, window: str | None) -> None:
    await add_card(scenario)

    with pytest.raises(ValidationError) as refused:
        await scenario.clinic.quote(category, [INDIA], window=window)

    assert [error.field for error in refused.value.errors] == ["category" if window is None else "window"]


# Not priced --------------------------------------------------------------------------------------------------


async def test_no_card_in_force_is_not_priced(scenario) -> None:
    await add_card(scenario, effective_from=scenario.clock.now() + timedelta(days=1))

    with pytest.raises(NotPricedError) as refused:
        await scenario.clinic.quote("marketing", [INDIA])

    assert refused.value.code == "not_priced"
    with pytest.raises(NotFoundError):
        await scenario.clinic.current_rate_card()


async def test_a_country_with_no_market_and_no_star_is_not_priced(scenario) -> None:
    markets = {**{country: market for country, market in MARKETS.items() if country != "*"}, "JP": "Other"}
    await add_card(scenario, markets=markets)  # every market has a marketing rate: France lacks a market only

    assert only(await scenario.clinic.quote("marketing", [INDIA])).market == "India"
    with pytest.raises(NotPricedError):
        await scenario.clinic.quote("marketing", [INDIA, FRANCE])  # one unpriced number refuses the whole quote


async def test_a_market_and_category_without_a_rate_is_not_priced(scenario) -> None:
    await add_card(scenario)

    assert str(only(await scenario.clinic.quote("utility", [USA])).amount) == "0.0034"
    with pytest.raises(NotPricedError):
        await scenario.clinic.quote("utility", [USA, BRAZIL])  # Brazil has a marketing rate only
    with pytest.raises(NotPricedError):
        await scenario.clinic.quote("authentication", [INDIA])
    with pytest.raises(NotPricedError):  # free or not, a message needs its rate
        await scenario.clinic.quote("authentication", [INDIA], window="free_entry_point")


# Tiers: n = 1 + the tenant's settled billable messages this UTC month, in the market and category ----------


async def test_the_tier_moves_when_the_months_count_reaches_its_threshold(scenario) -> None:
    await add_card(scenario)

    await settle(scenario, CLINIC, MONTH, "India", Category.UTILITY, 9)
    tenth = only(await scenario.clinic.quote("utility", [INDIA]))
    await settle(scenario, CLINIC, MONTH, "India", Category.UTILITY, 1)
    eleventh = only(await scenario.clinic.quote("utility", [INDIA]))
    await settle(scenario, CLINIC, MONTH, "India", Category.UTILITY, 89)
    hundredth = only(await scenario.clinic.quote("utility", [INDIA]))
    await settle(scenario, CLINIC, MONTH, "India", Category.UTILITY, 1)
    hundred_and_first = only(await scenario.clinic.quote("utility", [INDIA]))

    assert (tenth.tier, str(tenth.amount)) == (1, "0.0014")
    assert (eleventh.tier, str(eleventh.unit_price), str(eleventh.amount)) == (11, "0.001", "0.001")
    assert (hundredth.tier, str(hundredth.amount)) == (11, "0.001")
    assert (hundred_and_first.tier, str(hundred_and_first.amount)) == (101, "0.0008")


async def test_the_messages_of_one_quote_do_not_move_the_tier(scenario) -> None:
    await add_card(scenario)
    await settle(scenario, CLINIC, MONTH, "India", Category.UTILITY, 9)

    quoted = await scenario.clinic.quote("utility", [f"+91987654{i:04d}" for i in range(5)])

    assert {(item.tier, str(item.amount)) for item in quoted.items} == {(1, "0.0014")}


async def test_another_month_category_market_or_tenant_does_not_move_the_tier(scenario) -> None:
    await add_card(scenario)
    await settle(scenario, CLINIC, "2026-10", "India", Category.UTILITY, 500)
    await settle(scenario, CLINIC, "2026-12", "India", Category.UTILITY, 500)
    await settle(scenario, CLINIC, MONTH, "India", Category.MARKETING, 500)
    await settle(scenario, CLINIC, MONTH, "North America", Category.UTILITY, 500)
    await settle(scenario, OTHER_CLINIC, MONTH, "India", Category.UTILITY, 500)

    item = only(await scenario.clinic.quote("utility", [INDIA]))
    theirs = only(await scenario.other_clinic.quote("utility", [INDIA]))

    assert (item.tier, str(item.amount)) == (1, "0.0014")
    assert (theirs.tier, str(theirs.amount)) == (101, "0.0008")


async def test_the_month_is_the_utc_month(scenario) -> None:
    await add_card(scenario)
    # 21:00 on 30 November in New York (UTC-5) is already 02:00 on 1 December in UTC.
    scenario.clock.current = datetime(2026, 11, 30, 21, 0, tzinfo=timezone(timedelta(hours=-5)))
    await settle(scenario, CLINIC, "2026-12", "India", Category.UTILITY, 10)

    assert only(await scenario.clinic.quote("utility", [INDIA])).tier == 11


async def test_each_market_of_a_quote_reads_its_own_count(scenario) -> None:
    tiers = [
        *RATES,
        {"market": "North America", "category": "utility", "unit_price": "0.0030", "tier_from": 11},
    ]
    await add_card(scenario, rates=tiers)
    await settle(scenario, CLINIC, MONTH, "North America", Category.UTILITY, 10)

    quoted = await scenario.clinic.quote("utility", [INDIA, USA])

    assert [(item.market, item.tier, str(item.amount)) for item in quoted.items] == [
        ("India", 1, "0.0014"),
        ("North America", 11, "0.003"),
    ]


# Windows -----------------------------------------------------------------------------------------------------


async def test_outside_any_window_a_message_is_billed(scenario) -> None:
    await add_card(scenario)

    for window in (None, "none"):
        item = only(await scenario.clinic.quote("utility", [INDIA], window=window))
        assert (str(item.amount), item.free_reason) == ("0.0014", None)


async def test_the_customer_service_window_frees_only_the_cards_free_categories(scenario) -> None:
    await add_card(scenario)  # utility and service are free in the window
    await add_card(scenario, tenant_id=OTHER_CLINIC, free=())  # nothing is

    utility = only(await scenario.clinic.quote("utility", [INDIA], window="customer_service"))
    marketing = only(await scenario.clinic.quote("marketing", [INDIA], window="customer_service"))
    theirs = only(await scenario.other_clinic.quote("utility", [INDIA], window="customer_service"))

    assert (str(utility.amount), utility.free_reason) == ("0.00", FreeReason.CUSTOMER_SERVICE_WINDOW)
    assert (utility.market, utility.tier, str(utility.unit_price)) == ("India", 1, "0.0014")  # what it would cost
    assert (str(marketing.amount), marketing.free_reason) == ("0.0118", None)
    assert (str(theirs.amount), theirs.free_reason) == ("0.0014", None)


async def test_a_free_entry_point_frees_every_category(scenario) -> None:
    await add_card(scenario)

    quoted = await scenario.clinic.quote("marketing", [INDIA, USA], window="free_entry_point")

    assert [(str(item.unit_price), str(item.amount), item.free_reason) for item in quoted.items] == [
        ("0.0118", "0.00", FreeReason.FREE_ENTRY_POINT),
        ("0.025", "0.00", FreeReason.FREE_ENTRY_POINT),
    ]
    assert str(quoted.total) == "0.00"


async def test_a_referral_conversion_is_priced_as_marketing_and_free(scenario) -> None:
    await add_card(scenario)

    item = only(await scenario.clinic.quote("referral_conversion", [INDIA]))

    assert (item.category, str(item.unit_price), str(item.amount)) == (Category.MARKETING, "0.0118", "0.00")
    assert item.free_reason is FreeReason.FREE_ENTRY_POINT


async def test_marketing_lite_is_billed_as_marketing(scenario) -> None:
    await add_card(scenario)

    item = only(await scenario.clinic.quote("marketing_lite", [INDIA]))

    assert (item.category, str(item.amount), item.free_reason) == (Category.MARKETING, "0.0118", None)


# Sufficient: would holds for all of them succeed now ---------------------------------------------------------


async def test_a_quote_is_sufficient_up_to_the_available_balance(scenario) -> None:
    await add_card(scenario)
    await scenario.operator.adjust(CLINIC, "0.0236", "exactly two Indian marketing messages")

    two = await scenario.clinic.quote("marketing", [INDIA, "+919876543211"])
    three = await scenario.clinic.quote("marketing", [INDIA, "+919876543211", "+919876543212"])

    assert (str(two.total), str(two.available), two.sufficient) == ("0.0236", "0.0236", True)
    assert (str(three.total), str(three.available), three.sufficient) == ("0.0354", "0.0236", False)


async def test_a_funded_wallet_covers_a_large_quote(scenario) -> None:
    await add_card(scenario)
    await scenario.fund(CLINIC, "150.00")

    quoted = await scenario.clinic.quote("marketing", [f"+49151234{i:05d}" for i in range(1000)])

    assert (str(quoted.total), str(quoted.available), quoted.sufficient) == ("136.50", "150.00", True)
    assert not (await scenario.other_clinic.quote("marketing", [GERMANY])).sufficient  # their wallet is empty


async def test_a_free_quote_is_sufficient_on_an_empty_wallet(scenario) -> None:
    await add_card(scenario)

    quoted = await scenario.clinic.quote("marketing", [INDIA], window="free_entry_point")

    assert (str(quoted.total), str(quoted.available), quoted.sufficient) == ("0.00", "0.00", True)


# Who may do what ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("permissions", [(VIEW,), (VIEW, MANAGE)], ids=["clinic viewer", "clinic manager"])
async def test_a_clinic_cannot_add_list_or_read_cards(scenario, permissions: tuple[str, ...]) -> None:
    card = await add_card(scenario, tenant_id=CLINIC)
    clinic = scenario.as_(CLINIC, *permissions)

    with pytest.raises(ForbiddenError):
        await clinic.create_rate_card("Mine", STARTED, MARKETS, RATES, tenant_id=CLINIC)
    with pytest.raises(ForbiddenError):
        await clinic.rate_cards()
    with pytest.raises(ForbiddenError):
        await clinic.rate_cards(CLINIC)
    with pytest.raises(ForbiddenError):
        await clinic.rate_card(card.id)
    assert [c.id for c in (await scenario.operator.rate_cards()).items] == [card.id]


async def test_a_root_viewer_lists_cards_but_cannot_add_one(scenario) -> None:
    card = await add_card(scenario)
    viewer = scenario.as_("root", VIEW)

    with pytest.raises(ForbiddenError):
        await viewer.create_rate_card("Mine", STARTED, MARKETS, RATES)
    assert [c.id for c in (await viewer.rate_cards()).items] == [card.id]
    assert (await viewer.rate_card(card.id)).id == card.id


async def test_a_clinic_does_not_find_another_tenants_current_card(scenario) -> None:
    own = await add_card(scenario, tenant_id=CLINIC)
    await add_card(scenario, tenant_id=OTHER_CLINIC)

    with pytest.raises(NotFoundError):
        await scenario.clinic.current_rate_card(OTHER_CLINIC)
    assert (await scenario.clinic.current_rate_card(CLINIC)).id == own.id  # its own, named


async def test_root_sees_any_tenants_current_card(scenario) -> None:
    default = await add_card(scenario)
    theirs = await add_card(scenario, tenant_id=OTHER_CLINIC)

    assert (await scenario.operator.current_rate_card(OTHER_CLINIC)).id == theirs.id
    assert (await scenario.operator.current_rate_card(CLINIC)).id == default.id
    assert (await scenario.as_("root", VIEW).current_rate_card(OTHER_CLINIC)).id == theirs.id


async def test_a_clinic_cannot_quote_for_another_tenant(scenario) -> None:
    await add_card(scenario)

    with pytest.raises(NotFoundError):
        await scenario.clinic.quote("marketing", [INDIA], tenant_id=OTHER_CLINIC)
    assert only(await scenario.clinic.quote("marketing", [INDIA], tenant_id=CLINIC)).market == "India"


async def test_root_quotes_for_a_tenant_on_its_card_and_its_wallet(scenario) -> None:
    await add_card(scenario)
    own = await add_card(scenario, tenant_id=CLINIC, rates=[{**RATES[0], "unit_price": "0.0100"}])
    await scenario.fund(CLINIC, "5.00")

    quoted = await scenario.operator.quote("marketing", [INDIA], tenant_id=CLINIC)

    assert (quoted.tenant_id, quoted.rate_card_id, str(quoted.total)) == (CLINIC, own.id, "0.01")
    assert (str(quoted.available), quoted.sufficient) == ("5.00", True)


async def test_without_view_a_caller_neither_quotes_nor_reads_the_current_card(scenario) -> None:
    await add_card(scenario)
    nobody = scenario.as_(CLINIC)

    with pytest.raises(ForbiddenError):
        await nobody.quote("marketing", [INDIA])
    with pytest.raises(ForbiddenError):
        await nobody.current_rate_card()
