"""The clinic's protections racing on real connections (contract v2 §10): "never two alerts for one crossing, even
under races" and "at most one open automatic request per tenant, enforced by the database". Each racer holds its
own connection and transaction, and the racers of one race are all open before any sends a statement
(`StartTogether` in conftest.py).

The service is wired as `postgres_container` wires it (the runtime prices real phone numbers); only its unit of
work factory is the racing one. Every message costs 0.05, so the move that crosses a level L takes `available`
from exactly L to L - 0.05: the one alert of a crossing names that move. Rows are counted in the tables themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.memory.clock import ManualClock
from billing.adapters.sqlalchemy.tables import (
    holds,
    low_balance_alerts,
    outbox_messages,
    topup_requests,
    wallet_transactions,
    wallets,
)
from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.handlers.holds import HoldBatch, HoldResult
from billing.application.handlers.wallets import ChargeResult
from billing.application.service import BillingService, BillingSession
from billing.domain.hold import HoldStatus
from billing.domain.money import Money
from billing.domain.protections import AUTO_REQUESTER
from billing.domain.topup import TopupRequest

from .conftest import CheckLedger, PlatformRace, StartTogether

pytestmark = [pytest.mark.postgres, pytest.mark.many_connections]

TENANT = "clinic-a"
NUMBER = "+14155552671"
CONTACT = "billing@clinic-a.test"
PRICE = Decimal("0.05")
RACERS = 50  # connections at once (a test server allows ~100)
AUTO = {"enabled": True, "threshold": "4.00", "target": "20.00", "monthly_cap": "100.00"}


def succeeded(results: list[Any]) -> list[Any]:
    """The racers' results, once none of them failed (no refusal is expected: the wallet covers every move)."""
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == [], [f"{type(error).__qualname__}: {error}" for error in failures]
    return results


@pytest.fixture
def operator(billing: BillingService) -> BillingSession:
    return billing.as_platform("messaging")


@pytest.fixture
async def funded(operator: BillingSession, clock: ManualClock) -> Callable[[str], Awaitable[None]]:
    """A card pricing every utility and marketing message at 0.05 and a billing contact; then fund the wallet."""
    rates = [
        {"market": "Rest", "category": category, "unit_price": str(PRICE)} for category in ("utility", "marketing")
    ]
    await operator.create_rate_card("Default", clock.now() - timedelta(days=1), {"*": "Rest"}, rates)
    await operator.set_billing_contact(CONTACT, tenant_id=TENANT)

    async def fund(balance: str) -> None:
        await operator.adjust(TENANT, balance, "opening balance")

    return fund


def one_hold(platform: BillingSession, i: int) -> Awaitable[HoldResult]:
    return platform.hold(TENANT, f"wamid.{i}", "utility", NUMBER)


def holds_from(first: int) -> Callable[[BillingSession, int], Awaitable[HoldResult]]:
    """A race's racer `i` holds message `first + i` (the waves of one burst never repeat a message id)."""
    return lambda platform, i: one_hold(platform, first + i)


async def alerts(engine: AsyncEngine) -> list[tuple[Decimal, Decimal]]:
    """Every alert row of the tenant as (level, available), highest level first."""
    c = low_balance_alerts.c
    async with engine.connect() as connection:
        found = await connection.execute(
            select(c.level, c.available).where(c.tenant_id == TENANT).order_by(c.level.desc(), c.available.desc())
        )
        return [(row.level, row.available) for row in found]


async def emails(engine: AsyncEngine, kind: str) -> list[Mapping[str, Any]]:
    c = outbox_messages.c
    async with engine.connect() as connection:
        found = await connection.execute(
            select(outbox_messages).where(c.tenant_id == TENANT, c.kind == kind).order_by(c.subject)
        )
        return [dict(row) for row in found.mappings()]


async def automatic_requests(engine: AsyncEngine) -> list[tuple[Decimal, str]]:
    """Every automatic top-up request of the tenant as (amount, status), oldest first."""
    c = topup_requests.c
    async with engine.connect() as connection:
        found = await connection.execute(
            select(c.amount, c.status)
            .where(c.tenant_id == TENANT, c.requested_by == AUTO_REQUESTER)
            .order_by(c.requested_at, c.amount)
        )
        return [(row.amount, row.status) for row in found]


async def money_state(engine: AsyncEngine, check_ledger: CheckLedger) -> tuple[Decimal, Decimal]:
    """The wallet's balance and held, once the ledger explains the balance and `held` is the sum of the open holds."""
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
    return balance, held


def low_balance_subjects(queued: Sequence[Mapping[str, Any]]) -> list[tuple[str | None, str]]:
    return [(row["recipient"], row["subject"]) for row in queued]


# Low-balance alerts -------------------------------------------------------------------------------------------


