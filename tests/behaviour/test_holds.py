"""Holds (contract v2 §9), the lane and freeze rules (§10), direct charges against `available` and the statement
(§12), through the in-process facade on every backend. Each test fails if the rule it names is removed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from billing.application.caller import MANAGE, VIEW
from billing.domain.errors import (
    DuplicateError,
    ForbiddenError,
    InsufficientFundsError,
    InvalidStateError,
    LaneClosedError,
    NotFoundError,
    NotPricedError,
    ValidationError,
    WalletFrozenError,
)
from billing.domain.events import HoldPlaced, HoldSettled, HoldVoided
from billing.domain.hold import HoldStatus
from billing.domain.ledger import EntryKind
from billing.domain.pricing import Category, FreeReason
from billing.domain.wallet import WalletStatus

CLINIC = "clinic-a"
OTHER = "clinic-b"
STARTED = datetime(2026, 1, 1, tzinfo=UTC)
INDIA = "+919876543210"
USA = "+14155552671"
MARKETS = {"IN": "India", "US": "North America", "*": "Other"}
RATES: list[dict[str, object]] = [
    {"market": "India", "category": "marketing", "unit_price": "0.0118"},
    {"market": "India", "category": "utility", "unit_price": "0.0014"},
    {"market": "India", "category": "utility", "unit_price": "0.0010", "tier_from": 3},
    {"market": "India", "category": "service", "unit_price": "0"},
    {"market": "North America", "category": "marketing", "unit_price": "0.0250"},
    {"market": "North America", "category": "utility", "unit_price": "0.0500"},
]


@pytest.fixture
async def priced(scenario):
    """A default card in force, and the platform's messaging module acting on wallets."""
    scenario.tick()
    await scenario.operator.create_rate_card(
        "Test card", STARTED, MARKETS, RATES, free_in_service_window=["utility", "service"]
    )
    return scenario.service.as_platform("messaging")


async def funded(scenario, amount: str, tenant_id: str = CLINIC) -> None:
    scenario.tick()
    await scenario.operator.adjust(tenant_id, amount, "funding for the test")


def d(text: str) -> Decimal:
    return Decimal(text)


async def amounts(scenario, tenant_id: str = CLINIC) -> tuple[Decimal, Decimal, Decimal]:
    wallet = await scenario.operator.wallet(tenant_id)
    return wallet.balance.amount, wallet.held.amount, wallet.available.amount


def recorder(scenario, *types):
    heard: list[object] = []

    async def keep(event: object) -> None:
        heard.append(event)

    for event_type in types:
        scenario.service.subscribe(event_type, keep)
    return heard


# Placing -----------------------------------------------------------------------------------------------------


async def test_a_hold_reserves_its_price_without_touching_the_balance(scenario, priced) -> None:
    await funded(scenario, "1.00")
    heard = recorder(scenario, HoldPlaced)

    result = await priced.hold(CLINIC, "wamid.HBg/+=1", "utility", USA)

    hold = result.hold
    assert result.created
    assert (hold.status, hold.message_id, str(hold.amount), hold.market, hold.quote.country) == (
        HoldStatus.HELD,
        "wamid.HBg/+=1",
        "0.05",
        "North America",
        "US",
    )
    assert hold.expires_at == hold.created_at + timedelta(days=30)
    assert (hold.charged, hold.shortfall, hold.transaction_id) == (None, None, None)
    assert await amounts(scenario) == (d("1.00"), d("0.05"), d("0.95"))
    assert [(type(e), e.message_id) for e in heard] == [(HoldPlaced, "wamid.HBg/+=1")]
    assert await priced.get_hold(CLINIC, hold.id) == hold


async def test_the_same_message_asked_again_the_same_way_is_the_first_hold(scenario, priced) -> None:
    await funded(scenario, "1.00")
    first = await priced.hold(CLINIC, "m-1", "utility", USA)
    scenario.tick()

    again = await priced.hold(CLINIC, "m-1", "utility", USA)

    assert (again.created, again.hold) == (False, first.hold)
    assert await amounts(scenario) == (d("1.00"), d("0.05"), d("0.95"))


