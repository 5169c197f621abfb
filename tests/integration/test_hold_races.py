"""Holds racing on real connections (contract v2 §9): each racer holds its own connection and transaction, and
the first `n` are all open before any sends a statement (`StartTogether` in conftest.py).

The service is wired as `postgres_container` wires it (the runtime prices real phone numbers); only its unit of
work factory is the racing one. Every race ends with the ledger check and with `held` = the sum of the open holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.memory.clock import ManualClock
from billing.adapters.sqlalchemy.tables import holds, wallet_transactions, wallets
from billing.application.handlers.holds import HoldBatch, HoldResult
from billing.application.handlers.wallets import ChargeResult
from billing.application.service import BillingService, BillingSession
from billing.domain.errors import DuplicateError, InsufficientFundsError, InvalidStateError
from billing.domain.hold import Hold, HoldStatus

from .conftest import PlatformRace

pytestmark = [pytest.mark.postgres, pytest.mark.many_connections]

TENANT = "clinic-a"
NUMBER = "+14155552671"


def outcomes(results: list[Any], expected: type[Exception] | tuple[type[Exception], ...] = ()) -> list[Any]:
    """The racers' results; every failure must be one of the `expected` domain errors (never a raw database
    error, never a conflict that outlived its retries)."""
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, expected)]
    assert unexpected == [], [f"{type(error).__module__}.{type(error).__qualname__}: {error}" for error in unexpected]
    return [r for r in results if not isinstance(r, BaseException)]


@pytest.fixture
def messaging(billing: BillingService) -> BillingSession:
    return billing.as_platform("messaging")


@pytest.fixture
async def priced(messaging: BillingSession, clock: ManualClock) -> Callable[[str], Awaitable[None]]:
    """A card pricing every country's utility and marketing messages at 0.05; then fund the wallet."""
    rates = [{"market": "Rest", "category": category, "unit_price": "0.05"} for category in ("utility", "marketing")]
    await messaging.create_rate_card("Default", clock.now() - timedelta(days=1), {"*": "Rest"}, rates)

    async def fund(balance: str) -> None:
        await messaging.adjust(TENANT, balance, "opening balance")

    return fund


async def held_state(engine: AsyncEngine, check_ledger: Any) -> tuple[Decimal, Decimal]:
    """The wallet's balance and held, after checking that the ledger explains the balance and that `held` is the
    sum of the open holds and never more than the balance."""
    balance = await check_ledger(TENANT)
    async with engine.connect() as connection:
        held = (await connection.execute(select(wallets.c.held).where(wallets.c.tenant_id == TENANT))).scalar_one()
        open_sum = (
            await connection.execute(
                select(func.coalesce(func.sum(holds.c.amount), 0)).where(
                    holds.c.tenant_id == TENANT, holds.c.status == HoldStatus.HELD.value
                )
            )
        ).scalar_one()
    assert held == open_sum, (held, open_sum)
    assert 0 <= held <= balance, (held, balance)
    return balance, held


async def charge_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as connection:
        found = await connection.execute(
            select(wallet_transactions).where(
                wallet_transactions.c.tenant_id == TENANT, wallet_transactions.c.kind == "charge"
            )
        )
        return list(found.mappings())


async def stored_holds(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(select(holds).where(holds.c.tenant_id == TENANT))).mappings())


async def test_200_holds_of_5_cents_on_5_dollars_hold_exactly_100(
    platform_race: PlatformRace, priced: Any, engine: AsyncEngine, check_ledger: Any
) -> None:
    await priced("5.00")
    racers, each = 50, 4  # 200 holds, 50 connections at once (a test server allows ~100)

    async def hold_four(platform: BillingSession, i: int) -> list[Any]:
        results: list[Any] = []
        for n in range(each):
            try:
                results.append(await platform.hold(TENANT, f"wamid.{i}.{n}", "utility", NUMBER))
            except InsufficientFundsError as refused:
                results.append(refused)
        return results

    results = [result for batch in outcomes(await platform_race(racers, hold_four)) for result in batch]

    placed = [result for result in results if isinstance(result, HoldResult)]
    assert len(results) == 200
    assert len(placed) == 100
    assert all(result.created for result in placed)
    assert len(await stored_holds(engine)) == 100
    assert await held_state(engine, check_ledger) == (Decimal("5.00"), Decimal("5.00"))


