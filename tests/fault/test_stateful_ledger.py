"""A hypothesis state machine drives the whole wallet life (top-up requests approved, rejected,
cancelled; invoices paid and voided; charges, refunds, adjustments) through the in-process facade,
on the in-memory AND the PostgreSQL adapters, and checks after every step:

- the balance is the sum of the ledger, each row's balance_after chains from the previous one (from 0),
  and nothing is ever negative;
- each top-up request is credited at most once (one `topup` row per request id) and only when it is
  completed; each reference is charged at most once;
- every request and invoice is in the state a small model predicts, and so is the balance;
- a step that failed (with the error the model predicts) changed nothing at all.

Each example uses a fresh clinic id, so the PostgreSQL run shares one database between examples
without cleaning it (the ledger is append-only: the database refuses DELETE and TRUNCATE anyway).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine, Iterator
from datetime import timedelta
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
from billing.adapters.sqlalchemy.engine import create_engine
from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.runtime import RandomIds, Runtime
from billing.application.service import BillingService, BillingSession
from billing.application.settings import BillingSettings
from billing.container import EVENT_HANDLERS
from billing.domain.errors import (
    BillingError,
    DuplicateError,
    InsufficientFundsError,
    InvalidStateError,
    NotFoundError,
    ValidationError,
)
from billing.domain.invoice import Invoice
from billing.domain.ledger import EntryKind, LedgerEntry
from billing.domain.topup import TopupRequest
from billing.domain.wallet import Wallet

T = TypeVar("T")
ZERO = Decimal("0.00")
REFERENCES = ["wamid.1", "wamid.2", "wamid.3"]
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


@attrs.frozen
class World:
    """Everything a reader sees of the clinic, read back through fresh units of work."""

    wallet: Wallet
    ledger: tuple[LedgerEntry, ...]  # oldest first
    requests: tuple[TopupRequest, ...]
    invoices: tuple[Invoice, ...]


class WalletLife(RuleBasedStateMachine):
    """Set by the test before a run: the service under test, its clock, and the loop that drives it."""

    service: ClassVar[BillingService]
    clock: ClassVar[ManualClock]
    loop: ClassVar[asyncio.Runner]

    requests = Bundle("requests")
    invoices = Bundle("invoices")

    def __init__(self) -> None:
        super().__init__()
        self.tenant = f"clinic-{next(_tenants)}-{id(self):x}"
        self.clinic: BillingSession = self.service.acting_as(
            Caller("clinic-user", self.tenant, {VIEW}, f"owner@{self.tenant}.test")
        )
        self.operator = self.service.acting_as(Caller("operator-1", "root", {VIEW, MANAGE}))
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

    @initialize(amount=cents(1_000, 50_000))
    def fund(self, amount: Decimal) -> None:
        """Start from a paid top-up, so that charges and refunds have money to move."""
        request = self.request_topup(amount)
        invoice_id = self.approve(request)
        self.mark_paid(invoice_id, "bank-0")

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

    @rule(invoice_id=invoices, payment=st.sampled_from(["bank-1", "bank-2"]))
    def mark_paid(self, invoice_id: UUID, payment: str) -> None:
        if self.attempt(self._expect_issued(invoice_id), self.operator.mark_invoice_paid(invoice_id, payment)):
            request_id = self.model.request_of[invoice_id]
            self.model.invoices[invoice_id] = "paid"
            self.model.requests[request_id] = "completed"
            self.model.balance += self.model.amounts[request_id]

    @rule(invoice_id=invoices)
    def void(self, invoice_id: UUID) -> None:
        if self.attempt(self._expect_issued(invoice_id), self.operator.void_invoice(invoice_id, "issued by mistake")):
            self.model.invoices[invoice_id] = "void"
            self.model.requests[self.model.request_of[invoice_id]] = "cancelled"

    # Charges, refunds, adjustments -------------------------------------------------------------

    @rule(reference=st.sampled_from(REFERENCES), amount=cents(1, 3_000))
    def charge(self, reference: str, amount: Decimal) -> None:
        model = self.model
        if reference in model.charged:
            expected = None if model.charged[reference] == amount else DuplicateError
        else:
            expected = InsufficientFundsError if amount > model.balance else None
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

    @rule(amount=cents(1, 5_000) | cents(-5_000, -1))
    def adjust(self, amount: Decimal) -> None:
        expected = InsufficientFundsError if self.model.balance + amount < 0 else None
        if self.attempt(expected, self.operator.adjust(self.tenant, amount, "operator correction")):
            self.model.balance += amount

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
        return World(
            await self.operator.wallet(self.tenant),
            tuple(reversed(ledger)),
            tuple(sorted(requests.items, key=lambda r: r.id)),
            tuple(sorted(invoices.items, key=lambda i: i.id)),
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
        completed = {rid for rid, status in self.model.requests.items() if status == "completed"}
        assert set(credited) == completed, "credited requests are not exactly the completed ones"
        assert all(row.amount.amount == self.model.amounts[UUID(str(row.reference_id))] for row in topups)
        charges = {str(row.reference_id): -row.amount.amount for row in world.ledger if row.kind is EntryKind.CHARGE}
        assert len(charges) == sum(row.kind is EntryKind.CHARGE for row in world.ledger), "a reference charged twice"
        assert charges == self.model.charged

        assert {r.id: r.status.value for r in world.requests} == self.model.requests
        assert {i.id: i.status.value for i in world.invoices} == self.model.invoices


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
        runtime = Runtime(clock, RandomIds(), BillingSettings())
        yield Backend(BillingService(lambda: InMemoryUnitOfWork(store), runtime, EVENT_HANDLERS), clock, examples=100)
        return
    # One database for the whole run (each example has its own clinic); the engine's pool lives on
    # `loop`, like every unit of work of the run.
    engine = create_engine(request.getfixturevalue("database_url"))
    try:
        runtime = Runtime(clock, RandomIds(), BillingSettings())
        yield Backend(BillingService(lambda: SqlAlchemyUnitOfWork(engine), runtime, EVENT_HANDLERS), clock, examples=25)
    finally:
        loop.run(engine.dispose())


def test_any_wallet_life_keeps_the_ledger_exact_and_credits_each_request_at_most_once(
    backend: Backend, loop: asyncio.Runner
) -> None:
    machine = type("WalletLifeRun", (WalletLife,), {"service": backend.service, "clock": backend.clock, "loop": loop})
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
