"""A balance has a ceiling (NUMERIC(19, 4)): a credit past it is refused and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from billing.application.handlers.invoices import SubscriptionLine
from billing.domain.errors import InvalidStateError, ValidationError
from billing.domain.money import MAX_AMOUNT

CLINIC = "clinic-a"

NEAR_THE_CEILING = str(MAX_AMOUNT)  # 999999999999999: one more whole unit overflows the column


async def test_a_top_up_credit_past_the_ceiling_is_invalid_state_and_changes_nothing(scenario: Any) -> None:
    await scenario.operator.adjust(CLINIC, NEAR_THE_CEILING, "a very large correction")
    request = await scenario.invoiced("150.00")
    assert request.invoice_id is not None
    before = await scenario.world()

    with pytest.raises(InvalidStateError, match="exceed"):
        await scenario.operator.mark_invoice_paid(request.invoice_id, "bank-1")

    assert await scenario.world() == before


async def test_an_adjustment_past_the_ceiling_is_invalid_state(scenario: Any) -> None:
    await scenario.operator.adjust(CLINIC, NEAR_THE_CEILING, "a very large correction")
    before = await scenario.world()

    with pytest.raises(InvalidStateError):
        await scenario.operator.adjust(CLINIC, "1.00", "one more")

    assert await scenario.world() == before


async def test_a_subscription_invoice_whose_total_overflows_is_refused(scenario: Any) -> None:
    lines = [SubscriptionLine("seats", NEAR_THE_CEILING, quantity=2)]

    with pytest.raises(ValidationError, match="total must be at most"):
        await scenario.operator.create_subscription_invoice(CLINIC, "2026-11", lines)
