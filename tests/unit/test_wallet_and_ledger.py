"""Wallets never go negative; postings carry their sign; refunds never exceed what is left of a charge."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from billing.domain.errors import InsufficientFundsError, InvalidStateError, ValidationError
from billing.domain.ledger import EntryKind, LedgerEntry, Posting, refund_posting
from billing.domain.money import Money
from billing.domain.wallet import Wallet

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LATER = AT + timedelta(minutes=5)

Snapshot = Callable[[Any], dict[str, Any]]


def _usd(text: str) -> Money:
    return Money(Decimal(text), "USD")


def _wallet(balance: str = "0") -> Wallet:
    wallet = Wallet.open(uuid4(), "clinic-a", "USD", AT)
    if Decimal(balance):
        wallet.apply(_adjustment(balance))
    return wallet


def _adjustment(amount: str, tenant_id: str = "clinic-a") -> Posting:
    return Posting(uuid4(), tenant_id, EntryKind.ADJUSTMENT, _usd(amount), None, "correction", AT)


def _charge_entry(amount: str = "10.00", reference: str = "msg-1") -> LedgerEntry:
    wallet = _wallet("100.00")
    return wallet.apply(Posting.charge(uuid4(), "clinic-a", _usd(amount), reference, "WhatsApp", AT))


def test_a_new_wallet_is_empty() -> None:
    wallet = Wallet.open(uuid4(), "clinic-a", "USD", AT)

    assert wallet.balance == Money.zero("USD")
    assert wallet.created_at == wallet.updated_at == AT


def test_apply_returns_the_ledger_row_with_the_balance_after() -> None:
    wallet = _wallet("5.00")
    request_id = uuid4()
    posting = Posting.topup(uuid4(), "clinic-a", _usd("150.00"), request_id, LATER)

    entry = wallet.apply(posting)

    assert wallet.balance == _usd("155.00")
    assert wallet.updated_at == LATER
    assert entry == LedgerEntry(
        id=posting.entry_id,
        wallet_id=wallet.id,
        tenant_id="clinic-a",
        kind=EntryKind.TOPUP,
        amount=_usd("150.00"),
        balance_after=_usd("155.00"),
        reference_id=str(request_id),
        description="Wallet top-up",
        created_at=LATER,
    )


def test_a_debit_may_take_the_balance_to_exactly_zero() -> None:
    wallet = _wallet("10.00")

    entry = wallet.apply(Posting.charge(uuid4(), "clinic-a", _usd("10.00"), "msg-1", None, LATER))

    assert entry.amount == _usd("-10.00")
    assert entry.balance_after == wallet.balance == Money.zero("USD")


@pytest.mark.parametrize(("balance", "debit"), [("0", "0.01"), ("10.00", "10.01"), ("99.99", "1000.00")])
def test_a_debit_that_would_overdraw_fails_and_changes_nothing(balance: str, debit: str, snapshot: Snapshot) -> None:
    wallet = _wallet(balance)
    before = snapshot(wallet)

    for posting in (
        Posting.charge(uuid4(), "clinic-a", _usd(debit), "msg-1", None, LATER),
        _adjustment(f"-{debit}"),
    ):
        with pytest.raises(InsufficientFundsError) as caught:
            wallet.apply(posting)
        assert caught.value.code == "insufficient_funds"
        assert snapshot(wallet) == before


def test_a_posting_for_another_tenant_or_currency_is_refused(snapshot: Snapshot) -> None:
    wallet = _wallet("10.00")
    before = snapshot(wallet)

    with pytest.raises(ValidationError) as caught:
        wallet.apply(_adjustment("1.00", tenant_id="clinic-b"))
    assert [e.field for e in caught.value.errors] == ["tenant_id"]

    euros = Posting(uuid4(), "clinic-a", EntryKind.ADJUSTMENT, Money(Decimal(1), "EUR"), None, None, AT)
    with pytest.raises(ValidationError) as caught:
        wallet.apply(euros)
    assert [e.field for e in caught.value.errors] == ["currency"]

    assert snapshot(wallet) == before


@pytest.mark.parametrize(
    ("kind", "amount"),
    [
        (EntryKind.TOPUP, "-1.00"),
        (EntryKind.TOPUP, "0"),
        (EntryKind.REFUND, "-1.00"),
        (EntryKind.REFUND, "0"),
        (EntryKind.CHARGE, "1.00"),
        (EntryKind.CHARGE, "0"),
        (EntryKind.ADJUSTMENT, "0"),
    ],
)
def test_a_posting_carries_the_sign_of_its_kind(kind: EntryKind, amount: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Posting(uuid4(), "clinic-a", kind, _usd(amount), "ref", None, AT)

    assert [e.field for e in caught.value.errors] == ["amount"]


def test_a_charge_posting_is_the_negated_amount() -> None:
    posting = Posting.charge(uuid4(), "clinic-a", _usd("2.50"), "msg-1", "WhatsApp", AT)

    assert posting.amount == _usd("-2.50")
    assert posting.amount.is_negative


def test_a_refund_by_default_returns_all_that_is_left_of_the_charge() -> None:
    charge = _charge_entry("10.00")
    entry_id = uuid4()

    posting = refund_posting(charge, _usd("3.00"), None, entry_id, LATER)

    assert posting == Posting(
        entry_id, "clinic-a", EntryKind.REFUND, _usd("7.00"), "msg-1", "Refund of charge msg-1", LATER
    )


def test_a_partial_refund_keeps_the_charge_reference_and_a_given_description() -> None:
    charge = _charge_entry("10.00")

    posting = refund_posting(charge, Money.zero("USD"), _usd("2.50"), uuid4(), LATER, "goodwill")

    assert (posting.amount, posting.reference_id, posting.description) == (_usd("2.50"), "msg-1", "goodwill")


def test_a_refund_may_return_exactly_what_is_left() -> None:
    charge = _charge_entry("10.00")

    posting = refund_posting(charge, _usd("4.00"), _usd("6.00"), uuid4(), LATER)

    assert posting.amount == _usd("6.00")


@pytest.mark.parametrize(("refunded", "amount"), [("0", "10.01"), ("4.00", "6.01"), ("9.99", "0.02")])
def test_a_refund_never_exceeds_charged_minus_refunded(refunded: str, amount: str) -> None:
    charge = _charge_entry("10.00")

    with pytest.raises(ValidationError) as caught:
        refund_posting(charge, _usd(refunded), _usd(amount), uuid4(), LATER)

    assert [e.field for e in caught.value.errors] == ["amount"]


def test_a_fully_refunded_charge_cannot_be_refunded_again() -> None:
    charge = _charge_entry("10.00")

    with pytest.raises(InvalidStateError):
        refund_posting(charge, _usd("10.00"), None, uuid4(), LATER)
    with pytest.raises(InvalidStateError):
        refund_posting(charge, _usd("10.00"), _usd("0.01"), uuid4(), LATER)


def test_only_a_charge_can_be_refunded() -> None:
    wallet = _wallet()
    topup = wallet.apply(Posting.topup(uuid4(), "clinic-a", _usd("5.00"), UUID(int=1), AT))

    with pytest.raises(InvalidStateError):
        refund_posting(topup, Money.zero("USD"), None, uuid4(), LATER)