@pytest.mark.parametrize(("category", "recipient", "window"), [("marketing", USA, None), ("utility", INDIA, None)])
async def test_the_same_message_asked_differently_is_a_duplicate(scenario, priced, category, recipient, window) -> None:
    await funded(scenario, "1.00")
    await priced.hold(CLINIC, "m-1", "utility", USA)

    with pytest.raises(DuplicateError):
        await priced.hold(CLINIC, "m-1", category, recipient, window)

    assert await amounts(scenario) == (d("1.00"), d("0.05"), d("0.95"))


async def test_a_hold_the_available_balance_cannot_cover_is_refused_and_holds_nothing(scenario, priced) -> None:
    await funded(scenario, "0.07")
    await priced.hold(CLINIC, "m-1", "utility", USA)

    with pytest.raises(InsufficientFundsError):
        await priced.hold(CLINIC, "m-2", "utility", USA)  # 0.05 > 0.02 available

    assert await amounts(scenario) == (d("0.07"), d("0.05"), d("0.02"))
    assert (await priced.holds(CLINIC)).total == 1


async def test_a_free_hold_needs_no_money_not_even_a_wallet(scenario, priced) -> None:
    result = await priced.hold(CLINIC, "m-1", "utility", INDIA, window="customer_service")

    assert (str(result.hold.amount), result.hold.quote.free_reason) == ("0.00", FreeReason.CUSTOMER_SERVICE_WINDOW)
    assert await amounts(scenario) == (0, 0, 0)


async def test_a_message_nobody_prices_is_not_held(scenario, priced) -> None:
    await funded(scenario, "1.00")

    with pytest.raises(NotPricedError):
        await priced.hold(CLINIC, "m-1", "authentication", INDIA)
    with pytest.raises(ValidationError) as invalid:
        await priced.hold(CLINIC, "m-2", "utility", "+1 555")

    assert [e.field for e in invalid.value.errors] == ["recipient"]
    assert (await priced.holds(CLINIC)).total == 0


@pytest.mark.parametrize("message_id", ["", "   ", "x" * 201, "line\nbreak", "nul\x00"])
async def test_a_message_id_must_be_one_line_of_1_to_200_characters(scenario, priced, message_id) -> None:
    await funded(scenario, "1.00")

    with pytest.raises(ValidationError) as invalid:
        await priced.hold(CLINIC, message_id, "utility", USA)

    assert [e.field for e in invalid.value.errors] == ["message_id"]


@pytest.mark.parametrize("seconds", [0, 2_592_001, -5])
async def test_a_hold_lives_1_second_to_30_days(scenario, priced, seconds) -> None:
    await funded(scenario, "1.00")

    with pytest.raises(ValidationError):
        await priced.hold(CLINIC, "m-1", "utility", USA, expires_in_seconds=seconds)

    short = await priced.hold(CLINIC, "m-2", "utility", USA, expires_in_seconds=60)
    assert short.hold.expires_at == short.hold.created_at + timedelta(seconds=60)


async def test_only_the_platform_holds_settles_and_voids(scenario, priced) -> None:
    await funded(scenario, "1.00")
    clinic_manager = scenario.as_(CLINIC, VIEW, MANAGE)
    await priced.hold(CLINIC, "m-1", "utility", USA)

    for attempt in (
        clinic_manager.hold(CLINIC, "m-2", "utility", USA),
        clinic_manager.settle(CLINIC, "m-1"),
        clinic_manager.void(CLINIC, "m-1"),
        clinic_manager.hold_batch(CLINIC, [{"message_id": "m-3", "category": "utility", "recipient": USA}]),
    ):
        with pytest.raises(ForbiddenError):
            await attempt

    assert await amounts(scenario) == (d("1.00"), d("0.05"), d("0.95"))


# The lane and the freeze --------------------------------------------------------------------------------------


