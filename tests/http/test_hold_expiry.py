"""`billing serve` expires holds in the background (contract v2 §9: at least every 30 s): the `HoldExpiry` task
sweeps batch after batch until fewer than a batch were due, survives a failing round, and stops cleanly."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from types import TracebackType
from typing import Any

import attrs
import pytest
from api_support import SECRET
from hold_support import CLINIC, fund_with_card, hold_messages
from litestar.testing import AsyncTestClient

from billing.adapters.memory.clock import ManualClock
from billing.application.ports import DatabaseUnavailableError, UnitOfWork
from billing.application.service import BillingService
from billing.config import JwtSettings, Settings
from billing.container import in_memory_container
from billing.domain.hold import HoldStatus
from billing.entrypoints.http.app import create_app
from billing.entrypoints.http.background import HoldExpiry


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def service(clock: ManualClock) -> BillingService:
    built: BillingService = in_memory_container(Settings(jwt=JwtSettings(secret=SECRET)), clock=clock).service()
    return built


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    """Until `check` says so, polling; AssertionError after `seconds`."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, f"not so after {seconds} s"
        await asyncio.sleep(0.01)


async def statuses(service: BillingService) -> dict[str, HoldStatus]:
    page = await service.as_platform("test").holds(CLINIC, page_size=100)
    return {hold.message_id: hold.status for hold in page.items}


def expired(service: BillingService, *message_ids: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        found = await statuses(service)
        return all(found[message_id] is HoldStatus.EXPIRED for message_id in message_ids)

    return check


async def test_the_task_expires_a_due_hold_and_leaves_the_others(service: BillingService, clock: ManualClock) -> None:
    await fund_with_card(service)
    await hold_messages(service, ["wamid.due"], expires_in_seconds=60)
    [later] = await hold_messages(service, ["wamid.later"], expires_in_seconds=3600)
    clock.advance(timedelta(seconds=60))  # exactly at expires_at: due
    expiry = HoldExpiry(service, interval_seconds=0.01)

    expiry.start()
    try:
        await eventually(expired(service, "wamid.due"))
    finally:
        await expiry.stop()

    assert (await statuses(service))["wamid.later"] is HoldStatus.HELD
    wallet = await service.as_platform("test").wallet(CLINIC)
    assert wallet.held == later.amount
    assert wallet.available == wallet.balance - later.amount


async def test_one_round_sweeps_batch_after_batch_until_fewer_were_due(
    service: BillingService, clock: ManualClock
) -> None:
    await fund_with_card(service)
    message_ids = [f"wamid.{n}" for n in range(5)]
    await hold_messages(service, message_ids, expires_in_seconds=60)
    clock.advance(timedelta(minutes=5))

    assert (await HoldExpiry(service, batch=2).sweep()).expired == 5

    assert set((await statuses(service)).values()) == {HoldStatus.EXPIRED}
    assert (await HoldExpiry(service, batch=2).sweep()).expired == 0


async def test_the_first_round_runs_at_start_without_waiting_for_the_interval(
    service: BillingService, clock: ManualClock
) -> None:
    await fund_with_card(service)
    await hold_messages(service, ["wamid.a", "wamid.b", "wamid.c"], expires_in_seconds=60)
    clock.advance(timedelta(minutes=5))
    expiry = HoldExpiry(service, interval_seconds=3600, batch=2)

    expiry.start()
    try:
        await eventually(expired(service, "wamid.a", "wamid.b", "wamid.c"), seconds=2)
    finally:
        await expiry.stop()


@attrs.define
class Outage:
    """A unit of work factory whose first `failures` calls find the database gone."""

    factory: Callable[[], UnitOfWork]
    failures: int
    calls: int = 0

    def __call__(self) -> UnitOfWork:
        self.calls += 1
        if self.calls <= self.failures:
            raise DatabaseUnavailableError("the database went away")
        return self.factory()


async def test_the_task_survives_a_database_outage_and_sweeps_once_it_is_back(
    service: BillingService, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    await fund_with_card(service)
    await hold_messages(service, ["wamid.due"], expires_in_seconds=60)
    clock.advance(timedelta(minutes=5))
    outage = Outage(service.uow_factory, failures=3)
    expiry = HoldExpiry(attrs.evolve(service, uow_factory=outage), interval_seconds=0.01)

    with caplog.at_level(logging.WARNING, logger="billing.holds"):
        expiry.start()
        try:
            await eventually(expired(service, "wamid.due"))
        finally:
            await expiry.stop()

    assert outage.calls > 3
    failures = [record for record in caplog.records if record.getMessage().startswith("expiring holds failed")]
    assert len(failures) == 3
    assert all(record.exc_info and record.exc_info[0] is DatabaseUnavailableError for record in failures)


async def test_stopping_an_idle_task_ends_it_at_once(service: BillingService) -> None:
    expiry = HoldExpiry(service, interval_seconds=3600)
    expiry.start()
    await asyncio.sleep(0.05)  # the first (empty) round is over: the task waits for the next tick

    async with asyncio.timeout(1):
        await expiry.stop()

    assert expiry._task is not None
    assert expiry._task.done()
    assert not expiry._task.cancelled()


async def test_stopping_a_task_that_never_started_does_nothing(service: BillingService) -> None:
    await HoldExpiry(service).stop()


class HangingUnitOfWork:
    """A unit of work that never gets its connection (a database that stopped answering)."""

    async def __aenter__(self) -> Any:
        await asyncio.Event().wait()

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        return None


async def test_stopping_cancels_a_round_that_hangs_past_the_grace(service: BillingService) -> None:
    hanging = attrs.evolve(service, uow_factory=HangingUnitOfWork)
    expiry = HoldExpiry(hanging, interval_seconds=3600, stop_grace_seconds=0.05)
    expiry.start()
    await asyncio.sleep(0.05)

    async with asyncio.timeout(1):
        await expiry.stop()

    assert expiry._task is not None
    assert expiry._task.cancelled()


async def test_the_app_sweeps_while_it_runs(clock: ManualClock) -> None:
    container = in_memory_container(Settings(jwt=JwtSettings(secret=SECRET)), clock=clock)
    service: BillingService = container.service()
    await fund_with_card(service)
    await hold_messages(service, ["wamid.due"], expires_in_seconds=60)
    clock.advance(timedelta(minutes=1))

    async with AsyncTestClient(create_app(container, deliver_email=False)):
        await eventually(expired(service, "wamid.due"))
