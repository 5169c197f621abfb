"""Holds (contract v2 §9, §10's lane and freeze): the funds rules, the settle math, the hold state machine, Meta's
word at settlement, and properties every sequence of holds, settles, voids and expiries keeps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from billing.domain.errors import (
    DuplicateError,
    InsufficientFundsError,
    InvalidStateError,
    LaneClosedError,
    NotPricedError,
    ValidationError,
    WalletFrozenError,
)
from billing.domain.hold import (
    DEFAULT_HOLD_TTL,
    Funds,
    Hold,
    HoldStatus,
    WalletStatus,
    reprice,
    validate_message_id,
)
from billing.domain.money import Money
from billing.domain.pricing import Category, FreeReason, Quote, Rate, RateCard, Window, quote

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
INDIA = "+919876543210"
WAMID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3RjQ5QUQ5/+Q0NzNCNUY5OUIA=="


def _usd(text: str) -> Money:
    return Money(Decimal(text), "USD")


CARD = RateCard(
    id=uuid4(),
    name="Meta list rates",
    currency="USD",
    effective_from=datetime(2026, 1, 1, tzinfo=UTC),
    tenant_id=None,
    free_in_service_window=[Category.UTILITY, Category.SERVICE],
    markets={"IN": "India", "*": "Other"},
    rates=[
        Rate("India", Category.MARKETING, _usd("0.0118")),
        Rate("India", Category.UTILITY, _usd("0.0014")),
        Rate("India", Category.UTILITY, _usd("0.0012"), tier_from=1001),
        Rate("India", Category.AUTHENTICATION, _usd("0.0013")),
        Rate("India", Category.AUTHENTICATION, _usd("0.0010"), tier_from=5001),
        Rate("India", Category.SERVICE, _usd("0")),
        Rate("Other", Category.MARKETING, _usd("0.0250")),
    ],
    created_by="root",
    created_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def _funds(
    balance: str = "10.00", held: str = "0", reserve: str = "0", status: WalletStatus = WalletStatus.ACTIVE
) -> Funds:
    return Funds(_usd(balance), _usd(held), status, _usd(reserve))


def _quote(category: Category = Category.MARKETING, window: Window = Window.NONE, settled_this_month: int = 0) -> Quote:
    return quote(
        CARD,
        recipient=INDIA,
        country="IN",
        category=category,
        window=window,
        settled_this_month=settled_this_month,
    )


def _hold(
    category: Category = Category.MARKETING,
    window: Window = Window.NONE,
    settled_this_month: int = 0,
    expires_in: timedelta = DEFAULT_HOLD_TTL,
    message_id: str = WAMID,
) -> Hold:
    return Hold.place(
        uuid4(), "clinic-a", message_id, _quote(category, window, settled_this_month), window, AT, expires_in
    )


def _settled(hold: Hold, at: datetime = AT) -> Hold:
    hold.settle(at, hold.amount, Money.zero("USD"), uuid4(), hold.category)
    return hold


# --- funds: available, lanes, freeze -----------------------------------------------------------------------------


def test_available_is_the_balance_less_what_is_held() -> None:
    assert _funds("10.00", held="2.50").available == _usd("7.50")


@pytest.mark.parametrize(
    ("balance", "held", "reserve"),
    [("1.00", "1.01", "0"), ("1.00", "-0.01", "0"), ("1.00", "0", "-0.01")],
)
def test_funds_never_hold_more_than_the_balance_nor_less_than_nothing(balance: str, held: str, reserve: str) -> None:
    with pytest.raises(ValueError, match="cannot"):
        _funds(balance, held=held, reserve=reserve)


def test_marketing_may_use_the_whole_available_balance_without_a_reserve() -> None:
    _funds("1.05", held="0.05").check_hold(_usd("1.00"), Category.MARKETING)


def test_marketing_may_take_available_down_to_the_reserve_and_no_further() -> None:
    funds = _funds("2.00", held="0.95", reserve="1.00")  # available 1.05

    funds.check_hold(_usd("0.05"), Category.MARKETING)
    with pytest.raises(LaneClosedError) as refused:
        funds.check_hold(_usd("0.0501"), Category.MARKETING)
    assert refused.value.code == "lane_closed"


@pytest.mark.parametrize(
    "category", [Category.UTILITY, Category.AUTHENTICATION, Category.AUTHENTICATION_INTERNATIONAL, Category.SERVICE]
)
def test_clinical_messages_may_use_the_reserve(category: Category) -> None:
    _funds("2.00", held="0.95", reserve="1.00").check_hold(_usd("1.05"), category)


@pytest.mark.parametrize("category", list(Category))
def test_a_hold_available_cannot_pay_is_insufficient_funds_whatever_the_lane(category: Category) -> None:
    funds = _funds("2.00", held="0.95", reserve="0.50")

    with pytest.raises(InsufficientFundsError):
        funds.check_hold(_usd("1.0501"), category)


@pytest.mark.parametrize("category", list(Category))
def test_a_free_hold_is_refused_neither_for_funds_nor_by_the_lane(category: Category) -> None:
    _funds("1.00", held="1.00", reserve="5.00").check_hold(Money.zero("USD"), category)


@pytest.mark.parametrize("category", list(Category))
@pytest.mark.parametrize("amount", ["0", "0.0118"])
def test_a_frozen_wallet_refuses_every_new_hold_free_ones_too(category: Category, amount: str) -> None:
    funds = _funds("10.00", status=WalletStatus.FROZEN)

    with pytest.raises(WalletFrozenError) as refused:
        funds.check_hold(_usd(amount), category)
    assert refused.value.code == "wallet_frozen"
    with pytest.raises(WalletFrozenError):
        funds.check_holds([(_usd(amount), category)])


def test_a_frozen_wallet_refuses_direct_charges() -> None:
    with pytest.raises(WalletFrozenError):
        _funds("10.00", status=WalletStatus.FROZEN).check_direct_charge(_usd("0.05"))


def test_a_direct_charge_needs_available_not_balance() -> None:
    funds = _funds("1.00", held="0.40")

    funds.check_direct_charge(_usd("0.60"))
    with pytest.raises(InsufficientFundsError):
        funds.check_direct_charge(_usd("0.6001"))
    assert funds.covers(_usd("0.60"))
    assert not funds.covers(_usd("0.6001"))


def test_a_frozen_wallet_still_settles_and_releases() -> None:
    funds = _funds("1.00", held="0.50", status=WalletStatus.FROZEN)

    settled, charged, _ = funds.after_settle(_usd("0.25"), _usd("0.25"))
    assert (settled.balance, settled.held, charged) == (_usd("0.75"), _usd("0.25"), _usd("0.25"))
    assert funds.after_release(_usd("0.50")).held == _usd("0")


def test_a_batch_is_all_or_nothing_on_its_total() -> None:
    funds = _funds("1.00")

    funds.check_holds([(_usd("0.50"), Category.UTILITY), (_usd("0.50"), Category.UTILITY)])
    with pytest.raises(InsufficientFundsError):
        funds.check_holds([(_usd("0.50"), Category.UTILITY), (_usd("0.5001"), Category.UTILITY)])


def test_a_batch_keeps_its_marketing_out_of_the_reserve_in_any_order() -> None:
    funds = _funds("10.00", reserve="5.00")
    marketing, utility = (_usd("1.00"), Category.MARKETING), (_usd("6.00"), Category.UTILITY)

    funds.check_holds([utility, marketing])  # marketing first: 9 left >= 5, then utility may use the reserve
    funds.check_holds([marketing, utility])
    with pytest.raises(LaneClosedError):
        funds.check_holds([(_usd("3.00"), Category.MARKETING), (_usd("2.0001"), Category.MARKETING)])


def test_holding_and_releasing_move_held_only() -> None:
    funds = _funds("1.00", held="0.10")

    assert funds.after_hold(_usd("0.0118")) == _funds("1.00", held="0.1118")
    assert funds.after_release(_usd("0.10")) == _funds("1.00", held="0")
    assert funds.after_charge(_usd("0.90")) == _funds("0.10", held="0.10")


def test_after_hold_never_holds_more_than_the_balance() -> None:
    with pytest.raises(ValueError, match="below held"):
        _funds("1.00", held="0.50").after_hold(_usd("0.5001"))


# --- the settle math ---------------------------------------------------------------------------------------------


def test_settling_at_the_held_price_leaves_available_unchanged() -> None:
    funds = _funds("1.00", held="0.30")

    after, charged, shortfall = funds.after_settle(_usd("0.10"), _usd("0.10"))

    assert (after.balance, after.held, after.available) == (_usd("0.90"), _usd("0.20"), funds.available)
    assert (charged, shortfall) == (_usd("0.10"), _usd("0"))


def test_a_cheaper_reprice_gives_the_difference_back_to_available() -> None:
    after, charged, shortfall = _funds("1.00", held="0.30").after_settle(_usd("0.10"), _usd("0.04"))

    assert (after.balance, after.held, after.available) == (_usd("0.96"), _usd("0.20"), _usd("0.76"))
    assert (charged, shortfall) == (_usd("0.04"), _usd("0"))


def test_a_dearer_reprice_takes_the_difference_from_available() -> None:
    after, charged, shortfall = _funds("1.00", held="0.30").after_settle(_usd("0.10"), _usd("0.25"))

    assert (after.balance, after.held, after.available) == (_usd("0.75"), _usd("0.20"), _usd("0.55"))
    assert (charged, shortfall) == (_usd("0.25"), _usd("0"))


def test_what_available_cannot_cover_is_the_shortfall() -> None:
    funds = _funds("0.50", held="0.40")  # this hold 0.10, another 0.30; available 0.10

    after, charged, shortfall = funds.after_settle(_usd("0.10"), _usd("0.35"))

    assert (charged, shortfall) == (_usd("0.20"), _usd("0.15"))
    assert (after.balance, after.held, after.available) == (_usd("0.30"), _usd("0.30"), _usd("0"))


def test_a_settle_never_takes_the_balance_below_zero() -> None:
    after, charged, shortfall = _funds("0.10", held="0.10").after_settle(_usd("0.10"), _usd("99.00"))

    assert (after.balance, after.held) == (_usd("0"), _usd("0"))
    assert (charged, shortfall) == (_usd("0.10"), _usd("98.90"))


def test_a_free_settle_charges_nothing_and_releases_the_hold() -> None:
    after, charged, shortfall = _funds("1.00", held="0.10").after_settle(_usd("0.10"), Money.zero("USD"))

    assert (after.balance, after.held, charged, shortfall) == (_usd("1.00"), _usd("0"), _usd("0"), _usd("0"))


@settings(max_examples=200, deadline=None)
@given(
    balance=st.integers(0, 10_000),
    others=st.integers(0, 10_000),
    this=st.integers(0, 10_000),
    price=st.integers(0, 20_000),
)
def test_a_settle_charges_what_available_covers_and_owes_the_rest(
    balance: int, others: int, this: int, price: int
) -> None:
    held = min(others + this, balance)
    this = min(this, held)
    funds = Funds(_ticks(balance), _ticks(held), WalletStatus.ACTIVE, Money.zero("USD"))

    after, charged, shortfall = funds.after_settle(_ticks(this), _ticks(price))

    assert charged + shortfall == _ticks(price)
    assert after.held == _ticks(held - this)
    assert after.balance == funds.balance - charged >= after.held
    assert shortfall.is_positive == (_ticks(price) > _ticks(this) + funds.available)


def _ticks(n: int) -> Money:
    """n ten-thousandths of a dollar."""
    return Money(Decimal(n).scaleb(-4), "USD")


# --- message ids and placing a hold ------------------------------------------------------------------------------


@pytest.mark.parametrize("message_id", [WAMID, "x", "m" * 200, "a/b+c=="])
def test_a_message_id_may_be_a_wamid_of_up_to_200_characters(message_id: str) -> None:
    assert validate_message_id(message_id) == message_id


@pytest.mark.parametrize("message_id", ["", "   ", "m" * 201, "wamid.A\nB", "wamid\x00", None, 42])
def test_a_message_id_is_one_line_of_1_to_200_characters(message_id: object) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_message_id(message_id, field="messages[3].message_id")
    assert refused.value.errors[0].field == "messages[3].message_id"


def test_placing_a_hold_snapshots_the_quote_and_expires_in_30_days_by_default() -> None:
    hold = _hold()

    assert hold.status is HoldStatus.HELD
    assert hold.is_open
    assert not hold.is_settled
    assert hold.expires_at == AT + timedelta(days=30)
    assert (hold.amount, hold.category, hold.market, hold.quote.recipient) == (
        _usd("0.0118"),
        Category.MARKETING,
        "India",
        "…3210",
    )
    assert (hold.settled_at, hold.voided_at, hold.charged, hold.shortfall, hold.transaction_id) == (None,) * 5


@pytest.mark.parametrize("expires_in", [timedelta(seconds=1), timedelta(seconds=2_592_000)])
def test_a_hold_lives_from_1_second_to_30_days(expires_in: timedelta) -> None:
    assert _hold(expires_in=expires_in).expires_at == AT + expires_in


@pytest.mark.parametrize("expires_in", [timedelta(0), timedelta(milliseconds=999), timedelta(seconds=2_592_001)])
def test_a_hold_outside_1_second_to_30_days_is_refused(expires_in: timedelta) -> None:
    with pytest.raises(ValidationError) as refused:
        _hold(expires_in=expires_in)
    assert refused.value.errors[0].field == "expires_in_seconds"


def test_a_hold_refuses_a_bad_message_id() -> None:
    with pytest.raises(ValidationError):
        _hold(message_id="")


def test_the_same_message_again_with_the_same_category_market_and_window_is_the_same_request() -> None:
    hold = _hold(Category.UTILITY, Window.CUSTOMER_SERVICE)

    assert hold.same_request(Category.UTILITY, "India", Window.CUSTOMER_SERVICE)
    hold.check_repeat(Category.UTILITY, "India", Window.CUSTOMER_SERVICE)


@pytest.mark.parametrize(
    ("category", "market", "window"),
    [
        (Category.MARKETING, "India", Window.CUSTOMER_SERVICE),
        (Category.UTILITY, "Other", Window.CUSTOMER_SERVICE),
        (Category.UTILITY, "India", Window.NONE),
    ],
)
def test_the_same_message_with_anything_else_is_a_duplicate(category: Category, market: str, window: Window) -> None:
    hold = _hold(Category.UTILITY, Window.CUSTOMER_SERVICE)

    assert not hold.same_request(category, market, window)
    with pytest.raises(DuplicateError):
        hold.check_repeat(category, market, window)


# --- the state machine -------------------------------------------------------------------------------------------


def test_settling_records_what_was_charged() -> None:
    hold, transaction_id = _hold(), uuid4()

    hold.settle(AT + timedelta(hours=1), _usd("0.02"), _usd("0.01"), transaction_id, Category.UTILITY)

    assert hold.status is HoldStatus.SETTLED
    assert hold.is_settled
    assert not hold.is_open
    assert (hold.settled_at, hold.charged, hold.shortfall) == (AT + timedelta(hours=1), _usd("0.02"), _usd("0.01"))
    assert (hold.transaction_id, hold.settled_category) == (transaction_id, Category.UTILITY)


def test_a_hold_settles_until_the_instant_it_expires() -> None:
    hold = _hold(expires_in=timedelta(seconds=60))

    _settled(hold, AT + timedelta(seconds=60) - timedelta(microseconds=1))
    assert hold.is_settled


def test_a_hold_past_expires_at_can_never_be_settled_swept_or_not() -> None:
    hold = _hold(expires_in=timedelta(seconds=60))
    before = attrs.asdict(hold, recurse=False)

    with pytest.raises(InvalidStateError, match="expired"):
        _settled(hold, AT + timedelta(seconds=60))
    assert attrs.asdict(hold, recurse=False) == before
    hold.expire(AT + timedelta(seconds=60))
    with pytest.raises(InvalidStateError):
        _settled(hold, AT + timedelta(seconds=60))


def test_a_second_settle_is_refused_so_the_caller_answers_the_first() -> None:
    hold = _settled(_hold())
    before = attrs.asdict(hold, recurse=False)

    with pytest.raises(InvalidStateError):
        hold.settle(AT, _usd("1.00"), _usd("0"), uuid4(), Category.UTILITY)
    assert attrs.asdict(hold, recurse=False) == before


def test_voiding_releases_once_and_a_repeat_changes_nothing() -> None:
    hold = _hold()

    assert hold.void(AT + timedelta(minutes=1)) is True
    assert (hold.status, hold.voided_at) == (HoldStatus.VOIDED, AT + timedelta(minutes=1))
    assert hold.void(AT + timedelta(minutes=2)) is False
    assert hold.voided_at == AT + timedelta(minutes=1)


def test_voiding_an_expired_hold_changes_nothing() -> None:
    hold = _hold(expires_in=timedelta(seconds=1))
    hold.expire(AT + timedelta(seconds=1))

    assert hold.void(AT + timedelta(seconds=2)) is False
    assert (hold.status, hold.voided_at) == (HoldStatus.EXPIRED, None)


def test_voiding_an_open_hold_past_expires_at_expires_it() -> None:
    hold = _hold(expires_in=timedelta(seconds=1))

    assert hold.void(AT + timedelta(seconds=1)) is True
    assert (hold.status, hold.voided_at) == (HoldStatus.EXPIRED, None)


def test_a_settled_hold_cannot_be_voided() -> None:
    hold = _settled(_hold())

    with pytest.raises(InvalidStateError):
        hold.void(AT)
    assert hold.is_settled


def test_a_hold_expires_at_expires_at_and_not_a_moment_before() -> None:
    hold = _hold(expires_in=timedelta(seconds=60))

    assert hold.expire(AT + timedelta(seconds=60) - timedelta(microseconds=1)) is False
    assert hold.is_open
    assert hold.expire(AT + timedelta(seconds=60)) is True
    assert hold.status is HoldStatus.EXPIRED
    assert hold.expire(AT + timedelta(days=1)) is False


def _voided(hold: Hold) -> Hold:
    hold.void(AT)
    return hold


def _expired(hold: Hold) -> Hold:
    hold.expire(hold.expires_at)
    return hold


@pytest.mark.parametrize("finish", [_settled, _voided, _expired])
def test_settled_voided_and_expired_are_final(finish: Callable[[Hold], Hold]) -> None:
    hold = finish(_hold())
    before = attrs.asdict(hold, recurse=False)
    later = hold.expires_at + timedelta(days=1)

    with pytest.raises(InvalidStateError):
        hold.settle(AT, _usd("0.01"), _usd("0"), uuid4(), Category.MARKETING)
    if hold.is_settled:
        with pytest.raises(InvalidStateError):
            hold.void(later)
    else:
        assert hold.void(later) is False
    assert hold.expire(later) is False
    assert attrs.asdict(hold, recurse=False) == before


def test_a_released_hold_delivered_after_all_is_charged_once_and_keeps_its_status() -> None:
    hold, transaction_id = _voided(_hold()), uuid4()

    hold.charge_released(hold.amount, transaction_id)

    assert (hold.status, hold.charged, hold.shortfall, hold.transaction_id) == (
        HoldStatus.VOIDED,
        _usd("0.0118"),
        _usd("0"),
        transaction_id,
    )
    with pytest.raises(InvalidStateError):
        hold.charge_released(hold.amount, uuid4())


@pytest.mark.parametrize("hold", [_hold(), _settled(_hold())], ids=["held", "settled"])
def test_only_a_released_hold_is_charged_after_release(hold: Hold) -> None:
    with pytest.raises(InvalidStateError):
        hold.charge_released(hold.amount, uuid4())


# --- Meta's word at settlement -----------------------------------------------------------------------------------


def test_meta_saying_nothing_settles_at_the_held_price() -> None:
    hold = _hold(Category.UTILITY)

    assert reprice(CARD, hold) == hold.quote
    assert reprice(CARD, hold, category="utility", pricing_type="regular", billable=True) == hold.quote


def test_a_different_category_is_priced_on_the_holds_card_market_and_tier() -> None:
    hold = _hold(Category.AUTHENTICATION, settled_this_month=6000)  # authentication from its 5001st message
    assert hold.quote.tier == 5001

    repriced = reprice(CARD, hold, category="utility")

    assert (repriced.category, repriced.market, repriced.tier, repriced.amount) == (
        Category.UTILITY,
        "India",
        1001,
        _usd("0.0012"),
    )
    assert (repriced.rate_card_id, repriced.country, repriced.recipient) == (CARD.id, "IN", "…3210")


def test_a_category_without_tiers_takes_its_first_row_whatever_the_holds_tier() -> None:
    repriced = reprice(CARD, _hold(Category.UTILITY, settled_this_month=2000), category="marketing")

    assert (repriced.tier, repriced.amount) == (1, _usd("0.0118"))


@pytest.mark.parametrize(
    ("pricing_type", "reason"),
    [("free_customer_service", FreeReason.CUSTOMER_SERVICE_WINDOW), ("free_entry_point", FreeReason.FREE_ENTRY_POINT)],
)
def test_a_free_pricing_type_settles_free(pricing_type: str, reason: FreeReason) -> None:
    repriced = reprice(CARD, _hold(Category.MARKETING), pricing_type=pricing_type)

    assert (repriced.amount, repriced.free_reason, repriced.unit_price) == (_usd("0"), reason, _usd("0.0118"))


def test_not_billable_settles_free_with_the_holds_own_reason_else_as_an_entry_point() -> None:
    in_window = _hold(Category.UTILITY, Window.CUSTOMER_SERVICE)
    billed = _hold(Category.MARKETING)

    assert reprice(CARD, billed, billable=False).free_reason is FreeReason.FREE_ENTRY_POINT
    assert reprice(CARD, billed, billable=False).amount == _usd("0")
    assert reprice(CARD, in_window, billable=False).free_reason is FreeReason.CUSTOMER_SERVICE_WINDOW


def test_metas_marketing_lite_is_priced_as_marketing_and_referral_conversion_is_free() -> None:
    hold = _hold(Category.UTILITY)

    lite = reprice(CARD, hold, category="marketing_lite")
    referral = reprice(CARD, hold, category="referral_conversion", billable=True)

    assert (lite.category, lite.amount, lite.free_reason) == (Category.MARKETING, _usd("0.0118"), None)
    assert (referral.category, referral.amount, referral.free_reason) == (
        Category.MARKETING,
        _usd("0"),
        FreeReason.FREE_ENTRY_POINT,
    )


def test_meta_billing_a_message_held_free_in_its_window_wins() -> None:
    hold = _hold(Category.UTILITY, Window.CUSTOMER_SERVICE)
    assert hold.amount == _usd("0")

    for repriced in (reprice(CARD, hold, pricing_type="regular"), reprice(CARD, hold, billable=True)):
        assert (repriced.amount, repriced.free_reason) == (_usd("0.0014"), None)


def test_a_new_category_keeps_the_holds_window_when_meta_says_nothing_more() -> None:
    hold = _hold(Category.MARKETING, Window.CUSTOMER_SERVICE)

    assert reprice(CARD, hold, category="utility").free_reason is FreeReason.CUSTOMER_SERVICE_WINDOW
    assert reprice(CARD, _hold(Category.UTILITY, Window.CUSTOMER_SERVICE), category="marketing").amount == _usd(
        "0.0118"
    )


def test_an_unknown_pricing_type_or_category_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        reprice(CARD, _hold(), pricing_type="premium")
    assert refused.value.errors[0].field == "pricing_type"
    with pytest.raises(ValidationError):
        reprice(CARD, _hold(), category="promotional")


def test_a_category_the_holds_card_does_not_price_in_its_market_is_not_priced() -> None:
    american = quote(CARD, recipient="+14155550100", country="US", category=Category.MARKETING, window=Window.NONE)
    hold = Hold.place(uuid4(), "clinic-a", WAMID, american, Window.NONE, AT)  # the "Other" market: marketing only

    with pytest.raises(NotPricedError):
        reprice(CARD, hold, category="utility")


def test_repricing_on_another_card_is_a_bug() -> None:
    with pytest.raises(ValueError, match="card"):
        reprice(attrs.evolve(CARD, id=uuid4()), _hold())


# --- properties --------------------------------------------------------------------------------------------------

START = _usd("1.00")
PRICES = st.decimals(min_value=0, max_value=Decimal("0.3"), places=4).map(lambda d: Money(d, "USD"))


class Wallets(RuleBasedStateMachine):
    """Holds, settles (at any price), voids, expiries, freezes and reserve changes, all applied through `Funds`."""

    def __init__(self) -> None:
        super().__init__()
        self.funds = Funds(START, Money.zero("USD"), WalletStatus.ACTIVE, Money.zero("USD"))
        self.holds: list[Hold] = []
        self.charged = Money.zero("USD")
        self.now = AT

    @rule(amount=PRICES, category=st.sampled_from(list(Category)), ttl=st.integers(1, 600))
    def place(self, amount: Money, category: Category, ttl: int) -> None:
        offer = attrs.evolve(_quote(), category=category, amount=amount)
        try:
            self.funds.check_hold(amount, category)
        except (InsufficientFundsError, LaneClosedError, WalletFrozenError):
            return
        expires_in = timedelta(seconds=ttl)
        hold = Hold.place(uuid4(), "clinic-a", f"m{len(self.holds)}", offer, Window.NONE, self.now, expires_in)
        self.funds = self.funds.after_hold(amount)
        self.holds.append(hold)
        assert self.funds.available >= Money.zero("USD")
        if category is Category.MARKETING and amount.is_positive:
            assert self.funds.available >= self.funds.marketing_reserve

    @precondition(lambda self: bool(self.holds))
    @rule(pick=st.integers(min_value=0), price=PRICES)
    def settle(self, pick: int, price: Money) -> None:
        hold = self.holds[pick % len(self.holds)]
        if not hold.is_open or hold.is_expired_at(self.now):
            with pytest.raises(InvalidStateError):
                hold.settle(self.now, price, Money.zero("USD"), None, hold.category)
            return
        funds, charged, shortfall = self.funds.after_settle(hold.amount, price)
        hold.settle(self.now, charged, shortfall, uuid4() if charged.is_positive else None, hold.category)
        assert charged + shortfall == price
        self.funds = funds
        self.charged += charged

    @precondition(lambda self: bool(self.holds))
    @rule(pick=st.integers(min_value=0))
    def void(self, pick: int) -> None:
        hold = self.holds[pick % len(self.holds)]
        if hold.is_settled:
            with pytest.raises(InvalidStateError):
                hold.void(self.now)
        elif hold.void(self.now):
            self.funds = self.funds.after_release(hold.amount)

    @rule(seconds=st.integers(0, 400))
    def sweep(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)
        for hold in self.holds:
            if hold.expire(self.now):
                self.funds = self.funds.after_release(hold.amount)

    @rule(frozen=st.booleans(), reserve=st.decimals(min_value=0, max_value=1, places=2))
    def settings(self, frozen: bool, reserve: Decimal) -> None:
        status = WalletStatus.FROZEN if frozen else WalletStatus.ACTIVE
        self.funds = attrs.evolve(self.funds, status=status, marketing_reserve=Money(reserve, "USD"))

    @invariant()
    def money_adds_up(self) -> None:
        zero = Money.zero("USD")
        open_amounts = sum((hold.amount for hold in self.holds if hold.is_open), zero)
        assert self.funds.balance >= zero
        assert self.funds.held >= zero
        assert self.funds.held == open_amounts
        assert self.funds.balance == START - self.charged
        assert self.funds.available >= zero


Wallets.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None)
test_holds_settles_voids_and_expiries_keep_the_money_straight = Wallets.TestCase
