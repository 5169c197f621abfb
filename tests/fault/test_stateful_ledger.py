"""A hypothesis state machine drives the whole wallet life (top-up requests approved, rejected,
cancelled; invoices paid, voided and their payments reversed; charges, refunds, adjustments applied at once
or proposed, approved and rejected under four eyes; holds placed one by one and in batches, settled (repriced
or free), voided, expired by time and swept) through the in-process facade, on the in-memory AND the
PostgreSQL adapters, and checks after every step:

- the balance is the sum of the ledger, each row's balance_after chains from the previous one (from 0),
  and nothing is ever negative;
- each top-up request is credited at most once (one `topup` row per request id) and only when it is
  completed; each reference is charged at most once;
- every request, invoice and hold is in the state a small model predicts, and so are the balance and
  `held`; `held` is the sum of the open holds and `available` is never negative; each settled billable
  hold has exactly one charge row, at the price the model predicts;
- a step that failed (with the error the model predicts) changed nothing at all;
- the debt (contract v3 §19) is what the model predicts, never negative, positive only while `available` is 0,
  and equal to the reversals' uncovered parts less the `debt_repayment` rows; each credit (top-up, refund,
  positive adjustment) and each release (void, expiry, a settle below its hold) repays min(available, debt);
  each invoice is reversed at most once (one `payment_reversal` row per request, only for reversed ones);
- every adjustment is in the state the model predicts, and its reference is one adjustment per tenant.

Each example uses a fresh clinic id, so the PostgreSQL run shares one database between examples
without cleaning it (the ledger is append-only: the database refuses DELETE and TRUNCATE anyway).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import attrs
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from billing.adapters.memory.clock import ManualClock
from billing.adapters.memory.store import InMemoryStore
from billing.adapters.memory.unit_of_work import InMemoryUnitOfWork
from billing.adapters.phone import PhonenumbersCountry
from billing.adapters.sqlalchemy.engine import create_engine
from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.runtime import RandomIds, Runtime
from billing.application.service import BillingService, BillingSession
from billing.application.settings import BillingSettings
from billing.container import EVENT_HANDLERS
from billing.domain.adjustment import Adjustment
from billing.domain.errors import (
    BillingError,
    DuplicateError,
    ForbiddenError,
    InsufficientFundsError,
    InvalidStateError,
    NotFoundError,
    ValidationError,
    WalletInDebtError,
)
from billing.domain.hold import Hold
from billing.domain.invoice import Invoice
from billing.domain.ledger import EntryKind, LedgerEntry
from billing.domain.topup import TopupRequest
from billing.domain.wallet import Wallet

T = TypeVar("T")
ZERO = Decimal("0.00")
REFERENCES = ["wamid.1", "wamid.2", "wamid.3"]
MESSAGES = ["wamid.h1", "wamid.h2", "wamid.h3", "wamid.h4", "wamid.1"]  # wamid.1 is also a charge reference
PRICES = {"utility": Decimal("0.0125"), "marketing": Decimal("0.0310")}  # the clinic's own card, any country
RECIPIENT = "+14155552671"
ADJUSTMENT_REFERENCES = ["adj-1", "adj-2", "adj-3"]
_tenants = itertools.count()


def cents(low: int, high: int) -> st.SearchStrategy[Decimal]:
    return st.integers(low, high).map(lambda n: Decimal(n).scaleb(-2))


@attrs.define
class Model:
    """What the clinic's requests, invoices and wallet should be."""

    requests: dict[UUID, str] = attrs.field(factory=dict)  # id -> status
    amounts: dict[UUID, Decimal] = attrs.field(factory=dict)
    invoices: dict[UUID, str] = attrs.field(factory=dict)  # id -> status
    request_of: dict[UUID, UUID] = attrs.field(factory=dict)  # invoice id -> request id
    balance: Decimal = ZERO
    charged: dict[str, Decimal] = attrs.field(factory=dict)
    refunded: dict[str, Decimal] = attrs.field(factory=dict)
    holds: dict[str, ModelHold] = attrs.field(factory=dict)  # by message id
    payment_references: set[str] = attrs.field(factory=set)  # paid ones, trimmed and lower-cased (v2 §12)
    debt: Decimal = ZERO
    repaid: Decimal = ZERO  # the sum of the debt_repayment rows
    reversed: dict[UUID, Decimal] = attrs.field(factory=dict)  # request id -> what its reversal took back
    adjustments: dict[str, ModelAdjustment] = attrs.field(factory=dict)  # by reference
    adjusted_without_reference: int = 0  # applied at once, in-process without a reference

    @property
    def held(self) -> Decimal:
        return sum((h.amount for h in self.holds.values() if h.status == "held" and not h.swept), ZERO)

    @property
    def available(self) -> Decimal:
        return self.balance - self.held