async def test_50_holds_at_once_crossing_one_level_record_one_alert_and_queue_one_email(
    platform_race: PlatformRace, funded: Any, operator: BillingSession, engine: AsyncEngine, check_ledger: CheckLedger
) -> None:
    await funded("5.00")
    await operator.set_settings("0", TENANT, low_balance_levels=["4.00"])

    placed: list[HoldResult] = succeeded(await platform_race(RACERS, one_hold))  # 5.00 -> 2.50, through 4.00 once

    assert sum(result.created for result in placed) == RACERS
    assert await money_state(engine, check_ledger) == (Decimal("5.00"), Decimal("2.50"))
    assert await alerts(engine) == [(Decimal("4.00"), Decimal("3.95"))]  # the move from 4.00 to 3.95, alone
    assert low_balance_subjects(await emails(engine, "low_balance")) == [
        (CONTACT, "Low balance: 3.95 USD available, below your alert level of 4.00")
    ]


async def test_50_holds_at_once_crossing_two_levels_record_one_alert_per_level(
    platform_race: PlatformRace, funded: Any, operator: BillingSession, engine: AsyncEngine, check_ledger: CheckLedger
) -> None:
    await funded("5.00")
    await operator.set_settings("0", TENANT, low_balance_levels=["4.00", "3.00", "1.00"])  # 1.00 stays uncrossed

    succeeded(await platform_race(RACERS, one_hold))  # 5.00 -> 2.50

    assert await money_state(engine, check_ledger) == (Decimal("5.00"), Decimal("2.50"))
    assert await alerts(engine) == [(Decimal("4.00"), Decimal("3.95")), (Decimal("3.00"), Decimal("2.95"))]
    assert low_balance_subjects(await emails(engine, "low_balance")) == [
        (CONTACT, "Low balance: 2.95 USD available, below your alert level of 3.00"),
        (CONTACT, "Low balance: 3.95 USD available, below your alert level of 4.00"),
    ]


async def test_direct_charges_and_holds_at_once_crossing_a_level_record_one_alert(
    platform_race: PlatformRace, funded: Any, operator: BillingSession, engine: AsyncEngine, check_ledger: CheckLedger
) -> None:
    await funded("5.00")
    await operator.set_settings("0", TENANT, low_balance_levels=["4.00"])

    def act(platform: BillingSession, i: int) -> Awaitable[ChargeResult | HoldResult]:
        if i % 2:
            return platform.charge(TENANT, str(PRICE), f"sms.{i}")
        return one_hold(platform, i)

    results = succeeded(await platform_race(RACERS, act))  # 25 charges and 25 holds: available 5.00 -> 2.50

    assert [type(result) for result in results].count(ChargeResult) == RACERS // 2
    async with engine.connect() as connection:
        charges = (
            await connection.execute(
                select(func.count()).where(
                    wallet_transactions.c.tenant_id == TENANT, wallet_transactions.c.kind == "charge"
                )
            )
        ).scalar_one()
    assert charges == RACERS // 2
    assert await money_state(engine, check_ledger) == (Decimal("3.75"), Decimal("1.25"))
    assert await alerts(engine) == [(Decimal("4.00"), Decimal("3.95"))]
    assert len(await emails(engine, "low_balance")) == 1


# Automatic top-up requests ------------------------------------------------------------------------------------


async def test_50_holds_at_once_crossing_the_threshold_request_one_automatic_top_up(
    platform_race: PlatformRace, funded: Any, operator: BillingSession, engine: AsyncEngine, check_ledger: CheckLedger
) -> None:
    await funded("5.00")
    await operator.set_settings("0", TENANT, auto_topup=AUTO)

    succeeded(await platform_race(RACERS, one_hold))  # 5.00 -> 2.50: the last 30 moves end below 4.00

    assert await money_state(engine, check_ledger) == (Decimal("5.00"), Decimal("2.50"))
    assert await automatic_requests(engine) == [(Decimal("16.05"), "pending")]  # 20.00 - 3.95, by the first below
    [email] = await emails(engine, "automatic_topup")
    assert (email["recipient"], email["subject"]) == (CONTACT, "Automatic top-up requested: 16.05 USD")
    assert await alerts(engine) == []  # no level configured: a request is no alert


async def test_1000_holds_below_the_threshold_in_waves_of_50_request_one_automatic_top_up(
    platform_race: PlatformRace, funded: Any, operator: BillingSession, engine: AsyncEngine, check_ledger: CheckLedger
) -> None:
    await funded("60.00")
    await operator.set_settings(
        "0", TENANT, auto_topup={"enabled": True, "threshold": "100.00", "target": "200.00", "monthly_cap": "1000.00"}
    )  # every move ends below the threshold: each one asks whether a request is due

    for wave in range(20):
        succeeded(await platform_race(RACERS, holds_from(wave * RACERS)))

    assert await money_state(engine, check_ledger) == (Decimal("60.00"), Decimal("50.00"))
    assert await automatic_requests(engine) == [(Decimal("140.05"), "pending")]  # 200.00 - 59.95, the first move
    assert len(await emails(engine, "automatic_topup")) == 1


