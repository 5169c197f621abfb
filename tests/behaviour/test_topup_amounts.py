"""What a clinic may ask for: an exact amount from 1.00 to 1000000.00, inclusive."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.domain.errors import ValidationError
from billing.domain.money import Money

BAD_AMOUNTS = [
    0,
    "0",
    "0.00",
    -5,
    "-5.00",
    "-0.01",
    "1.001",
    "150.000",
    "NaN",
    Decimal("NaN"),
    "Infinity",
    "-Infinity",
    Decimal("Infinity"),
    "1e2",
    "1E2",
    "0.99",
    "0.5",
    "1000000.01",
    1000001,
    "999999999999999999",
    "abc",
    "",
    " 1",
    "1,000",
    150.5,
    True,
    None,
]


@pytest.mark.parametrize("amount", BAD_AMOUNTS, ids=repr)
async def test_a_bad_amount_is_a_validation_error_naming_amount(scenario, amount) -> None:
    with pytest.raises(ValidationError) as caught:
        await scenario.clinic.request_topup(amount)

    assert [e.field for e in caught.value.errors] == ["amount"]
    assert caught.value.code == "validation_error"
    assert (await scenario.clinic.topup_requests()).total == 0


@pytest.mark.parametrize(
    ("amount", "saved"),
    [
        ("1.00", "1.00"),
        ("1", "1.00"),
        (1, "1.00"),
        ("150.5", "150.50"),
        (Decimal("150.50"), "150.50"),
        (150, "150.00"),
        ("1000000.00", "1000000.00"),
        (1000000, "1000000.00"),
    ],
    ids=repr,
)
async def test_a_good_amount_is_kept_exactly(scenario, amount, saved) -> None:
    sent = await scenario.clinic.request_topup(amount)

    reloaded = await scenario.clinic.topup_request(sent.id)
    assert str(reloaded.amount) == saved
    assert reloaded.amount == Money(Decimal(saved), "USD")
