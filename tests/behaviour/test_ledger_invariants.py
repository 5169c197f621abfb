"""Whatever happens to a wallet, the ledger explains its balance (§1), checked on random histories.

Random sequences of paid top-ups, charges (repeated references included), refunds and adjustments go
through the facade on the in-memory adapters. After every step: the balance is the sum of the ledger,
each row's balance_after chains from the one before (starting at 0), nothing is ever negative, and a
step that failed changed nothing. A small model of the wallet also predicts each step's outcome.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import attrs
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from billing.adapters.memory.clock import ManualClock
from billing.adapters.memory.store import InMemoryStore
from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.service import BillingSession
from billing.container import build_in_memory_billing
from billing.domain.errors import (
    BillingError,
    DuplicateError,
    InsufficientFundsError,
    InvalidStateError,
    NotFoundError,
    ValidationError,
)
from billing.domain.ledger import LedgerEntry
from billing.domain.money import Money

CLINIC = "clinic-a"
REFERENCES = ["wamid.1", "wamid.2", "wamid.3", "wamid.4"]
ZERO = Decimal("0.00")


def _cents(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-2))


topups = st.tuples(st.just("topup"), _cents(100, 50_000))
charges = st.tuples(st.just("charge"), st.sampled_from(REFERENCES), _cents(1, 3_000))
refunds = st.tuples(st.just("refund"), st.sampled_from([*REFERENCES, "wamid.unknown"]), st.none() | _cents(1, 2_000))
adjustments = st.tuples(st.just("adjust"), _cents(1, 10_000) | _cents(-10_000, -1))
# Charges and refunds are drawn more often: they are where the rules are.
histories = st.lists(st.one_of(topups, charges, charges, refunds, refunds, adjustments), min_size=1, max_size=30)


@attrs.define
class Model:
    """What the wallet should hold, and what each reference charged and got back."""

    balance: Decimal = ZERO
    charged: dict[str, Decimal] = attrs.field(factory=dict)
    refunded: dict[str, Decimal] = attrs.field(factory=dict)

    def expect(self, step: tuple[object, ...]) -> tuple[type[BillingError] | None, Decimal]:
        """The error the step must raise (or None), and the signed amount it must post."""
        match step:
            case ("topup", Decimal() as amount):
                return None, amount
            case ("charge", str() as ref, Decimal() as amount):
                if ref in self.charged:
                    return (None if self.charged[ref] == amount else DuplicateError), ZERO
                return (InsufficientFundsError, ZERO) if amount > self.balance else (None, -amount)
            case ("refund", str() as ref, amount):
                if ref not in self.charged:
                    return NotFoundError, ZERO
                left = self.charged[ref] - self.refunded.get(ref, ZERO)
                if left == 0:
                    return InvalidStateError, ZERO
                assert amount is None or isinstance(amount, Decimal)
                wanted = left if amount is None else amount
                return (ValidationError, ZERO) if wanted > left else (None, wanted)
            case ("adjust", Decimal() as amount):
                return (InsufficientFundsError, ZERO) if self.balance + amount < 0 else (None, amount)
        raise AssertionError(step)

    def apply(self, step: tuple[object, ...], posted: Decimal) -> None:
        self.balance += posted
        if step[0] == "charge" and posted:
            self.charged[str(step[1])] = -posted
        if step[0] == "refund":
            self.refunded[str(step[1])] = self.refunded.get(str(step[1]), ZERO) + posted


async def _run(step: tuple[object, ...], clinic: BillingSession, operator: BillingSession) -> None:
    match step:
        case ("topup", amount):
            request = await clinic.request_topup(amount)
            approved = await operator.approve_topup(request.id)
            assert approved.invoice_id is not None
            await operator.mark_invoice_paid(approved.invoice_id, f"bank-{request.id.hex[:6]}")
        case ("charge", ref, amount):
            await operator.charge(CLINIC, amount, str(ref), "WhatsApp message")
        case ("refund", ref, amount):
            await operator.refund(CLINIC, str(ref), amount)
        case ("adjust", amount):
            await operator.adjust(CLINIC, amount, "operator correction")


async def _ledger(operator: BillingSession) -> list[LedgerEntry]:
    rows: list[LedgerEntry] = []
    page = 1
    while True:
        chunk = await operator.transactions(CLINIC, page=page, page_size=100)
        rows.extend(chunk.items)
        if len(rows) >= chunk.total:
            return rows[::-1]  # oldest first
        page += 1


def _assert_explained(balance: Money, rows: list[LedgerEntry]) -> None:
    running = Money.zero("USD")
    for row in rows:
        assert row.balance_after == running + row.amount
        assert not row.balance_after.is_negative
        running = row.balance_after
    assert balance == running == sum((row.amount for row in rows), Money.zero("USD"))
    assert not balance.is_negative


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories)
async def test_the_ledger_always_explains_a_balance_that_never_goes_negative(history) -> None:
    clock = ManualClock()
    store = InMemoryStore()
    service = build_in_memory_billing(clock=clock, store=store)
    clinic = service.acting_as(Caller("clinic-user", CLINIC, {VIEW}))
    operator = service.acting_as(Caller("operator-1", "root", {VIEW, MANAGE}))
    model = Model()

    for step in history:
        clock.advance(timedelta(seconds=1))
        wallet_before, rows_before = await operator.wallet(CLINIC), await _ledger(operator)
        expected_error, expected_post = model.expect(step)

        error: BillingError | None = None
        try:
            await _run(step, clinic, operator)
        except BillingError as failure:
            error = failure
        event(f"{step[0]}: {'ok' if error is None else error.code}")

        assert (None if error is None else type(error)) is expected_error, (step, error)
        if error is None:
            model.apply(step, expected_post)
        else:
            assert await operator.wallet(CLINIC) == wallet_before
            assert await _ledger(operator) == rows_before

        wallet, rows = await operator.wallet(CLINIC), await _ledger(operator)
        _assert_explained(wallet.balance, rows)
        assert wallet.balance.amount == model.balance
        assert len(rows) == len(rows_before) + (1 if expected_error is None and expected_post else 0)