@attrs.define
class ModelAdjustment:
    id: UUID
    amount: Decimal
    status: str = "proposed"


@attrs.define
class ModelHold:
    category: str
    amount: Decimal
    expires_at: datetime
    status: str = "held"
    swept: bool = False  # expired by the sweeper (or a void) rather than only past expires_at


@attrs.frozen
class World:
    """Everything a reader sees of the clinic, read back through fresh units of work."""

    wallet: Wallet
    ledger: tuple[LedgerEntry, ...]  # oldest first
    requests: tuple[TopupRequest, ...]
    invoices: tuple[Invoice, ...]
    holds: tuple[Hold, ...]
    adjustments: tuple[Adjustment, ...]


class WalletLife(RuleBasedStateMachine):
    """Set by the test before a run: the service under test, its clock, and the loop that drives it."""

    service: ClassVar[BillingService]
    clock: ClassVar[ManualClock]
    loop: ClassVar[asyncio.Runner]

    requests = Bundle("requests")
    invoices = Bundle("invoices")
    proposals = Bundle("proposals")  # references of adjustments proposed under four eyes
    held_messages = Bundle("held_messages")  # so that settles and voids mostly meet a hold

    def __init__(self) -> None:
        super().__init__()
        self.tenant = f"clinic-{next(_tenants)}-{id(self):x}"
        self.clinic: BillingSession = self.service.acting_as(
            Caller("clinic-user", self.tenant, {VIEW}, f"owner@{self.tenant}.test")
        )
        self.operator = self.service.acting_as(Caller("operator-1", "root", {VIEW, MANAGE}))
        self.platform = self.service.as_platform("messaging")
        # The same store or database under BILLING_FOUR_EYES=true: adjustments are proposed, then decided.
        runtime = self.service.runtime
        four_eyes = BillingService(
            self.service.uow_factory,
            attrs.evolve(runtime, settings=attrs.evolve(runtime.settings, four_eyes=True)),
            EVENT_HANDLERS,
        )
        self.proposer = four_eyes.acting_as(Caller("operator-1", "root", {VIEW, MANAGE}))
        self.second_operator = four_eyes.acting_as(Caller("operator-2", "root", {VIEW, MANAGE}))
        self.model = Model()
        self.failed = False
        self.seen: World | None = None

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return self.loop.run(work)

    def attempt(self, expected: type[BillingError] | None, work: Coroutine[Any, Any, T]) -> T | None:
        """Run one step; it must raise exactly `expected` (or nothing when None)."""
        self.clock.advance(timedelta(seconds=1))
        step = work.__qualname__.rpartition(".")[2]
        failure: BillingError | None = None
        try:
            result = self.run(work)
        except BillingError as error:
            failure = error
        event(f"{step}: {'ok' if failure is None else failure.code}")
        assert (None if failure is None else type(failure)) is expected, f"{step}: expected {expected}, got {failure!r}"
        self.failed = failure is not None
        return None if failure is not None else result

    # Top-up requests and their invoices --------------------------------------------------------

    @initialize(target=invoices, amount=cents(1_000, 50_000))
    def fund(self, amount: Decimal) -> UUID:
        """Start from a paid top-up, so that charges and refunds have money to move (and a payment to reverse)."""
        request = self.request_topup(amount)
        invoice_id = self.approve(request)
        self.mark_paid(invoice_id, "bank-0")
        rates = [{"market": "Any", "category": c, "unit_price": str(p)} for c, p in PRICES.items()]
        card = self.operator.create_rate_card(
            "Clinic card", datetime(2026, 1, 1, tzinfo=UTC), {"*": "Any"}, rates, tenant_id=self.tenant
        )
        self.attempt(None, card)
        return invoice_id

    @rule(target=requests, amount=cents(100, 50_000))
    def request_topup(self, amount: Decimal) -> UUID:
        request = self.attempt(None, self.clinic.request_topup(amount))
        assert request is not None
        self.model.requests[request.id] = "pending"
        self.model.amounts[request.id] = amount
        return request.id

    def _expect_pending(self, request_id: UUID) -> type[BillingError] | None:
        return None if self.model.requests[request_id] == "pending" else InvalidStateError

    @rule(target=invoices, request_id=requests)
    def approve(self, request_id: UUID) -> Any:
        approved = self.attempt(self._expect_pending(request_id), self.operator.approve_topup(request_id))
        if approved is None:
            return multiple()
        assert approved.invoice_id is not None
        self.model.requests[request_id] = "invoiced"
        self.model.invoices[approved.invoice_id] = "issued"
        self.model.request_of[approved.invoice_id] = request_id
        return approved.invoice_id

    @rule(request_id=requests)
    def reject(self, request_id: UUID) -> None:
        if self.attempt(self._expect_pending(request_id), self.operator.reject_topup(request_id, "not now")):
            self.model.requests[request_id] = "rejected"

    @rule(request_id=requests)
    def cancel(self, request_id: UUID) -> None:
        if self.attempt(self._expect_pending(request_id), self.clinic.cancel_topup(request_id)):
            self.model.requests[request_id] = "cancelled"

    def _expect_issued(self, invoice_id: UUID) -> type[BillingError] | None:
        return None if self.model.invoices[invoice_id] == "issued" else InvalidStateError

    @rule(invoice_id=invoices, payment=st.sampled_from(["bank-1", "bank-2", " BANK-1", "bank-3"]))
    def mark_paid(self, invoice_id: UUID, payment: str) -> None:
        expected = self._expect_issued(invoice_id)
        if expected is None and payment.strip().lower() in self.model.payment_references:
            expected = DuplicateError
        if self.attempt(expected, self.operator.mark_invoice_paid(invoice_id, payment)):
            self.model.payment_references.add(payment.strip().lower())
            request_id = self.model.request_of[invoice_id]
            self.model.invoices[invoice_id] = "paid"
            self.model.requests[request_id] = "completed"
            self.model.balance += self.model.amounts[request_id]
            self.repay()

    @rule(invoice_id=invoices)
    def void(self, invoice_id: UUID) -> None:
        if self.attempt(self._expect_issued(invoice_id), self.operator.void_invoice(invoice_id, "issued by mistake")):
            self.model.invoices[invoice_id] = "void"
            self.model.requests[self.model.request_of[invoice_id]] = "cancelled"

    @rule(invoice_id=invoices)
    def reverse_payment(self, invoice_id: UUID) -> None:
        """A paid top-up's transfer bounced: what `available` covers is taken back, the rest is owed."""
        model = self.model
        expected = None if model.invoices[invoice_id] == "paid" else InvalidStateError
        reversed_ = self.attempt(expected, self.operator.reverse_payment(invoice_id, "the transfer bounced"))
        if reversed_ is None:
            return
        request_id = model.request_of[invoice_id]
        amount = model.amounts[request_id]
        covered = min(amount, model.available)
        assert (reversed_.reversed_amount.amount, reversed_.debt_added.amount) == (covered, amount - covered)  # type: ignore[union-attr]
        model.balance -= covered
        model.debt += amount - covered
        model.reversed[request_id] = covered
        model.invoices[invoice_id] = "payment_reversed"
        model.requests[request_id] = "reversed"

    def repay(self) -> None:
        """A credit or a release came in: it repays min(available, debt) (contract v3 §19)."""
        model = self.model
        repaid = min(max(model.available, ZERO), model.debt)
        model.balance -= repaid
        model.debt -= repaid
        model.repaid += repaid

    # Charges, refunds, adjustments -------------------------------------------------------------

    @rule(reference=st.sampled_from(REFERENCES), amount=cents(1, 3_000))
    def charge(self, reference: str, amount: Decimal) -> None:
        model = self.model
        if reference in model.holds:
            expected: type[BillingError] | None = DuplicateError
        elif reference in model.charged:
            expected = None if model.charged[reference] == amount else DuplicateError
        elif model.debt > 0:
            expected = WalletInDebtError
        else:
            expected = InsufficientFundsError if amount > model.available else None
        result = self.attempt(expected, self.operator.charge(self.tenant, amount, reference, "WhatsApp message"))
        if result is not None:
            assert result.created is (reference not in model.charged)
            assert result.entry.amount.amount == -amount
            if result.created:
                model.charged[reference] = amount
                model.balance -= amount

    @rule(reference=st.sampled_from([*REFERENCES, "wamid.unknown"]), amount=st.none() | cents(1, 2_000))
    def refund(self, reference: str, amount: Decimal | None) -> None:
        model = self.model
        left = model.charged.get(reference, ZERO) - model.refunded.get(reference, ZERO)
        wanted = left if amount is None else amount
        expected: type[BillingError] | None = None
        if reference not in model.charged:
            expected = NotFoundError
        elif left == 0:
            expected = InvalidStateError
        elif wanted > left:
            expected = ValidationError
        if self.attempt(expected, self.operator.refund(self.tenant, reference, amount)):
            model.refunded[reference] = model.refunded.get(reference, ZERO) + wanted
            model.balance += wanted
            self.repay()

    @rule(amount=cents(1, 5_000) | cents(-5_000, -1))
    def adjust(self, amount: Decimal) -> None:
        expected = InsufficientFundsError if self.model.balance + amount < self.model.held else None
        adjustment = self.attempt(expected, self.operator.adjust(self.tenant, amount, "operator correction"))
        if adjustment is not None:
            assert (adjustment.status.value, adjustment.decided_by) == ("applied", "operator-1")
            self.model.balance += amount
            self.model.adjusted_without_reference += 1
            if amount > 0:
                self.repay()

    @rule(
        target=proposals,
        reference=st.sampled_from(ADJUSTMENT_REFERENCES),
        amount=st.sampled_from([Decimal("2.50"), Decimal("-2.50"), Decimal("0.0125"), Decimal("-900.00")]),
    )
    def propose_adjustment(self, reference: str, amount: Decimal) -> Any:
        """Under four eyes an adjustment is only proposed; its reference again answers the first (same amount)."""
        earlier = self.model.adjustments.get(reference)
        expected = None if earlier is None or earlier.amount == amount else DuplicateError
        work = self.proposer.adjust(self.tenant, amount, "operator correction", reference)
        proposed = self.attempt(expected, work)
        if proposed is None:
            return multiple()
        if earlier is not None:
            assert (proposed.id, proposed.status.value) == (earlier.id, earlier.status)
        else:
            assert (proposed.status.value, proposed.transaction_id) == ("proposed", None)
            self.model.adjustments[reference] = ModelAdjustment(proposed.id, amount)
        return reference

    @rule(reference=proposals, decision=st.sampled_from(["approve", "reject", "approve own"]))
    def decide_adjustment(self, reference: str, decision: str) -> None:
        """Another operator applies it (when `available` covers it) or rejects it; its proposer may not apply it."""
        model = self.model
        adjustment = model.adjustments[reference]
        expected: type[BillingError] | None = None
        if adjustment.status != "proposed":
            expected = InvalidStateError
        elif decision == "approve own":
            expected = ForbiddenError
        elif decision == "approve" and -adjustment.amount > model.available:
            expected = InsufficientFundsError  # it stays proposed
        if decision == "reject":
            if self.attempt(expected, self.second_operator.reject_adjustment(adjustment.id, "not agreed")):
                adjustment.status = "rejected"
            return
        approver = self.proposer if decision == "approve own" else self.second_operator
        applied = self.attempt(expected, approver.approve_adjustment(adjustment.id))
        if applied is None:
            return
        assert (applied.status.value, applied.decided_by) == ("applied", "operator-2")
        adjustment.status = "applied"
        model.balance += adjustment.amount
        if adjustment.amount > 0:
            self.repay()

    # Holds -------------------------------------------------------------------------------------

    def _expect_hold(self, message_id: str, category: str) -> type[BillingError] | None:
        earlier = self.model.holds.get(message_id)
        if earlier is not None:
            return None if earlier.category == category else DuplicateError
        return DuplicateError if message_id in self.model.charged else None

    @rule(
        target=held_messages,
        message_id=st.sampled_from(MESSAGES),
        category=st.sampled_from(sorted(PRICES)),
        ttl=st.sampled_from([5, 3600]),
    )
    def hold(self, message_id: str, category: str, ttl: int) -> Any:
        expected = self._expect_hold(message_id, category)
        if expected is None and message_id not in self.model.holds and self.model.debt > 0:
            expected = WalletInDebtError
        if expected is None and message_id not in self.model.holds and PRICES[category] > self.model.available:
            expected = InsufficientFundsError
        work = self.platform.hold(self.tenant, message_id, category, RECIPIENT, expires_in_seconds=ttl)
        result = self.attempt(expected, work)
        if result is not None:
            assert result.created is (message_id not in self.model.holds)
            if result.created:
                self.model.holds[message_id] = ModelHold(category, PRICES[category], result.hold.expires_at)
            return message_id
        return multiple()

    @rule(target=held_messages, message_ids=st.lists(st.sampled_from(MESSAGES), min_size=1, max_size=4, unique=True))
    def hold_batch(self, message_ids: list[str]) -> Any:
        category = "utility"
        problems = [self._expect_hold(m, category) for m in message_ids if m in self.model.holds]
        new = [m for m in message_ids if m not in self.model.holds]
        expected: type[BillingError] | None = DuplicateError if DuplicateError in problems else None
        if expected is None and any(m in self.model.charged for m in new):
            expected = DuplicateError
        if expected is None and new and self.model.debt > 0:
            expected = WalletInDebtError
        if expected is None and PRICES[category] * len(new) > self.model.available:
            expected = InsufficientFundsError
        messages = [{"message_id": m, "category": category, "recipient": RECIPIENT} for m in message_ids]
        result = self.attempt(expected, self.platform.hold_batch(self.tenant, messages, expires_in_seconds=3600))
        if result is None:
            return multiple()
        for hold in result.items:
            self.model.holds.setdefault(hold.message_id, ModelHold(category, PRICES[category], hold.expires_at))
        return multiple(*message_ids)

    @rule(
        message_id=held_messages | st.sampled_from(MESSAGES),
        meta=st.sampled_from([None, "marketing", "free", "utility"]),
    )
    def settle(self, message_id: str, meta: str | None) -> None:
        held = self.model.holds.get(message_id)
        now = self.clock.now() + timedelta(seconds=1)  # `attempt` moves the clock on first
        expected: type[BillingError] | None = None
        if held is None:
            expected = NotFoundError
        elif held.status in ("voided", "expired") or (held.status == "held" and now >= held.expires_at):
            expected = InvalidStateError
        category = meta if meta in PRICES else None  # Meta's word may reprice the message (v2 §9)
        pricing_type = "free_customer_service" if meta == "free" else None
        work = self.platform.settle(self.tenant, message_id, category=category, pricing_type=pricing_type)
        settled = self.attempt(expected, work)
        if settled is None or held is None or held.status == "settled":
            return
        price = ZERO if meta == "free" else PRICES[category or held.category]
        charged = min(price, self.model.available + held.amount)
        assert (settled.charged.amount, settled.shortfall.amount) == (charged, price - charged)  # type: ignore[union-attr]
        held.status = "settled"
        self.model.balance -= charged
        if charged:
            self.model.charged[message_id] = charged
        if charged < held.amount:  # the rest of its hold was released
            self.repay()

    @rule(message_id=held_messages | st.sampled_from(MESSAGES))
    def void_hold(self, message_id: str) -> None:
        held = self.model.holds.get(message_id)
        now = self.clock.now() + timedelta(seconds=1)
        expected: type[BillingError] | None = None
        if held is None:
            expected = NotFoundError
        elif held.status == "settled":
            expected = InvalidStateError
        voided = self.attempt(expected, self.platform.void(self.tenant, message_id))
        if voided is not None and held is not None and held.status == "held":
            held.status = "expired" if now >= held.expires_at else "voided"
            held.swept = True
            self.repay()

    @rule(seconds=st.sampled_from([3, 60, 7200]))
    def time_passes(self, seconds: int) -> None:
        self.clock.advance(timedelta(seconds=seconds))

    @rule()
    def sweep(self) -> None:
        """Sweeps every tenant's due holds (other examples' too, on a shared database): until none is left."""
        while (swept := self.attempt(None, self.platform.expire_holds())) is not None and swept.expired == 500:
            pass
        now = self.clock.now()
        released = False
        for held in self.model.holds.values():
            if held.status == "held" and now >= held.expires_at:
                held.status, held.swept = "expired", True
                released = True
        if released:
            self.repay()

    # After every step --------------------------------------------------------------------------

    async def _world(self) -> World:
        ledger: list[LedgerEntry] = []
        for page in itertools.count(1):
            chunk = await self.operator.transactions(self.tenant, page=page, page_size=100)
            ledger.extend(chunk.items)
            if len(ledger) >= chunk.total:
                break
        requests = await self.operator.topup_requests(self.tenant, page_size=100)
        invoices = await self.operator.invoices(self.tenant, page_size=100)
        holds = await self.operator.holds(self.tenant, page_size=100)
        adjustments = await self.operator.adjustments(self.tenant, page_size=100)
        return World(
            await self.operator.wallet(self.tenant),
            tuple(reversed(ledger)),
            tuple(sorted(requests.items, key=lambda r: r.id)),
            tuple(sorted(invoices.items, key=lambda i: i.id)),
            tuple(sorted(holds.items, key=lambda h: h.message_id)),
            tuple(sorted(adjustments.items, key=lambda a: a.id)),
        )

    @invariant()
    def the_ledger_explains_the_model(self) -> None:
        world = self.run(self._world())
        if self.failed:
            assert world == self.seen, "a step that failed changed something"
        self.seen = world

        running = ZERO
        for row in world.ledger:
            assert row.balance_after.amount == running + row.amount.amount, row
            assert row.balance_after.amount >= 0, row
            running = row.balance_after.amount
        assert world.wallet.balance.amount == running == self.model.balance

        topups = [row for row in world.ledger if row.kind is EntryKind.TOPUP]
        credited = [UUID(str(row.reference_id)) for row in topups]
        assert len(credited) == len(set(credited)), "a top-up request was credited twice"
        completed = {rid for rid, status in self.model.requests.items() if status in ("completed", "reversed")}
        assert set(credited) == completed, "credited requests are not exactly the completed (or reversed) ones"
        assert all(row.amount.amount == self.model.amounts[UUID(str(row.reference_id))] for row in topups)
        charges = {str(row.reference_id): -row.amount.amount for row in world.ledger if row.kind is EntryKind.CHARGE}
        assert len(charges) == sum(row.kind is EntryKind.CHARGE for row in world.ledger), "a reference charged twice"
        assert charges == self.model.charged

        assert {r.id: r.status.value for r in world.requests} == self.model.requests
        assert {i.id: i.status.value for i in world.invoices} == self.model.invoices

        # Holds: `held` is the sum of the open ones (an unswept hold past expires_at still counts), the model
        # predicts each one's status, and each settled billable hold is exactly one charge row.
        open_holds = sum((h.amount.amount for h in world.holds if h.status.value == "held"), ZERO)
        assert world.wallet.held.amount == open_holds == self.model.held
        assert world.wallet.available.amount >= 0
        expired_by_time = {"held", "expired"}
        for hold in world.holds:
            predicted = self.model.holds[hold.message_id]
            assert hold.status.value == predicted.status or (
                {hold.status.value, predicted.status} <= expired_by_time and not predicted.swept
            ), (hold, predicted)
            if hold.status.value == "settled" and hold.charged is not None and hold.charged.is_positive:
                assert charges[hold.message_id] == hold.charged.amount
                assert [
                    r.id for r in world.ledger if r.reference_id == hold.message_id and r.kind is EntryKind.CHARGE
                ] == [hold.transaction_id]
        assert {h.message_id for h in world.holds} == set(self.model.holds)
        self._debt_is_explained(world)
        self._adjustments_are_as_predicted(world)

    def _debt_is_explained(self, world: World) -> None:
        model = self.model
        wallet = world.wallet
        assert wallet.debt.amount == model.debt >= 0
        assert wallet.debt.amount == 0 or wallet.available.amount == 0, "a debt while money is available"
        reversals = [row for row in world.ledger if row.kind is EntryKind.PAYMENT_REVERSAL]
        taken = {UUID(str(row.reference_id)): -row.amount.amount for row in reversals}
        assert len(taken) == len(reversals), "a top-up request was reversed twice"
        assert taken == {rid: covered for rid, covered in model.reversed.items() if covered > 0}
        repaid = -sum((row.amount.amount for row in world.ledger if row.kind is EntryKind.DEBT_REPAYMENT), ZERO)
        assert repaid == model.repaid
        reversed_invoices = [i for i in world.invoices if i.status.value == "payment_reversed"]
        assert len(reversed_invoices) == len(model.reversed)
        owed = sum((i.debt_added.amount for i in reversed_invoices if i.debt_added is not None), ZERO)
        assert wallet.debt.amount == owed - repaid, "the debt is not the reversals' uncovered parts less repayments"
        for invoice in reversed_invoices:
            assert invoice.reversed_amount is not None
            assert invoice.reversed_amount.amount == model.reversed[model.request_of[invoice.id]]

    def _adjustments_are_as_predicted(self, world: World) -> None:
        referenced = {a.reference_id: a for a in world.adjustments if a.reference_id is not None}
        assert {ref: (a.id, a.status.value) for ref, a in referenced.items()} == {
            ref: (m.id, m.status) for ref, m in self.model.adjustments.items()
        }
        at_once = [a for a in world.adjustments if a.reference_id is None]
        assert len(at_once) == self.model.adjusted_without_reference
        assert all(a.status.value == "applied" for a in at_once)
        rows = {row.id: row for row in world.ledger if row.kind is EntryKind.ADJUSTMENT}
        applied = [a for a in world.adjustments if a.status.value == "applied"]
        assert sorted(rows) == sorted(a.transaction_id for a in applied), "an adjustment row without its adjustment"
        for adjustment in applied:
            row = rows[adjustment.transaction_id]  # type: ignore[index]
            assert (row.amount.amount, row.reference_id) == (adjustment.amount.amount, adjustment.reference_id)