async def test_marketing_may_not_eat_into_the_reserve_but_clinical_messages_may(scenario, priced) -> None:
    await funded(scenario, "1.02")
    await scenario.as_(CLINIC, VIEW, MANAGE).set_settings("1.00")

    with pytest.raises(LaneClosedError):
        await priced.hold(CLINIC, "promo-1", "marketing", USA)  # 1.02 - 0.025 < 1.00
    reminder = await priced.hold(CLINIC, "reminder-1", "utility", USA)

    assert reminder.created
    assert await amounts(scenario) == (d("1.02"), d("0.05"), d("0.97"))
    with pytest.raises(InsufficientFundsError):  # what cannot be paid at all is insufficient, whatever the lane
        await priced.hold_batch(
            CLINIC, [{"message_id": f"r-{n}", "category": "utility", "recipient": USA} for n in range(21)]
        )


async def test_a_frozen_wallet_takes_no_holds_nor_direct_charges_but_settles_and_voids(scenario, priced) -> None:
    await funded(scenario, "1.00")
    await priced.hold(CLINIC, "m-1", "utility", USA)
    await priced.hold(CLINIC, "m-2", "utility", USA)

    frozen = await scenario.operator.freeze(CLINIC, "chargeback under review")

    assert (frozen.status, frozen.frozen_reason) == (WalletStatus.FROZEN, "chargeback under review")
    for refused in (
        priced.hold(CLINIC, "m-3", "utility", USA),
        priced.hold(CLINIC, "free", "utility", INDIA, window="customer_service"),
        priced.charge(CLINIC, "0.01", "direct-1"),
    ):
        with pytest.raises(WalletFrozenError):
            await refused
    await priced.settle(CLINIC, "m-1")
    await priced.void(CLINIC, "m-2")
    await funded(scenario, "0.50")
    assert await amounts(scenario) == (d("1.45"), d("0"), d("1.45"))

    thawed = await scenario.operator.unfreeze(CLINIC)

    assert (thawed.status, thawed.frozen_reason) == (WalletStatus.ACTIVE, None)
    assert (await priced.hold(CLINIC, "m-3", "utility", USA)).created


async def test_only_operators_freeze_and_a_reason_is_required(scenario, priced) -> None:
    with pytest.raises(ForbiddenError):
        await scenario.as_(CLINIC, VIEW, MANAGE).freeze(CLINIC, "no")
    with pytest.raises(ValidationError):
        await scenario.operator.freeze(CLINIC, "  ")

    assert (await scenario.operator.wallet(CLINIC)).status is WalletStatus.ACTIVE


# Direct charges against `available` ---------------------------------------------------------------------------


async def test_a_direct_charge_needs_the_available_balance_not_the_balance(scenario, priced) -> None:
    await funded(scenario, "0.10")
    await priced.hold(CLINIC, "m-1", "utility", USA)

    with pytest.raises(InsufficientFundsError):
        await priced.charge(CLINIC, "0.0501", "direct-1")
    charged = await priced.charge(CLINIC, "0.0499", "direct-2")

    assert str(charged.entry.amount) == "-0.0499"
    assert await amounts(scenario) == (d("0.0501"), d("0.05"), d("0.0001"))
    with pytest.raises(InsufficientFundsError):  # an operator's correction may not eat into what is held either
        await scenario.operator.adjust(CLINIC, "-0.0002", "too much")


async def test_a_held_message_id_is_its_charge_reference(scenario, priced) -> None:
    await funded(scenario, "1.00")
    await priced.hold(CLINIC, "m-1", "utility", USA)
    await priced.charge(CLINIC, "0.01", "m-2")

    with pytest.raises(DuplicateError):
        await priced.charge(CLINIC, "0.05", "m-1")  # a direct charge reusing a held message's id
    with pytest.raises(DuplicateError):
        await priced.hold(CLINIC, "m-2", "utility", USA)  # a hold for a message id already charged
    await priced.settle(CLINIC, "m-1")
    with pytest.raises(DuplicateError):  # its settle's charge row is not a direct charge to repeat
        await priced.charge(CLINIC, "0.05", "m-1")

    assert await amounts(scenario) == (d("0.94"), d("0"), d("0.94"))


