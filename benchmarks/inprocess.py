"""In-process scenarios: charges and mark-paid through the facade, against the raw-psycopg floor."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal

import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks import floor
from benchmarks.progress import Progress
from billing.adapters.sqlalchemy.engine import create_engine
from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.runtime import RandomIds, Runtime, SystemClock
from billing.application.service import BillingService
from billing.application.settings import BillingSettings
from billing.container import EVENT_HANDLERS

CONCURRENCY = 8
CHARGE = Decimal("0.01")


def service_on(engine: AsyncEngine) -> BillingService:
    return BillingService(
        lambda: SqlAlchemyUnitOfWork(engine), Runtime(SystemClock(), RandomIds(), BillingSettings()), EVENT_HANDLERS
    )


async def _run_concurrently(total: int, label: str, one: Callable[[int, int], Awaitable[None]]) -> float:
    """Run `one(worker, i)` for i in range(total) over CONCURRENCY workers; return operations per second."""
    progress = Progress(label, total)
    counter = iter(range(total))

    async def worker(number: int) -> None:
        for i in counter:
            await one(number, i)
            progress.advance()

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(CONCURRENCY)))
    return total / (time.perf_counter() - started)


async def _fund(billing: BillingService, tenants: list[str]) -> None:
    operator = billing.as_platform("bench")
    for tenant in tenants:
        await operator.adjust(tenant, "1000000.00", "benchmark funds")


async def charges(url: str, total: int, wallets: int) -> dict[str, float]:
    """Charges per second on `wallets` wallets (1 = one hot wallet), ours and the floor."""
    engine = create_engine(url, pool_size=CONCURRENCY, max_overflow=0)
    billing = service_on(engine)
    ours_tenants = [f"ours-{wallets}-{i}" for i in range(wallets)]
    floor_tenants = [f"floor-{wallets}-{i}" for i in range(wallets)]
    await _fund(billing, ours_tenants + floor_tenants)
    platform = billing.as_platform("messaging")
    run = uuid.uuid4().hex[:6]

    async def ours(_: int, i: int) -> None:
        await platform.charge(ours_tenants[i % wallets], CHARGE, f"o-{run}-{i}", "message")

    connections = [await psycopg.AsyncConnection.connect(url) for _ in range(CONCURRENCY)]

    async def raw(worker: int, i: int) -> None:
        assert await floor.charge(connections[worker], floor_tenants[i % wallets], CHARGE, f"f-{run}-{i}")

    await _run_concurrently(min(200, total), "warm-up", ours)
    ours_rate = await _run_concurrently(total, f"in-process charges, {wallets} wallet(s): ours", ours)
    floor_rate = await _run_concurrently(total, f"in-process charges, {wallets} wallet(s): floor", raw)
    for connection in connections:
        await connection.close()
    await engine.dispose()
    return {"ours": ours_rate, "floor": floor_rate}


async def _issued_invoices(billing: BillingService, tenant_prefix: str, count: int) -> list[tuple[str, uuid.UUID]]:
    operator = billing.acting_as(Caller("ops", "root", {VIEW, MANAGE}))
    invoices = []
    progress = Progress(f"seeding {count} issued top-up invoices", count)
    for i in range(count):
        tenant = f"{tenant_prefix}-{i % 50}"
        request = await billing.acting_as(Caller("u", tenant, {VIEW})).request_topup("10.00")
        approved = await operator.approve_topup(request.id)
        assert approved.invoice_id is not None
        invoices.append((tenant, approved.invoice_id))
        progress.advance()
    return invoices


async def mark_paid(url: str, total: int) -> dict[str, float]:
    engine = create_engine(url, pool_size=CONCURRENCY, max_overflow=0)
    billing = service_on(engine)
    ours_invoices = await _issued_invoices(billing, "paid-ours", total)
    floor_invoices = await _issued_invoices(billing, "paid-floor", total)
    for tenant in {t for t, _ in floor_invoices}:  # the floor only credits existing wallets
        await billing.as_platform("bench").wallet(tenant)
    operator = billing.acting_as(Caller("ops", "root", {VIEW, MANAGE}))

    async def ours(_: int, i: int) -> None:  # a reference per invoice: they are unique per tenant (issue 14)
        await operator.mark_invoice_paid(ours_invoices[i][1], f"bench-{i}")

    connections = [await psycopg.AsyncConnection.connect(url) for _ in range(CONCURRENCY)]

    async def raw(worker: int, i: int) -> None:
        assert await floor.mark_paid(connections[worker], *floor_invoices[i], f"bench-{i}")

    ours_rate = await _run_concurrently(total, "mark-paid: ours", ours)
    floor_rate = await _run_concurrently(total, "mark-paid: floor", raw)
    for connection in connections:
        await connection.close()
    await engine.dispose()
    return {"ours": ours_rate, "floor": floor_rate}


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100)
    return {"p50_ms": cuts[49] * 1000, "p99_ms": cuts[98] * 1000}