class WalletLifeInDebt(WalletLife):
    """The same life, started in debt: the first top-up is partly spent and partly held (a short hold and a long
    one), then its payment bounces. Credits and releases (voids, settles below their hold, the sweep) then repay
    the debt, and billable holds and direct charges are refused until they have."""

    @initialize(target=WalletLife.invoices, amount=cents(1_000, 5_000), spent=cents(100, 900))
    def fund(self, amount: Decimal, spent: Decimal) -> UUID:
        invoice_id = super().fund(amount)
        self.charge("wamid.3", spent)
        self.hold("wamid.h1", "marketing", 3600)
        self.hold("wamid.h2", "utility", 5)
        self.reverse_payment(invoice_id)
        assert self.model.debt == spent + PRICES["marketing"] + PRICES["utility"]
        return invoice_id

    @rule(amount=cents(100, 2_000))
    def paid_top_up(self, amount: Decimal) -> None:
        """A top-up requested, approved and paid at once: its credit repays the debt first."""
        request_id = self.request_topup(amount)
        invoice_id = self.approve(request_id)
        self.mark_paid(invoice_id, f"bank-{request_id.hex[:12]}")

    @rule(message_id=st.sampled_from(["wamid.h1", "wamid.h2"]), meta=st.sampled_from(["free", "utility", None]))
    def settle_early_hold(self, message_id: str, meta: str | None) -> None:
        """Settle a hold placed before the reversal: below its hold (free, or marketing repriced as utility), the
        rest it releases repays the debt."""
        self.settle(message_id, meta)