# Settling -----------------------------------------------------------------------------------------------------


async def test_settling_charges_the_held_price_once_with_its_price_snapshot(scenario, priced) -> None:
    await funded(scenario, "1.00")
    held = (await priced.hold(CLINIC, "m-1", "utility", USA)).hold
    heard = recorder(scenario, HoldSettled)
    scenario.tick()

    settled = await priced.settle(CLINIC, "m-1")
    again = await priced.settle(CLINIC, "m-1")

    assert (settled.status, str(settled.charged), str(settled.shortfall)) == (HoldStatus.SETTLED, "0.05", "0.00")
    assert settled.settled_at == scenario.clock.now()
    assert again == settled
    charge = (await scenario.ledger())[-1]
    assert (charge.kind, str(charge.amount), charge.reference_id, charge.id) == (
        EntryKind.CHARGE,
        "-0.05",
        "m-1",
        settled.transaction_id,
    )
    assert charge.price is not None
    assert (charge.price.hold_id, charge.price.category, charge.price.market, charge.price.country) == (
        held.id,
        Category.UTILITY,
        "North America",
        "US",
    )
    assert (charge.price.tier, charge.price.rate_card_id, str(charge.price.unit_price)) == (
        1,
        held.quote.rate_card_id,
        "0.05",
    )
    assert await amounts(scenario) == (d("0.95"), d("0"), d("0.95"))
    assert len(heard) == 1


async def test_meta_s_category_reprices_on_the_hold_s_card_and_tier(scenario, priced) -> None:
    await funded(scenario, "1.00")
    await priced.hold(CLINIC, "m-1", "utility", INDIA)
    scenario.tick()
    await scenario.operator.create_rate_card(  # a newer card: the hold keeps its own
        "Newer", STARTED + timedelta(days=1), MARKETS, [{**r, "unit_price": "0.9"} for r in RATES]
    )

    settled = await priced.settle(CLINIC, "m-1", category="marketing")

    assert (str(settled.charged), settled.settled_category) == ("0.0118", Category.MARKETING)
    assert str((await scenario.ledger())[-1].price.unit_price) == "0.0118"
    assert await amounts(scenario) == (d("0.9882"), d("0"), d("0.9882"))


async def test_a_higher_price_than_held_takes_what_is_available_and_records_the_shortfall(scenario, priced) -> None:
    await funded(scenario, "0.0020")
    await priced.hold(CLINIC, "m-1", "utility", INDIA)  # 0.0014 held, 0.0006 available

    settled = await priced.settle(CLINIC, "m-1", category="marketing")  # 0.0118 by Meta's word

    assert (str(settled.charged), str(settled.shortfall)) == ("0.002", "0.0098")
    assert await amounts(scenario) == (d("0"), d("0"), d("0"))


@pytest.mark.parametrize(
    ("pricing_type", "billable"), [("free_customer_service", None), ("free_entry_point", None), (None, False)]
)
async def test_meta_s_free_types_settle_without_a_ledger_row(scenario, priced, pricing_type, billable) -> None:
    await funded(scenario, "1.00")
    await priced.hold(CLINIC, "m-1", "utility", USA)

    settled = await priced.settle(CLINIC, "m-1", pricing_type=pricing_type, billable=billable)

    assert (settled.status, str(settled.charged), settled.transaction_id) == (HoldStatus.SETTLED, "0.00", None)
    assert [e.kind for e in await scenario.ledger()] == [EntryKind.ADJUSTMENT]
    assert await amounts(scenario) == (d("1.00"), d("0"), d("1.00"))