async def test_one_message_id_held_20_times_at_once_is_one_hold(
    platform_race: PlatformRace, priced: Any, engine: AsyncEngine, check_ledger: Any
) -> None:
    await priced("5.00")

    results: list[HoldResult] = outcomes(
        await platform_race(20, lambda p, i: p.hold(TENANT, "wamid.HBgM+/=", "utility", NUMBER))
    )

    assert len(results) == 20
    assert [result.created for result in results].count(True) == 1
    assert {result.hold.id for result in results} == {results[0].hold.id}
    assert len(await stored_holds(engine)) == 1
    assert await held_state(engine, check_ledger) == (Decimal("5.00"), Decimal("0.05"))


async def test_one_hold_settled_20_times_at_once_is_charged_once(
    platform_race: PlatformRace, priced: Any, messaging: BillingSession, engine: AsyncEngine, check_ledger: Any
) -> None:
    await priced("5.00")
    placed = await messaging.hold(TENANT, "wamid.1", "utility", NUMBER)

    results: list[Hold] = outcomes(await platform_race(20, lambda p, i: p.settle(TENANT, "wamid.1")))

    assert len(results) == 20
    assert {(hold.id, hold.status, hold.transaction_id) for hold in results} == {
        (placed.hold.id, HoldStatus.SETTLED, results[0].transaction_id)
    }
    rows = await charge_rows(engine)
    assert [(row["id"], row["reference_id"], row["amount"]) for row in rows] == [
        (results[0].transaction_id, "wamid.1", Decimal("-0.05"))
    ]
    assert rows[0]["price"]["hold_id"] == str(placed.hold.id)
    assert await held_state(engine, check_ledger) == (Decimal("4.95"), Decimal("0"))


