"""Fixtures of the PostgreSQL integration tests: the service on a fresh database, races that really
overlap, and the one ledger-consistency check every race ends with."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any, Self

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.memory.clock import ManualClock
from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.application.caller import VIEW, Caller
from billing.application.runtime import RandomIds, Runtime, SystemClock
from billing.application.service import BillingService, BillingSession
from billing.application.settings import BillingSettings
from billing.config import Settings
from billing.container import EVENT_HANDLERS, postgres_container
from billing.domain.invoice import Invoice

CheckLedger = Callable[[str], Awaitable[Decimal]]
PayTopup = Callable[[str, str], Awaitable[Invoice]]
ClinicOf = Callable[[str], BillingSession]
Race = Callable[[int, Callable[[BillingService, int], Awaitable[Any]]], Awaitable[list[Any]]]
PlatformRace = Callable[[int, Callable[[BillingSession, int], Awaitable[Any]]], Awaitable[list[Any]]]


def build_service(uow_factory: Callable[[], SqlAlchemyUnitOfWork]) -> BillingService:
    return BillingService(uow_factory, Runtime(SystemClock(), RandomIds(), BillingSettings()), EVENT_HANDLERS)


@pytest.fixture
def service(engine: AsyncEngine) -> BillingService:
    return build_service(lambda: SqlAlchemyUnitOfWork(engine))


@pytest.fixture
def operator(service: BillingService) -> BillingSession:
    return service.as_platform("messaging")


@pytest.fixture
def clinic_of(service: BillingService) -> ClinicOf:
    """A clinic user with Billing.View, acting for its own tenant."""
    return lambda tenant_id: service.acting_as(
        Caller(f"user-of-{tenant_id}", tenant_id, {VIEW}, f"owner@{tenant_id}.test")
    )


@pytest.fixture
def issued_topup(clinic_of: ClinicOf, operator: BillingSession) -> PayTopup:
    """A clinic's top-up request for `amount`, approved: its issued, unpaid invoice."""

    async def issue(tenant_id: str, amount: str) -> Invoice:
        request = await clinic_of(tenant_id).request_topup(amount)
        return await operator.create_topup_invoice(request.id)

    return issue


@pytest.fixture
def paid_topup(operator: BillingSession, issued_topup: PayTopup) -> PayTopup:
    """Fund a wallet the way production does: a top-up request, approved, its invoice paid."""

    async def pay(tenant_id: str, amount: str) -> Invoice:
        invoice = await issued_topup(tenant_id, amount)
        return await operator.mark_invoice_paid(invoice.id, f"bank-{invoice.number}")

    return pay


class _GatedUnitOfWork(SqlAlchemyUnitOfWork):
    def __init__(self, engine: AsyncEngine, gate: asyncio.Barrier) -> None:
        super().__init__(engine)
        self._gate = gate

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        try:
            async with asyncio.timeout(20):
                await self._gate.wait()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self


class StartTogether:
    """A unit-of-work factory whose first `n` units, once connected, wait for one another: every
    racer holds its own open connection before any of them sends a statement, so the race is
    real rather than a queue. Later units (the runtime's retries) start at once."""

    def __init__(self, engine: AsyncEngine, n: int) -> None:
        self._engine = engine
        self._gate = asyncio.Barrier(n)
        self._gated_left = n

    def __call__(self) -> SqlAlchemyUnitOfWork:
        if self._gated_left == 0:
            return SqlAlchemyUnitOfWork(self._engine)
        self._gated_left -= 1
        return _GatedUnitOfWork(self._engine, self._gate)


@pytest.fixture
def start_together(engine: AsyncEngine) -> Callable[[int], StartTogether]:
    return lambda n: StartTogether(engine, n)


@pytest.fixture
def race(engine: AsyncEngine) -> Race:
    """`await race(n, call)`: run `call(service, i)` for i in 0..n-1 at once, each on its own
    connection, and return every result or exception (in the order of i)."""

    async def run(n: int, call: Callable[[BillingService, int], Awaitable[Any]]) -> list[Any]:
        racing = build_service(StartTogether(engine, n))
        async with asyncio.timeout(60):
            return await asyncio.gather(*(call(racing, i) for i in range(n)), return_exceptions=True)

    return run


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def billing(engine: AsyncEngine, clock: ManualClock) -> BillingService:
    """The service as the container wires it (prices real phone numbers), on the test's engine and clock."""
    settings = Settings(database_url=engine.url.render_as_string(hide_password=False))
    built: BillingService = postgres_container(settings, engine=engine, clock=clock).service()
    return built


@pytest.fixture
def platform_race(engine: AsyncEngine, billing: BillingService) -> PlatformRace:
    """`await platform_race(n, call)`: `call(platform, i)` for i in 0..n-1 at once, each on its own connection, as
    the platform's messaging module; every result or exception, in the order of i."""

    async def run(n: int, call: Callable[[BillingSession, int], Awaitable[Any]]) -> list[Any]:
        racing = BillingService(StartTogether(engine, n), billing.runtime, EVENT_HANDLERS)
        platform = racing.as_platform("messaging")
        async with asyncio.timeout(120):
            return await asyncio.gather(*(call(platform, i) for i in range(n)), return_exceptions=True)

    return run


@pytest.fixture
def check_ledger(engine: AsyncEngine) -> CheckLedger:
    """Assert that a tenant's wallet and ledger agree, and return the balance.

    The cached balance = the newest row's balance_after = the sum of the ledger; every row's
    balance_after chains from the previous row's (the first from zero) and is never negative.
    """

    async def check(tenant_id: str) -> Decimal:
        params = {"tenant_id": tenant_id}
        async with engine.connect() as connection:
            wallet = (
                await connection.execute(
                    text("SELECT id, currency, balance FROM wallets WHERE tenant_id = :tenant_id"), params
                )
            ).one()
            newest = (
                await connection.execute(
                    text(
                        "SELECT balance_after FROM wallet_transactions WHERE tenant_id = :tenant_id"
                        " ORDER BY seq DESC LIMIT 1"
                    ),
                    params,
                )
            ).scalar_one_or_none()
            total = (
                await connection.execute(
                    text("SELECT COALESCE(SUM(amount), 0) FROM wallet_transactions WHERE tenant_id = :tenant_id"),
                    params,
                )
            ).scalar_one()
            ledger = (
                await connection.execute(
                    text(
                        "SELECT seq, wallet_id, currency, amount, balance_after FROM wallet_transactions"
                        " WHERE tenant_id = :tenant_id ORDER BY seq"
                    ),
                    params,
                )
            ).all()
        assert wallet.balance >= 0
        assert wallet.balance == (newest if newest is not None else 0) == total, (wallet.balance, newest, total)
        previous = Decimal(0)
        for row in ledger:
            assert (row.wallet_id, row.currency) == (wallet.id, wallet.currency), row
            assert row.balance_after - row.amount == previous, f"row {row.seq} does not chain from {previous}"
            assert row.balance_after >= 0, row
            previous = row.balance_after
        return Decimal(wallet.balance)

    return check


def _plain(url: str, database: str) -> str:
    return make_url(url).set(drivername="postgresql", database=database).render_as_string(hide_password=False)


@pytest.fixture
def empty_database_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh database with no schema at all (for the migrations' own tests)."""
    name = f"billing_empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield _plain(postgres_server_url, name)
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