async def test_settled_billable_messages_move_the_volume_tier(scenario, priced) -> None:
    await funded(scenario, "1.00")
    for n in range(2):
        await priced.hold(CLINIC, f"m-{n}", "utility", INDIA)
        await priced.settle(CLINIC, f"m-{n}")
    await priced.hold(CLINIC, "free", "utility", INDIA)
    await priced.settle(CLINIC, "free", pricing_type="free_customer_service")  # free: not counted

    third = await priced.hold(CLINIC, "m-2", "utility", INDIA)

    assert (third.hold.quote.tier, str(third.hold.amount)) == (3, "0.001")


async def test_settling_needs_an_open_unexpired_hold(scenario, priced) -> None:
    await funded(scenario, "1.00")
    await priced.hold(CLINIC, "voided", "utility", USA)
    await priced.void(CLINIC, "voided")
    await priced.hold(CLINIC, "late", "utility", USA, expires_in_seconds=60)
    scenario.clock.advance(timedelta(seconds=60))

    for message_id in ("voided", "late"):
        with pytest.raises(InvalidStateError):
            await priced.settle(CLINIC, message_id)
    with pytest.raises(NotFoundError):
        await priced.settle(CLINIC, "never-held")

    assert await amounts(scenario) == (d("1.00"), d("0.05"), d("0.95"))  # "late" counts until swept


# Voiding and expiry -------------------------------------------------------------------------------------------


async def test_voiding_releases_the_money_once(scenario, priced) -> None:
    await funded(scenario, "1.00")
    await priced.hold(CLINIC, "m-1", "utility", USA)
    heard = recorder(scenario, HoldVoided)

    voided = await priced.void(CLINIC, "m-1")
    again = await priced.void(CLINIC, "m-1")

    assert voided.status is HoldStatus.VOIDED
    assert again == voided
    assert len(heard) == 1
    assert await amounts(scenario) == (d("1.00"), d("0"), d("1.00"))
    assert [e.kind for e in await scenario.ledger()] == [EntryKind.ADJUSTMENT]


async def test_a_settled_hold_cannot_be_voided(scenario, priced) -> None:
    await funded(scenario, "1.00")
    await priced.hold(CLINIC, "m-1", "utility", USA)
    await priced.settle(CLINIC, "m-1")

    with pytest.raises(InvalidStateError):
        await priced.void(CLINIC, "m-1")

    assert await amounts(scenario) == (d("0.95"), d("0"), d("0.95"))


async def test_the_sweeper_expires_due_holds_and_releases_them(scenario, priced) -> None:
    await funded(scenario, "1.00")
    await priced.hold(CLINIC, "short", "utility", USA, expires_in_seconds=60)
    await priced.hold(CLINIC, "long", "utility", USA)
    scenario.clock.advance(timedelta(seconds=61))

    assert (await priced.expire_holds()).expired == 1
    assert (await priced.expire_holds()).expired == 0

    expired = await priced.holds(CLINIC, status="expired")
    assert [h.message_id for h in expired.items] == ["short"]
    assert await amounts(scenario) == (d("1.00"), d("0.05"), d("0.95"))
    assert (await priced.void(CLINIC, "short")).status is HoldStatus.EXPIRED  # an expired hold stays as it is


async def test_voiding_an_unswept_hold_past_its_expiry_expires_it(scenario, priced) -> None:
    await funded(scenario, "1.00")
    await priced.hold(CLINIC, "m-1", "utility", USA, expires_in_seconds=60)
    scenario.clock.advance(timedelta(minutes=5))

    hold = await priced.void(CLINIC, "m-1")

    assert (hold.status, hold.voided_at) == (HoldStatus.EXPIRED, None)
    assert await amounts(scenario) == (d("1.00"), d("0"), d("1.00"))


# Batches ------------------------------------------------------------------------------------------------------


def batch(*ids: str, category: str = "utility", recipient: str = USA) -> list[dict[str, str]]:
    return [{"message_id": i, "category": category, "recipient": recipient} for i in ids]