async def test_settle_and_void_racing_end_with_one_outcome(
    platform_race: PlatformRace, priced: Any, messaging: BillingSession, engine: AsyncEngine, check_ledger: Any
) -> None:
    await priced("5.00")
    messages = [f"wamid.{n}" for n in range(10)]
    for message_id in messages:
        await messaging.hold(TENANT, message_id, "utility", NUMBER)

    def act(platform: BillingSession, i: int) -> Awaitable[Hold]:
        message_id = messages[i // 4]  # four racers per message: two settle, two void
        return platform.settle(TENANT, message_id) if i % 2 else platform.void(TENANT, message_id)

    results: list[Hold] = outcomes(await platform_race(40, act), InvalidStateError)

    final = {row["message_id"]: row for row in await stored_holds(engine)}
    for message_id in messages:
        answers = {hold.status for hold in results if hold.message_id == message_id}
        assert answers == {final[message_id]["status"]}, (message_id, answers)  # nobody saw another ending
        assert final[message_id]["status"] in (HoldStatus.SETTLED, HoldStatus.VOIDED)
    settled = [m for m in messages if final[m]["status"] == HoldStatus.SETTLED]
    rows = await charge_rows(engine)
    assert sorted(row["reference_id"] for row in rows) == sorted(settled)  # at most one charge each
    assert await held_state(engine, check_ledger) == (Decimal("5.00") - Decimal("0.05") * len(settled), 0)


async def test_batches_racing_single_holds_never_hold_more_than_the_balance(
    platform_race: PlatformRace, priced: Any, engine: AsyncEngine, check_ledger: Any
) -> None:
    await priced("5.00")  # room for 100 holds of 0.05
    batches, batch_size, singles = 4, 30, 40  # 160 asked for

    def act(platform: BillingSession, i: int) -> Awaitable[HoldBatch | HoldResult]:
        if i < batches:
            messages = [
                {"message_id": f"batch-{i}.{n}", "category": "marketing" if n % 2 else "utility", "recipient": NUMBER}
                for n in range(batch_size)
            ]
            return platform.hold_batch(TENANT, messages)
        return platform.hold(TENANT, f"single-{i}", "utility", NUMBER)

    results = await platform_race(batches + singles, act)

    outcomes(results, InsufficientFundsError)
    placed = {row["message_id"] for row in await stored_holds(engine)}
    for i in range(batches):  # all or nothing, and as answered
        held = {f"batch-{i}.{n}" for n in range(batch_size)} & placed
        assert len(held) == (batch_size if isinstance(results[i], HoldBatch) else 0), (i, len(held))
    singles_placed = [result for result in results[batches:] if isinstance(result, HoldResult)]
    assert {result.hold.message_id for result in singles_placed} == {m for m in placed if m.startswith("single-")}
    balance, held_total = await held_state(engine, check_ledger)
    assert held_total == Decimal("0.05") * len(placed) <= balance == Decimal("5.00")
    # Available only fell during the race: a refusal means it could not cover the refused amount at the end either.
    if any(isinstance(result, InsufficientFundsError) for result in results[batches:]):
        assert held_total == balance
    if any(isinstance(result, InsufficientFundsError) for result in results[:batches]):
        assert balance - held_total < Decimal("0.05") * batch_size


async def test_sweepers_racing_settles_and_voids_keep_held_the_sum_of_open_holds(
    platform_race: PlatformRace,
    priced: Any,
    messaging: BillingSession,
    clock: ManualClock,
    engine: AsyncEngine,
    check_ledger: Any,
) -> None:
    await priced("5.00")
    short = [f"short-{n}" for n in range(30)]  # due once the clock moves
    long = [f"long-{n}" for n in range(30)]
    for message_id in short:
        await messaging.hold(TENANT, message_id, "utility", NUMBER, expires_in_seconds=60)
    for message_id in long:
        await messaging.hold(TENANT, message_id, "utility", NUMBER)
    clock.advance(timedelta(minutes=2))

    def act(platform: BillingSession, i: int) -> Awaitable[Any]:
        if i < 4:
            return platform.expire_holds(limit=10)  # four sweepers of 10
        n = i - 4
        if n < 20:  # voids of due holds compete with the sweepers: they expire them too
            return platform.void(TENANT, short[n])
        if n < 40:
            return platform.settle(TENANT, long[n - 20])
        return platform.void(TENANT, long[n - 20])  # 20..29 of the long ones, voided

    results = outcomes(await platform_race(4 + 50, act))

    swept = sum(sweep.expired for sweep in results[:4])
    rows = {row["message_id"]: row for row in await stored_holds(engine)}
    expired = [m for m in short if rows[m]["status"] == HoldStatus.EXPIRED]
    assert set(short[:20]) <= set(expired)  # voided past expires_at: expired, by the void or by a sweeper
    assert [hold.status for hold in results[4:24]] == [HoldStatus.EXPIRED] * 20
    assert swept <= len(expired) <= swept + 20  # each released once: by a sweeper, or by a void
    assert [rows[m]["status"] for m in long[:20]] == [HoldStatus.SETTLED] * 20
    assert [rows[m]["status"] for m in long[20:]] == [HoldStatus.VOIDED] * 10
    assert len(await charge_rows(engine)) == 20
    _balance, held_total = await held_state(engine, check_ledger)
    assert held_total == Decimal("0.05") * (30 - len(expired))
    # What the sweepers left due is swept now: nothing stays open.
    assert (await messaging.expire_holds()).expired == 30 - len(expired)
    assert await held_state(engine, check_ledger) == (Decimal("4.00"), Decimal("0"))


async def test_a_direct_charge_and_a_hold_of_one_message_id_never_both_happen(
    platform_race: PlatformRace, priced: Any, engine: AsyncEngine, check_ledger: Any
) -> None:
    await priced("5.00")
    messages = [f"wamid.{n}" for n in range(15)]

    def act(platform: BillingSession, i: int) -> Awaitable[ChargeResult | HoldResult]:
        message_id = messages[i // 2]
        if i % 2:
            return platform.charge(TENANT, "0.05", message_id)
        return platform.hold(TENANT, message_id, "utility", NUMBER)

    results = outcomes(await platform_race(2 * len(messages), act), DuplicateError)

    held = {row["message_id"] for row in await stored_holds(engine)}
    charged = {row["reference_id"] for row in await charge_rows(engine)}
    assert held & charged == set()
    assert held | charged == set(messages)  # one of the two won each message, the other was refused
    assert len(results) == len(messages)
    balance, held_total = await held_state(engine, check_ledger)
    assert (balance, held_total) == (Decimal("5.00") - Decimal("0.05") * len(charged), Decimal("0.05") * len(held))


async def test_two_sweepers_at_once_sweep_each_hold_once(
    platform_race: PlatformRace,
    priced: Any,
    messaging: BillingSession,
    clock: ManualClock,
    engine: AsyncEngine,
    check_ledger: Any,
) -> None:
    await priced("5.00")
    for n in range(40):
        await messaging.hold(TENANT, f"wamid.{n}", "utility", NUMBER, expires_in_seconds=1)
    clock.advance(timedelta(seconds=1))  # exactly at expires_at: due

    swept = [sweep.expired for sweep in outcomes(await platform_race(6, lambda p, i: p.expire_holds()))]

    # One sweeper at a time (the advisory lock): the others sweep nothing, whether they came while it swept or
    # after it committed.
    assert sorted(swept) == [0] * 5 + [40]
    assert {row["status"] for row in await stored_holds(engine)} == {HoldStatus.EXPIRED}
    assert await held_state(engine, check_ledger) == (Decimal("5.00"), Decimal("0"))
