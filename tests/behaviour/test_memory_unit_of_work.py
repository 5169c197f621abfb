"""The in-memory unit of work: nothing staged outlives a unit that did not commit. (In-memory only: it
reads the store directly; events and their subscribers are in test_events.py, on both adapters.)"""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest

from billing.adapters.memory.clock import ManualClock
from billing.adapters.memory.store import InMemoryStore
from billing.adapters.memory.unit_of_work import InMemoryUnitOfWork
from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.service import BillingService
from billing.container import build_in_memory_billing
from billing.domain.errors import InsufficientFundsError, InvalidStateError, ValidationError
from billing.domain.money import Money
from billing.domain.topup import TopupRequest, TopupStatus

CLINIC = "clinic-a"
CLINIC_USER = Caller("clinic-user", CLINIC, {VIEW}, "clinic@mail.test")
OPERATOR = Caller("operator-1", "root", {VIEW, MANAGE})


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def billing(store: InMemoryStore, clock: ManualClock) -> BillingService:
    return build_in_memory_billing(clock=clock, store=store)


def _usd(text: str) -> Money:
    return Money(Decimal(text), "USD")


def _request(amount: str = "10.00") -> TopupRequest:
    return TopupRequest.submit(uuid4(), CLINIC, _usd(amount), None, "clinic-user", None, ManualClock().now())


@pytest.mark.parametrize(
    "failing",
    [
        lambda op, clinic, ids: op.approve_topup(ids["pending"], due_date=ManualClock().now().date().replace(day=1)),
        lambda op, clinic, ids: op.mark_invoice_paid(
            ids["invoice"], "bank-1", paid_at=ManualClock().now().replace(2027)
        ),
        lambda op, clinic, ids: op.charge(CLINIC, "1000.00", "wamid.9"),
        lambda op, clinic, ids: op.reject_topup(ids["rejected"], "again"),
        lambda op, clinic, ids: clinic.request_topup("0.10"),
    ],
    ids=["approve-past-due-date", "paid-in-the-future", "overdraw", "reject-twice", "amount-too-small"],
)
async def test_a_failed_operation_stores_nothing(billing, store, failing) -> None:
    clinic, operator = billing.acting_as(CLINIC_USER), billing.acting_as(OPERATOR)
    pending = await clinic.request_topup("10.00")
    invoiced = await operator.approve_topup((await clinic.request_topup("10.00")).id)
    rejected = await operator.reject_topup((await clinic.request_topup("10.00")).id, "no")
    ids = {"pending": pending.id, "invoice": invoiced.invoice_id, "rejected": rejected.id}
    state = store.state

    with pytest.raises((ValidationError, InvalidStateError, InsufficientFundsError)):
        await failing(operator, clinic, ids)

    assert store.state is state


async def test_leaving_a_unit_without_commit_discards_staged_changes(store) -> None:
    request = _request()

    async with InMemoryUnitOfWork(store) as uow:
        await uow.topups.add(request)
        await uow.wallets.get_or_open(CLINIC, "USD", request.requested_at)
        uow.record(*request.pull_events())
        assert await uow.topups.get(request.id) == request

    async with InMemoryUnitOfWork(store) as uow:
        assert await uow.topups.get(request.id) is None
        assert await uow.wallets.lock(CLINIC) is None


async def test_a_rollback_discards_staged_changes_and_events(store) -> None:
    request = _request()

    async with InMemoryUnitOfWork(store) as uow:
        await uow.topups.add(request)
        uow.record(*request.pull_events())
        await uow.rollback()
        with pytest.raises(RuntimeError):
            await uow.commit()

    async with InMemoryUnitOfWork(store) as uow:
        assert await uow.topups.get(request.id) is None


async def test_an_exception_inside_a_unit_rolls_it_back(store) -> None:
    request = _request()

    async def add_then_fail() -> None:
        async with InMemoryUnitOfWork(store) as uow:
            await uow.topups.add(request)
            raise KeyError("boom")

    with pytest.raises(KeyError):
        await add_then_fail()

    async with InMemoryUnitOfWork(store) as uow:
        assert await uow.topups.get(request.id) is None


async def test_a_loaded_object_changed_without_save_is_not_stored(store) -> None:
    request = _request()
    async with InMemoryUnitOfWork(store) as uow:
        await uow.topups.add(request)
        await uow.commit()

    async with InMemoryUnitOfWork(store) as uow:
        loaded = await uow.topups.get(request.id)
        assert loaded is not None
        loaded.cancel(loaded.requested_at)
        await uow.commit()

    async with InMemoryUnitOfWork(store) as uow:
        reloaded = await uow.topups.get(request.id)
        assert reloaded is not None
        assert reloaded.status is TopupStatus.PENDING


async def test_build_in_memory_billing_runs_the_readme_example() -> None:
    billing = build_in_memory_billing(clock=ManualClock())
    clinic = billing.acting_as(Caller("u1", CLINIC, {VIEW}))

    request = await clinic.request_topup("150.00")

    assert (await clinic.topup_request(request.id)).status is TopupStatus.PENDING