async def test_a_batch_is_held_whole_and_answers_earlier_holds_as_they_are(scenario, priced) -> None:
    await funded(scenario, "1.00")
    earlier = (await priced.hold(CLINIC, "b-2", "utility", USA)).hold

    held = await priced.hold_batch(CLINIC, batch("b-1", "b-2", "b-3"))

    assert [h.message_id for h in held.items] == ["b-1", "b-2", "b-3"]
    assert held.items[1] == earlier
    assert (str(held.total), held.created) == ("0.15", True)
    assert await amounts(scenario) == (d("1.00"), d("0.15"), d("0.85"))
    assert (await priced.hold_batch(CLINIC, batch("b-1", "b-2"))).created is False


async def test_a_batch_that_cannot_be_paid_whole_holds_nothing(scenario, priced) -> None:
    await funded(scenario, "0.12")

    with pytest.raises(InsufficientFundsError):
        await priced.hold_batch(CLINIC, batch("b-1", "b-2", "b-3"))

    assert await amounts(scenario) == (d("0.12"), d("0"), d("0.12"))
    assert (await priced.holds(CLINIC)).total == 0


async def test_a_batch_with_a_message_id_twice_or_asked_differently_is_refused(scenario, priced) -> None:
    await funded(scenario, "1.00")
    await priced.hold(CLINIC, "b-1", "marketing", USA)

    with pytest.raises(ValidationError) as twice:
        await priced.hold_batch(CLINIC, batch("b-2", "b-3", "b-2"))
    with pytest.raises(DuplicateError):
        await priced.hold_batch(CLINIC, batch("b-4", "b-1"))

    assert [e.field for e in twice.value.errors] == ["messages[2].message_id"]
    assert (await priced.holds(CLINIC)).total == 1


async def test_a_batch_holds_at_most_1000_messages(scenario, priced) -> None:
    with pytest.raises(ValidationError):
        await priced.hold_batch(CLINIC, [])
    with pytest.raises(ValidationError):
        await priced.hold_batch(CLINIC, batch(*(f"m-{n}" for n in range(1001))))


async def test_a_batch_checks_the_lane_on_its_marketing_total(scenario, priced) -> None:
    await funded(scenario, "1.10")
    await scenario.as_(CLINIC, VIEW, MANAGE).set_settings("1.00")

    with pytest.raises(LaneClosedError):  # 5 x 0.025 marketing would leave 0.975
        await priced.hold_batch(CLINIC, batch(*(f"p-{n}" for n in range(5)), category="marketing"))

    held = await priced.hold_batch(CLINIC, batch(*(f"p-{n}" for n in range(4)), category="marketing"))
    assert str(held.total) == "0.10"


# Reading holds ------------------------------------------------------------------------------------------------


async def test_a_clinic_lists_its_own_holds_newest_first_with_filters(scenario, priced) -> None:
    await funded(scenario, "1.00")
    await funded(scenario, "1.00", OTHER)
    for message_id, category in (("a", "utility"), ("b", "marketing"), ("c", "utility")):
        scenario.tick()
        await priced.hold(CLINIC, message_id, category, USA)
    await priced.hold(OTHER, "theirs", "utility", USA)
    await priced.settle(CLINIC, "a")

    mine = await scenario.clinic.holds()
    utility = await scenario.clinic.holds(category="utility", status="held")
    by_id = await scenario.clinic.holds(message_id="b")

    assert [h.message_id for h in mine.items] == ["c", "b", "a"]
    assert [h.message_id for h in utility.items] == ["c"]
    assert [h.message_id for h in by_id.items] == ["b"]
    with pytest.raises(ForbiddenError):
        await scenario.clinic.holds(OTHER)
    with pytest.raises(ValidationError):
        await scenario.clinic.holds(status="pending")


async def test_another_tenant_s_hold_is_not_found(scenario, priced) -> None:
    await funded(scenario, "1.00", OTHER)
    theirs = (await priced.hold(OTHER, "theirs", "utility", USA)).hold

    with pytest.raises(NotFoundError):
        await scenario.clinic.get_hold(OTHER, theirs.id)
    with pytest.raises(NotFoundError):
        await priced.get_hold(CLINIC, theirs.id)

    assert (await scenario.as_(OTHER, VIEW).get_hold(OTHER, theirs.id)) == theirs