async def test_a_batch_of_1000_racing_49_single_holds_requests_one_automatic_top_up(
    platform_race: PlatformRace, funded: Any, operator: BillingSession, engine: AsyncEngine, check_ledger: CheckLedger
) -> None:
    await funded("60.00")
    await operator.set_settings(
        "0", TENANT, auto_topup={"enabled": True, "threshold": "100.00", "target": "200.00", "monthly_cap": "1000.00"}
    )
    batch = [{"message_id": f"batch.{n}", "category": "marketing", "recipient": NUMBER} for n in range(1000)]

    def act(platform: BillingSession, i: int) -> Awaitable[HoldBatch | HoldResult]:
        return platform.hold_batch(TENANT, batch) if i == 0 else one_hold(platform, i)

    results = succeeded(await platform_race(RACERS, act))  # 50.00 + 49 x 0.05 held: 7.55 left

    assert isinstance(results[0], HoldBatch)
    assert len(results[0].items) == 1000
    assert await money_state(engine, check_ledger) == (Decimal("60.00"), Decimal("52.45"))
    [(amount, status)] = await automatic_requests(engine)
    # The first move of the race asks: the batch (available 10.00) or a single hold (59.95).
    assert (amount, status) in {(Decimal("190.00"), "pending"), (Decimal("140.05"), "pending")}
    [email] = await emails(engine, "automatic_topup")
    assert email["subject"] == f"Automatic top-up requested: {amount:.2f} USD"


# The partial unique index ux_topup_requests_open_automatic ------------------------------------------------------


def automatic(clock: ManualClock, amount: str = "50.00") -> TopupRequest:
    return TopupRequest.submit(uuid4(), TENANT, Money(Decimal(amount), "USD"), None, AUTO_REQUESTER, None, clock.now())


async def add_automatic(engine: AsyncEngine, request: TopupRequest) -> bool:
    async with SqlAlchemyUnitOfWork(engine) as uow:
        added = await uow.topups.add_automatic(request)
        await uow.commit()
    return added


async def test_the_database_refuses_a_second_open_automatic_request_until_the_first_is_decided(
    engine: AsyncEngine, operator: BillingSession, clock: ManualClock
) -> None:
    first = automatic(clock)
    assert await add_automatic(engine, first) is True

    assert await add_automatic(engine, automatic(clock, "60.00")) is False  # quietly: nothing added
    assert await automatic_requests(engine) == [(Decimal("50.00"), "pending")]

    await operator.reject_topup(first.id, "not this month")
    third = automatic(clock, "70.00")
    assert await add_automatic(engine, third) is True  # a rejected request is no longer open

    approved = await operator.approve_topup(third.id)  # invoiced is still open
    assert await add_automatic(engine, automatic(clock, "80.00")) is False
    assert await automatic_requests(engine) == [(Decimal("50.00"), "rejected"), (Decimal("70.00"), "invoiced")]
    assert approved.invoice_id is not None


async def test_a_manual_request_does_not_occupy_the_automatic_slot(
    engine: AsyncEngine, billing: BillingService, clock: ManualClock
) -> None:
    clinic = billing.acting_as(Caller("user-1", TENANT, {VIEW, MANAGE}, "owner@clinic-a.test"))
    await clinic.request_topup("10.00")  # open, but not automatic: the handler's has_open check covers it

    assert await add_automatic(engine, automatic(clock)) is True
    assert await automatic_requests(engine) == [(Decimal("50.00"), "pending")]
    assert len((await billing.as_platform("messaging").topup_requests(TENANT, status="pending")).items) == 2


async def test_20_connections_adding_an_automatic_request_at_once_add_exactly_one(
    engine: AsyncEngine, clock: ManualClock
) -> None:
    racers = 20
    gate = StartTogether(engine, racers)
    requests = [automatic(clock, f"{10 + n}.00") for n in range(racers)]

    async def add(n: int) -> bool:
        async with gate() as uow:  # every racer's transaction is open before any inserts
            added = await uow.topups.add_automatic(requests[n])
            await uow.commit()
        return added

    async with asyncio.timeout(60):
        added = succeeded(list(await asyncio.gather(*(add(n) for n in range(racers)), return_exceptions=True)))

    assert added.count(True) == 1
    winner = requests[added.index(True)]
    assert await automatic_requests(engine) == [(winner.amount.amount, "pending")]
