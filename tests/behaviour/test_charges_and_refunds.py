"""Charges debit once per (tenant, reference); refunds give back at most what was charged."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from billing.domain.errors import (
    DuplicateError,
    InsufficientFundsError,
    InvalidStateError,
    NotFoundError,
    ValidationError,
)
from billing.domain.ledger import EntryKind
from billing.domain.money import Money

CLINIC = "clinic-a"
OTHER_CLINIC = "clinic-b"


def _usd(text: str) -> Money:
    return Money(Decimal(text), "USD")


async def _balance(scenario, tenant_id: str = CLINIC) -> Money:
    return (await scenario.operator.wallet(tenant_id)).balance


async def test_a_charge_debits_the_wallet_with_a_charge_row(scenario) -> None:
    await scenario.fund(CLINIC, "100.00")
    scenario.tick()

    result = await scenario.operator.charge(CLINIC, "0.25", "wamid.1", "WhatsApp message")

    assert result.created
    topup, charge = await scenario.ledger()
    assert charge == result.entry
    assert charge.kind is EntryKind.CHARGE
    assert (charge.amount, charge.balance_after) == (_usd("-0.25"), _usd("99.75"))
    assert (charge.reference_id, charge.description) == ("wamid.1", "WhatsApp message")
    assert (charge.tenant_id, charge.wallet_id) == (CLINIC, topup.wallet_id)
    assert charge.created_at == scenario.clock.now()
    assert await _balance(scenario) == _usd("99.75")


@pytest.mark.parametrize("same_amount", ["10.00", "10", 10, Decimal("10.0")], ids=repr)
async def test_the_same_reference_and_amount_again_returns_the_first_charge(scenario, same_amount) -> None:
    await scenario.fund(CLINIC, "100.00")
    first = await scenario.operator.charge(CLINIC, "10.00", "wamid.1")
    scenario.tick()

    again = await scenario.operator.charge(CLINIC, same_amount, "wamid.1", "another description")

    assert not again.created
    assert again.entry == first.entry
    assert [row.kind for row in await scenario.ledger()] == [EntryKind.TOPUP, EntryKind.CHARGE]
    assert await _balance(scenario) == _usd("90.00")


async def test_the_same_reference_with_another_amount_is_a_duplicate(scenario) -> None:
    await scenario.fund(CLINIC, "100.00")
    await scenario.operator.charge(CLINIC, "10.00", "wamid.1")
    before = await scenario.world()

    with pytest.raises(DuplicateError) as caught:
        await scenario.operator.charge(CLINIC, "10.01", "wamid.1")

    assert caught.value.code == "duplicate"
    assert await scenario.world() == before


async def test_references_are_per_tenant(scenario) -> None:
    await scenario.fund(CLINIC, "100.00")
    await scenario.fund(OTHER_CLINIC, "100.00")

    mine = await scenario.operator.charge(CLINIC, "10.00", "wamid.1")
    theirs = await scenario.operator.charge(OTHER_CLINIC, "5.00", "wamid.1")

    assert mine.created
    assert theirs.created
    assert await _balance(scenario, CLINIC) == _usd("90.00")
    assert await _balance(scenario, OTHER_CLINIC) == _usd("95.00")


async def test_concurrent_repeats_of_one_charge_debit_once(scenario) -> None:
    await scenario.fund(CLINIC, "100.00")

    results = await asyncio.gather(*[scenario.operator.charge(CLINIC, "1.00", "wamid.1") for _ in range(5)])

    assert sorted(r.created for r in results) == [False, False, False, False, True]
    assert len({r.entry.id for r in results}) == 1
    assert await _balance(scenario) == _usd("99.00")


async def test_an_overdraw_is_insufficient_funds_and_changes_nothing(scenario) -> None:
    await scenario.fund(CLINIC, "10.00")
    before = await scenario.world()

    with pytest.raises(InsufficientFundsError) as caught:
        await scenario.operator.charge(CLINIC, "10.01", "wamid.1")

    assert caught.value.code == "insufficient_funds"
    assert await scenario.world() == before
    # The reference was not used up: charging what the wallet holds works.
    assert (await scenario.operator.charge(CLINIC, "10.00", "wamid.1")).created
    assert await _balance(scenario) == Money.zero("USD")


async def test_charging_a_tenant_with_no_wallet_is_insufficient_funds(scenario) -> None:
    with pytest.raises(InsufficientFundsError):
        await scenario.operator.charge("clinic-new", "0.01", "wamid.1")

    assert (await scenario.operator.transactions("clinic-new")).total == 0
    assert await _balance(scenario, "clinic-new") == Money.zero("USD")


@pytest.mark.parametrize(
    ("tenant_id", "amount", "reference", "description", "field"),
    [
        (CLINIC, "0", "wamid.1", None, "amount"),
        (CLINIC, "-1.00", "wamid.1", None, "amount"),
        (CLINIC, "0.00001", "wamid.1", None, "amount"),  # a charge may have 4 digits (v2 §7), not 5
        (CLINIC, "1e1", "wamid.1", None, "amount"),
        (CLINIC, "1.00", "", None, "reference_id"),
        (CLINIC, "1.00", "r" * 201, None, "reference_id"),
        (CLINIC, "1.00", "wamid.1", "d" * 513, "description"),
        ("not a tenant", "1.00", "wamid.1", None, "tenant_id"),
    ],
)
async def test_a_bad_charge_is_a_validation_error(scenario, tenant_id, amount, reference, description, field) -> None:
    await scenario.fund(CLINIC, "100.00")
    before = await scenario.world()

    with pytest.raises(ValidationError) as caught:
        await scenario.operator.charge(tenant_id, amount, reference, description)

    assert [e.field for e in caught.value.errors] == [field]
    assert await scenario.world() == before


async def test_a_reference_of_200_characters_is_fine(scenario) -> None:
    await scenario.fund(CLINIC, "100.00")

    result = await scenario.operator.charge(CLINIC, "1.00", "r" * 200)

    assert result.entry.reference_id == "r" * 200


async def test_a_refund_by_default_gives_back_the_whole_charge(scenario) -> None:
    await scenario.fund(CLINIC, "100.00")
    await scenario.operator.charge(CLINIC, "12.34", "wamid.1")
    scenario.tick()

    refund = await scenario.operator.refund(CLINIC, "wamid.1")

    *_, row = await scenario.ledger()
    assert row == refund
    assert row.kind is EntryKind.REFUND
    assert (row.amount, row.balance_after, row.reference_id) == (_usd("12.34"), _usd("100.00"), "wamid.1")
    assert row.description == "Refund of charge wamid.1"
    assert await _balance(scenario) == _usd("100.00")


async def test_partial_refunds_add_up_to_the_charge_and_no_further(scenario) -> None:
    await scenario.fund(CLINIC, "100.00")
    await scenario.operator.charge(CLINIC, "10.00", "wamid.1")

    await scenario.operator.refund(CLINIC, "wamid.1", "3.00", "goodwill")
    before = await scenario.world()
    with pytest.raises(ValidationError) as caught:
        await scenario.operator.refund(CLINIC, "wamid.1", "7.01")
    assert [e.field for e in caught.value.errors] == ["amount"]
    assert await scenario.world() == before

    rest = await scenario.operator.refund(CLINIC, "wamid.1")

    assert rest.amount == _usd("7.00")
    assert [(r.kind, str(r.amount)) for r in await scenario.ledger()] == [
        (EntryKind.TOPUP, "100.00"),
        (EntryKind.CHARGE, "-10.00"),
        (EntryKind.REFUND, "3.00"),
        (EntryKind.REFUND, "7.00"),
    ]
    assert await _balance(scenario) == _usd("100.00")


async def test_a_fully_refunded_charge_cannot_be_refunded_again(scenario) -> None:
    await scenario.fund(CLINIC, "100.00")
    await scenario.operator.charge(CLINIC, "10.00", "wamid.1")
    await scenario.operator.refund(CLINIC, "wamid.1")
    before = await scenario.world()

    for amount in (None, "0.01"):
        with pytest.raises(InvalidStateError):
            await scenario.operator.refund(CLINIC, "wamid.1", amount)

    assert await scenario.world() == before


async def test_refunding_an_unknown_reference_is_not_found(scenario) -> None:
    await scenario.fund(CLINIC, "100.00")
    await scenario.fund(OTHER_CLINIC, "100.00")
    await scenario.operator.charge(CLINIC, "10.00", "wamid.1")
    before = await scenario.world()

    with pytest.raises(NotFoundError):
        await scenario.operator.refund(CLINIC, "wamid.2")
    # Another tenant's charge is not a charge of this tenant.
    with pytest.raises(NotFoundError):
        await scenario.operator.refund(OTHER_CLINIC, "wamid.1")

    assert await scenario.world() == before


async def test_a_refund_amount_is_validated(scenario) -> None:
    await scenario.fund(CLINIC, "100.00")
    await scenario.operator.charge(CLINIC, "10.00", "wamid.1")

    for amount in ("0", "-1.00", "1.00001", "NaN"):  # 4 digits are a refund's (v2 §7), 5 are not
        with pytest.raises(ValidationError) as caught:
            await scenario.operator.refund(CLINIC, "wamid.1", amount)
        assert [e.field for e in caught.value.errors] == ["amount"]


async def test_a_charge_after_its_refund_is_still_an_idempotent_repeat(scenario) -> None:
    await scenario.fund(CLINIC, "100.00")
    first = await scenario.operator.charge(CLINIC, "10.00", "wamid.1")
    await scenario.operator.refund(CLINIC, "wamid.1")

    again = await scenario.operator.charge(CLINIC, "10.00", "wamid.1")

    assert not again.created
    assert again.entry == first.entry
    assert await _balance(scenario) == _usd("100.00")


async def test_an_adjustment_either_sign_but_never_below_zero(scenario) -> None:
    await scenario.operator.adjust(CLINIC, "5.00", "welcome credit")
    await scenario.operator.adjust(CLINIC, "-2.00", "correction", reference_id="ticket-9")
    before = await scenario.world()

    with pytest.raises(InsufficientFundsError):
        await scenario.operator.adjust(CLINIC, "-3.01", "too much")

    assert await scenario.world() == before
    rows = await scenario.ledger()
    assert [(r.kind, str(r.amount), str(r.balance_after), r.reference_id) for r in rows] == [
        (EntryKind.ADJUSTMENT, "5.00", "5.00", None),
        (EntryKind.ADJUSTMENT, "-2.00", "3.00", "ticket-9"),
    ]


@pytest.mark.parametrize(
    ("amount", "description", "field"),
    # Contract v3 §19 names an adjustment's text `reason` (it was v1's in-process `description`).
    [("0", "x", "amount"), ("1.00", "", "reason"), ("1.00", "  ", "reason")],
)
async def test_an_adjustment_needs_an_amount_and_a_reason(scenario, amount, description, field) -> None:
    with pytest.raises(ValidationError) as caught:
        await scenario.operator.adjust(CLINIC, amount, description)

    assert [e.field for e in caught.value.errors] == [field]
    assert await scenario.ledger() == ()


async def test_concurrent_first_reads_open_one_wallet(scenario) -> None:
    wallets = await asyncio.gather(*[scenario.operator.wallet("clinic-new") for _ in range(5)])

    assert len({w.id for w in wallets}) == 1
    assert await scenario.operator.wallet("clinic-new") == wallets[0]