# Quotes see holds, the lane and the freeze --------------------------------------------------------------------


async def test_a_quote_says_what_holds_would_do_now(scenario, priced) -> None:
    await funded(scenario, "0.06")
    await priced.hold(CLINIC, "m-1", "utility", USA)

    quoted = await scenario.clinic.quote("utility", [USA])
    assert (str(quoted.available), quoted.sufficient) == ("0.01", False)
    cheap = await scenario.clinic.quote("utility", [INDIA])
    assert cheap.sufficient
    await scenario.operator.freeze(CLINIC, "review")
    assert (await scenario.clinic.quote("utility", [INDIA])).sufficient is False


# Settings -----------------------------------------------------------------------------------------------------


async def test_settings_default_and_are_replaced_whole_by_a_manager(scenario, priced) -> None:
    clinic_manager = scenario.as_(CLINIC, VIEW, MANAGE, user_id="manager-1")

    defaults = await scenario.clinic.settings()
    saved = await clinic_manager.set_settings("2.50")

    assert str(defaults.marketing_reserve) == "0.00"
    assert (str(saved.marketing_reserve), saved.updated_by) == ("2.50", "manager-1")
    assert await scenario.clinic.settings() == saved
    assert str((await scenario.operator.settings(CLINIC)).marketing_reserve) == "2.50"
    await scenario.operator.set_settings("0", tenant_id=CLINIC)
    assert str((await scenario.clinic.settings()).marketing_reserve) == "0.00"


async def test_settings_need_manage_and_minor_digits(scenario, priced) -> None:
    with pytest.raises(ForbiddenError):
        await scenario.clinic.set_settings("1.00")
    with pytest.raises(ForbiddenError):
        await scenario.as_(CLINIC, VIEW, MANAGE).set_settings("1.00", tenant_id=OTHER)
    for bad in ("1.005", "-1.00", "ten"):
        with pytest.raises(ValidationError):
            await scenario.as_(CLINIC, VIEW, MANAGE).set_settings(bad)

    assert str((await scenario.clinic.settings()).marketing_reserve) == "0.00"


# Statements ---------------------------------------------------------------------------------------------------


async def test_a_statement_lists_whole_utc_days_oldest_first_in_chunks(scenario, priced) -> None:
    scenario.clock.current = datetime(2026, 10, 31, 23, 59, tzinfo=UTC)
    await scenario.operator.adjust(CLINIC, "9.00", "October")
    scenario.clock.current = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
    for n in range(5):
        scenario.tick()
        await scenario.operator.adjust(CLINIC, "1.00", f"November {n}")
    await priced.hold(CLINIC, "m-1", "utility", USA)
    await priced.settle(CLINIC, "m-1")

    statement = await scenario.clinic.statement(chunk=2)
    rows = [entry async for entry in statement.entries()]

    assert (statement.period.first_day, statement.period.last_day) == (date(2026, 11, 1), date(2026, 11, 30))
    assert [e.description for e in rows][:5] == [f"November {n}" for n in range(5)]
    assert rows[-1].reference_id == "m-1"
    assert rows[-1].price is not None
    october = await scenario.clinic.statement(date(2026, 10, 31), date(2026, 10, 31))
    assert [e.description async for e in october.entries()] == ["October"]


async def test_a_statement_period_is_checked(scenario, priced) -> None:
    with pytest.raises(ValidationError):
        await scenario.clinic.statement(date(2026, 11, 2), date(2026, 11, 1))
    with pytest.raises(ValidationError):
        await scenario.clinic.statement(date(2025, 1, 1), date(2026, 1, 2))  # 367 days
    with pytest.raises(ForbiddenError):
        await scenario.clinic.statement(tenant_id=OTHER)

    year = await scenario.operator.statement(date(2025, 1, 1), date(2025, 12, 31), tenant_id=CLINIC)
    assert [e async for e in year.entries()] == []
