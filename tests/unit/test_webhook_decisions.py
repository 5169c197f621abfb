"""What a status of Meta's does to its message (`webhook_events.decide`, contract v2 §11): the whole table, and the
rule that delivered wins over failed in either order, as a property over every sequence of statuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.domain.hold import Hold, HoldStatus
from billing.domain.money import Money
from billing.domain.pricing import Category, Quote, Window
from billing.domain.webhook_events import Action, Reason, decide
from billing.domain.whatsapp import MessageStatus

AT = datetime(2026, 6, 1, tzinfo=UTC)
SENT, DELIVERED, READ, FAILED = MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ, MessageStatus.FAILED


def a_hold(status: HoldStatus = HoldStatus.HELD, *, expires_in: timedelta = timedelta(days=1)) -> Hold:
    price = Money(Decimal("0.05"), "USD")
    quote = Quote(
        recipient="+1415***2671",
        country="US",
        market="North America",
        category=Category.UTILITY,
        tier=1,
        rate_card_id=uuid4(),
        unit_price=price,
        amount=price,
        free_reason=None,
    )
    hold = Hold.place(uuid4(), "clinic-a", "wamid.1", quote, Window.NONE, AT - timedelta(hours=1), expires_in)
    if status is HoldStatus.SETTLED:
        hold.settle(AT, price, Money.zero("USD"), uuid4(), Category.UTILITY)
    elif status is HoldStatus.VOIDED:
        hold.void(AT)
    elif status is HoldStatus.EXPIRED:
        hold.expire(hold.expires_at)
    return hold


@pytest.mark.parametrize(
    ("status", "hold_status", "expected"),
    [
        (SENT, None, (Action.NOTHING, Reason.SENT)),
        (SENT, HoldStatus.HELD, (Action.NOTHING, Reason.SENT)),
        (DELIVERED, None, (Action.CHARGE_UNHELD, None)),
        (READ, None, (Action.CHARGE_UNHELD, None)),
        (DELIVERED, HoldStatus.HELD, (Action.SETTLE, None)),
        (READ, HoldStatus.HELD, (Action.SETTLE, None)),
        (DELIVERED, HoldStatus.SETTLED, (Action.NOTHING, Reason.ALREADY_SETTLED)),
        (DELIVERED, HoldStatus.VOIDED, (Action.CHARGE_RELEASED, None)),
        (READ, HoldStatus.EXPIRED, (Action.CHARGE_RELEASED, None)),
        (FAILED, None, (Action.NOTHING, Reason.NO_HOLD)),
        (FAILED, HoldStatus.HELD, (Action.VOID, None)),
        (FAILED, HoldStatus.SETTLED, (Action.NOTHING, Reason.ALREADY_SETTLED)),
        (FAILED, HoldStatus.VOIDED, (Action.NOTHING, Reason.ALREADY_VOIDED)),
        (FAILED, HoldStatus.EXPIRED, (Action.NOTHING, Reason.ALREADY_VOIDED)),
    ],
)
def test_the_table(status: MessageStatus, hold_status: HoldStatus | None, expected: tuple[Action, Reason]) -> None:
    hold = None if hold_status is None else a_hold(hold_status)

    decision = decide(status, hold, AT)

    assert (decision.action, decision.reason) == expected


def test_an_open_hold_past_its_expiry_is_charged_as_released_not_settled() -> None:
    hold = a_hold(expires_in=timedelta(minutes=30))  # placed an hour before AT

    assert decide(DELIVERED, hold, AT).action is Action.CHARGE_RELEASED
    assert decide(FAILED, hold, AT).action is Action.VOID  # void() expires it: its money is released either way


def test_a_released_hold_already_charged_is_settled_for_every_later_status() -> None:
    hold = a_hold(HoldStatus.VOIDED)
    hold.charge_released(hold.amount, uuid4())

    assert decide(DELIVERED, hold, AT).reason is Reason.ALREADY_SETTLED
    assert decide(FAILED, hold, AT).reason is Reason.ALREADY_SETTLED


def test_a_message_charged_without_a_hold_is_not_charged_again() -> None:
    assert decide(READ, None, AT, charged_without_hold=True).reason is Reason.ALREADY_SETTLED


def _apply(hold: Hold, status: MessageStatus) -> int:
    """The hold after `status`, as the handler would leave it; how many charges it made (0 or 1)."""
    action = decide(status, hold, AT).action
    if action is Action.SETTLE:
        hold.settle(AT, hold.amount, Money.zero("USD"), uuid4(), hold.category)
        return 1
    if action is Action.VOID:
        hold.void(AT)
    if action is Action.CHARGE_RELEASED:
        hold.charge_released(hold.amount, uuid4())
        return 1
    return 0


@given(st.lists(st.sampled_from(list(MessageStatus)), max_size=8))
def test_a_held_message_is_charged_once_exactly_when_some_status_said_delivered_or_read(
    statuses: list[MessageStatus],
) -> None:
    hold = a_hold()

    charges = sum(_apply(hold, status) for status in statuses)

    delivered = any(status in (DELIVERED, READ) for status in statuses)
    assert charges == (1 if delivered else 0)
    assert (hold.charged is not None) is delivered