@pytest.fixture
def loop() -> Iterator[asyncio.Runner]:
    """One event loop for the whole run: the state machine's steps are synchronous."""
    with asyncio.Runner() as runner:
        yield runner


@attrs.frozen
class Backend:
    service: BillingService
    clock: ManualClock
    examples: int


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, loop: asyncio.Runner) -> Iterator[Backend]:
    clock = ManualClock()
    if request.param == "memory":
        store = InMemoryStore()
        runtime = Runtime(clock, RandomIds(), BillingSettings(), PhonenumbersCountry())
        yield Backend(BillingService(lambda: InMemoryUnitOfWork(store), runtime, EVENT_HANDLERS), clock, examples=100)
        return
    # One database for the whole run (each example has its own clinic); the engine's pool lives on
    # `loop`, like every unit of work of the run.
    engine = create_engine(request.getfixturevalue("database_url"))
    try:
        runtime = Runtime(clock, RandomIds(), BillingSettings(), PhonenumbersCountry())
        yield Backend(BillingService(lambda: SqlAlchemyUnitOfWork(engine), runtime, EVENT_HANDLERS), clock, examples=25)
    finally:
        loop.run(engine.dispose())


@pytest.mark.parametrize("life", [WalletLife, WalletLifeInDebt], ids=["from-a-top-up", "from-a-debt"])
def test_any_wallet_life_keeps_the_ledger_exact_and_credits_each_request_at_most_once(
    life: type[WalletLife], backend: Backend, loop: asyncio.Runner
) -> None:
    machine = type("WalletLifeRun", (life,), {"service": backend.service, "clock": backend.clock, "loop": loop})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=backend.examples,
            stateful_step_count=20,
            deadline=None,
            derandomize=True,  # the same histories on every run: CI never fails by the luck of the draw
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
