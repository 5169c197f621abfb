"""What Meta charges the platform (contract v3 §15): cost cards, the cost of each settled or charged message, the
hold's cost estimate and the margin report, through the in-process facade on every backend. Each test fails if the
rule it names is removed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.domain.errors import DuplicateError, ForbiddenError, NotFoundError, ValidationError
from billing.domain.pricing import CardKind

CLINIC = "clinic-a"
OTHER = "clinic-b"
STARTED = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
INDIA = "+919876543210"
USA = "+14155552671"
PRICE_MARKETS = {"IN": "India", "US": "North America", "*": "Other"}
PRICES: list[dict[str, object]] = [
    {"market": "India", "category": "marketing", "unit_price": "0.0150"},
    {"market": "India", "category": "utility", "unit_price": "0.0020"},
    {"market": "North America", "category": "marketing", "unit_price": "0.0300"},
    {"market": "Other", "category": "marketing", "unit_price": "0.0150"},
]
# Meta's own markets: named differently from the price card's, and no rate for North America's utility.
COST_MARKETS = {"IN": "IN-Meta", "US": "US-Meta"}
COSTS: list[dict[str, object]] = [
    {"market": "IN-Meta", "category": "marketing", "unit_price": "0.0107"},
    {"market": "IN-Meta", "category": "marketing", "unit_price": "0.0090", "tier_from": 3},
    {"market": "IN-Meta", "category": "utility", "unit_price": "0.0014"},
    {"market": "US-Meta", "category": "marketing", "unit_price": "0.0250"},
]


def d(text: str) -> Decimal:
    return Decimal(text)


@pytest.fixture
async def messaging(scenario):
    """A price card and a cost card in force, two funded clinics, and the messaging module."""
    scenario.clock.current = NOW
    operator = scenario.operator
    await operator.create_rate_card("Prices", STARTED, PRICE_MARKETS, PRICES)
    await operator.create_rate_card("Meta 2026", STARTED, COST_MARKETS, COSTS, kind="cost")
    for tenant in (CLINIC, OTHER):
        await operator.adjust(tenant, "100.00", "funding")
    return scenario.service.as_platform("messaging")


async def test_a_cost_card_is_platform_wide_and_never_prices_a_message(scenario, messaging) -> None:
    with pytest.raises(ValidationError) as refused:
        await scenario.operator.create_rate_card("Meta", STARTED, COST_MARKETS, COSTS, tenant_id=CLINIC, kind="cost")
    assert [e.field for e in refused.value.errors] == ["tenant_id"]
    with pytest.raises(ValidationError):
        await scenario.operator.create_rate_card("Meta", STARTED, COST_MARKETS, COSTS, kind="margin")
    # The cost card is newer than the price card, and still the price card prices the quote.
    quoted = await messaging.quote("marketing", [INDIA], tenant_id=CLINIC)
    assert quoted.items[0].market == "India"
    assert (await scenario.operator.current_rate_card(CLINIC)).kind is CardKind.PRICE
    assert (await scenario.operator.current_rate_card(kind="cost")).name == "Meta 2026"


async def test_cost_cards_are_listed_apart_and_only_for_root(scenario, messaging) -> None:
    prices = await scenario.operator.rate_cards()
    costs = await scenario.operator.rate_cards(kind="cost")
    assert [card.name for card in prices.items] == ["Prices"]
    assert [card.name for card in costs.items] == ["Meta 2026"]
    with pytest.raises(ForbiddenError):
        await scenario.clinic.current_rate_card(kind="cost")
    assert (await scenario.clinic.current_rate_card()).name == "Prices"


async def test_a_settled_message_records_its_cost_on_the_cost_card_in_force(scenario, messaging) -> None:
    held = (await messaging.hold(CLINIC, "wamid.1", "marketing", INDIA)).hold
    assert held.cost_estimate is not None
    assert held.cost_estimate.amount == d("0.0107")
    settled = await messaging.settle(CLINIC, "wamid.1")
    assert settled.cost is not None
    assert (settled.cost.amount.amount, settled.cost.unit_price.amount) == (d("0.0107"), d("0.0107"))
    assert (settled.cost.market, settled.cost.tier) == ("IN-Meta", 1)
    assert settled.message_at == NOW
    [charge] = [e for e in (await scenario.operator.transactions(CLINIC)).items if e.kind.value == "charge"]
    assert charge.price is not None
    assert charge.price.cost == settled.cost


async def test_a_message_without_a_cost_rate_is_uncosted_and_still_settles(scenario, messaging) -> None:
    await messaging.hold(CLINIC, "wamid.2", "marketing", "+5511987654321")  # Brazil: no cost market
    settled = await messaging.settle(CLINIC, "wamid.2")
    assert settled.charged is not None
    assert settled.charged.is_positive
    assert settled.cost is None
    assert settled.cost_estimate is None


async def test_cost_tiers_count_costed_messages_per_tenant_in_the_cost_cards_market(scenario, messaging) -> None:
    for i in range(3):
        await messaging.hold(CLINIC, f"wamid.t{i}", "marketing", INDIA)
        settled = await messaging.settle(CLINIC, f"wamid.t{i}")
    assert settled.cost is not None
    assert (settled.cost.tier, settled.cost.amount.amount) == (3, d("0.0090"))
    await messaging.hold(OTHER, "wamid.o", "marketing", INDIA)  # another tenant starts at the first tier
    other = await messaging.settle(OTHER, "wamid.o")
    assert other.cost is not None
    assert other.cost.tier == 1


async def test_a_message_free_by_metas_pricing_type_costs_nothing(scenario, messaging) -> None:
    await messaging.hold(CLINIC, "wamid.f", "marketing", INDIA)
    settled = await messaging.settle(CLINIC, "wamid.f", pricing_type="free_customer_service")
    assert settled.cost is not None
    assert not settled.cost.amount.is_positive


async def test_the_margin_report_sums_billed_cost_and_uncosted(scenario, messaging) -> None:
    await messaging.hold(CLINIC, "wamid.a", "marketing", INDIA)  # 0.0150 billed, 0.0107 cost
    await messaging.settle(CLINIC, "wamid.a")
    await messaging.hold(CLINIC, "wamid.b", "marketing", "+5511987654321")  # uncosted: 0.0150 billed ("Other")
    await messaging.settle(CLINIC, "wamid.b")
    await messaging.hold(OTHER, "wamid.c", "marketing", USA)  # 0.0300 billed, 0.0250 cost
    await messaging.settle(OTHER, "wamid.c")
    report = await scenario.operator.margin()
    assert (report.from_day, report.to_day) == (date(2026, 11, 1), date(2026, 11, 30))
    rows = {row.key: row for row in report.rows}
    assert list(rows) == [CLINIC, OTHER]
    clinic = rows[CLINIC]
    assert (clinic.messages, clinic.uncosted) == (2, 1)
    assert (clinic.billed.amount, clinic.cost.amount, clinic.uncosted_billed.amount) == (
        d("0.0300"),
        d("0.0107"),
        d("0.0150"),
    )
    assert clinic.margin.amount == d("0.0043")  # billed - uncosted_billed - cost
    assert report.total.margin.amount == d("0.0093")
    by_market = await scenario.operator.margin(group_by="market")
    assert [row.key for row in by_market.rows] == ["India", "North America", "Other"]


async def test_a_refund_lowers_billed_on_its_messages_day_and_keeps_the_cost(scenario, messaging) -> None:
    await messaging.hold(CLINIC, "wamid.r", "marketing", INDIA)
    await messaging.settle(CLINIC, "wamid.r")
    scenario.clock.current = NOW + timedelta(days=25)  # the next month
    await scenario.operator.refund(CLINIC, "wamid.r", "0.0050", "goodwill")
    [row] = (await scenario.operator.margin(date(2026, 11, 10), date(2026, 11, 10), group_by="day")).rows
    assert row.key == "2026-11-10"
    assert (row.messages, row.billed.amount, row.cost.amount) == (1, d("0.0100"), d("0.0107"))
    assert (await scenario.operator.margin()).rows == ()  # December: nothing of its own


async def test_a_free_settled_message_counts_with_its_cost(scenario, messaging) -> None:
    await messaging.hold(CLINIC, "wamid.w", "utility", INDIA, window="free_entry_point")
    await messaging.settle(CLINIC, "wamid.w")
    [row] = (await scenario.operator.margin(group_by="category")).rows
    assert (row.key, row.messages, row.billed.amount, row.cost.amount) == ("utility", 1, d("0"), d("0"))


async def test_the_margin_report_refuses_a_bad_range_and_clinics(scenario, messaging) -> None:
    with pytest.raises(ValidationError):
        await scenario.operator.margin(date(2026, 11, 2), date(2026, 11, 1))
    with pytest.raises(ValidationError):
        await scenario.operator.margin(date(2025, 1, 1), date(2026, 1, 2))  # 367 days
    assert (await scenario.operator.margin(date(2025, 1, 1), date(2026, 1, 1))).rows == ()  # 366: the most
    with pytest.raises(ValidationError):
        await scenario.operator.margin(group_by="week")
    with pytest.raises(ForbiddenError):
        await scenario.clinic.margin()


async def test_without_a_cost_card_current_cost_is_not_found(scenario) -> None:
    with pytest.raises(NotFoundError):
        await scenario.operator.current_rate_card(kind="cost")


# Business numbers (v3 §16) ---------------------------------------------------------------------------------------

NUMBER = "106540352242922"
OTHER_NUMBER = "106540352242923"


@pytest.fixture
async def numbers(scenario, messaging):
    await scenario.operator.map_whatsapp_number(NUMBER, CLINIC)
    await scenario.operator.map_whatsapp_number(OTHER_NUMBER, OTHER)
    return messaging


async def test_a_hold_and_a_quote_carry_a_business_number_of_their_tenant(scenario, numbers) -> None:
    held = (await numbers.hold(CLINIC, "wamid.n", "marketing", INDIA, phone_number_id=NUMBER)).hold
    assert held.phone_number_id == NUMBER
    assert (await numbers.get_hold(CLINIC, held.id)).phone_number_id == NUMBER
    quoted = await numbers.quote("marketing", [INDIA], tenant_id=CLINIC, phone_number_id=NUMBER)
    assert quoted.phone_number_id == NUMBER


async def test_a_number_not_mapped_to_the_tenant_is_refused_and_nothing_is_held(scenario, numbers) -> None:
    for number in (OTHER_NUMBER, "999", ""):
        with pytest.raises(ValidationError) as refused:
            await numbers.hold(CLINIC, "wamid.x", "marketing", INDIA, phone_number_id=number)
        assert [e.field for e in refused.value.errors] == ["phone_number_id"]
    with pytest.raises(ValidationError) as batch:
        await numbers.hold_batch(
            CLINIC,
            [
                {"message_id": "wamid.b1", "category": "marketing", "recipient": INDIA, "phone_number_id": NUMBER},
                {"message_id": "wamid.b2", "category": "marketing", "recipient": INDIA, "phone_number_id": "999"},
            ],
        )
    assert [e.field for e in batch.value.errors] == ["messages[1].phone_number_id"]
    with pytest.raises(ValidationError):
        await numbers.quote("marketing", [INDIA], tenant_id=CLINIC, phone_number_id=OTHER_NUMBER)
    assert (await scenario.operator.holds(CLINIC)).total == 0


async def test_the_same_message_with_another_or_no_number_is_a_duplicate(scenario, numbers) -> None:
    await scenario.operator.map_whatsapp_number("106540352242924", CLINIC)
    first = (await numbers.hold(CLINIC, "wamid.r", "marketing", INDIA, phone_number_id=NUMBER)).hold
    again = await numbers.hold(CLINIC, "wamid.r", "marketing", INDIA, phone_number_id=NUMBER)
    assert (again.created, again.hold.id) == (False, first.id)
    for number in ("106540352242924", None):
        with pytest.raises(DuplicateError):
            await numbers.hold(CLINIC, "wamid.r", "marketing", INDIA, phone_number_id=number)
