"""Meta's statuses racing on real connections (contract v2 §11): "two webhook workers at once — one charge per
message", and delivered wins over failed in either order. Each racer applies a body through the service as the
webhook route does (`apply_whatsapp_statuses`), on its own connection and transaction; the racers' units that apply
the statuses are all open before any sends a statement (`ApplyTogether`).

The service is wired as `postgres_container` wires it; only its unit of work factory is the racing one. Every race
ends with the ledger check (balance = the newest balance_after = the sum of the ledger) and `held` = the sum of the
open holds, and no racer may see a raw database error or a conflict that outlived its retries.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.memory.clock import ManualClock
from billing.adapters.sqlalchemy.tables import holds, message_counts, wallet_transactions, wallets, webhook_events
from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.application.ports import ConcurrencyConflictError
from billing.application.service import BillingService, BillingSession
from billing.container import EVENT_HANDLERS
from billing.domain.hold import HoldStatus
from billing.domain.ledger import Posting, PriceSnapshot
from billing.domain.webhook_events import WebhookEvent
from billing.domain.whatsapp import parse_status_notifications

from .conftest import StartTogether

pytestmark = [pytest.mark.postgres, pytest.mark.many_connections]

TENANT = "clinic-a"
NUMBER = "106540352242922"
RECIPIENT = "+14155552671"
PRICE = Decimal("0.05")
Body = dict[str, object]
WebhookRace = Callable[[Sequence[Body]], Any]


class ApplyTogether:
    """A unit-of-work factory for `n` racers each applying one body: a body takes two units, the numbers' lookup
    and then its statuses applied. The first `n` units (every racer's lookup, all created before any finishes: the
    racers start in one turn of the event loop) start at once; the next `n` (every racer's statuses) wait for one
    another once connected, so the writes really overlap. Later units (the runtime's retries) start at once."""

    def __init__(self, engine: AsyncEngine, n: int) -> None:
        self._engine = engine
        self._lookups_left = n
        self._applies = StartTogether(engine, n)

    def __call__(self) -> SqlAlchemyUnitOfWork:
        if self._lookups_left:
            self._lookups_left -= 1
            return SqlAlchemyUnitOfWork(self._engine)
        return self._applies()


@pytest.fixture
async def messaging(billing: BillingService, clock: ManualClock) -> BillingSession:
    """A default card pricing utility and marketing at 0.05 everywhere, 5.00 on the wallet, the number mapped."""
    platform = billing.as_platform("messaging")
    rates = [
        {"market": "Rest", "category": category, "unit_price": str(PRICE)} for category in ("utility", "marketing")
    ]
    await platform.create_rate_card("Default", clock.now() - timedelta(days=1), {"*": "Rest"}, rates)
    await platform.adjust(TENANT, "5.00", "opening balance")
    await platform.map_whatsapp_number(NUMBER, TENANT)
    return platform


@pytest.fixture
def race(engine: AsyncEngine, billing: BillingService) -> WebhookRace:
    """`await race(bodies)`: one webhook worker per body, all at once; each racer's recorded events, or its error."""

    async def run(bodies: Sequence[Body]) -> list[Any]:
        racing = BillingService(ApplyTogether(engine, len(bodies)), billing.runtime, EVENT_HANDLERS)
        webhook = racing.as_platform("webhook")

        async def apply(body: Body) -> list[WebhookEvent]:
            return await webhook.apply_whatsapp_statuses(parse_status_notifications(body))

        async with asyncio.timeout(120):
            return await asyncio.gather(*(apply(body) for body in bodies), return_exceptions=True)

    return run


def body(clock: ManualClock, *statuses: tuple[str, str]) -> Body:
    """Meta's envelope: one change of the clinic's number carrying the (message id, status) pairs, in order."""
    at = str(int(clock.now().timestamp()))
    pricing = {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}
    items = [
        {"id": message_id, "status": kind, "timestamp": at, "recipient_id": RECIPIENT.lstrip("+")}
        | ({"pricing": pricing} if kind in ("delivered", "read") else {})
        for message_id, kind in statuses
    ]
    value = {"messaging_product": "whatsapp", "metadata": {"phone_number_id": NUMBER}, "statuses": items}
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }


def outcomes(results: list[Any], expected: type[Exception] | tuple[type[Exception], ...] = ()) -> list[WebhookEvent]:
    """The racers' events; a failure must be one of the `expected` errors (never a raw database error, and by
    default never a conflict that outlived its retries)."""
    failed = [r for r in results if isinstance(r, BaseException) and not isinstance(r, expected)]
    assert failed == [], [f"{type(error).__module__}.{type(error).__qualname__}: {error}" for error in failed]
    return [event for events in results if not isinstance(events, BaseException) for event in events]


async def _all(engine: AsyncEngine, query: Any) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(query)).mappings())


async def charge_rows(engine: AsyncEngine) -> list[Any]:
    columns = wallet_transactions.c
    return await _all(engine, select(wallet_transactions).where(columns.tenant_id == TENANT, columns.kind == "charge"))


async def recorded(engine: AsyncEngine) -> list[Any]:
    return await _all(engine, select(webhook_events).where(webhook_events.c.tenant_id == TENANT))


async def stored_holds(engine: AsyncEngine) -> dict[str, Any]:
    return {row["message_id"]: row for row in await _all(engine, select(holds).where(holds.c.tenant_id == TENANT))}


async def money(engine: AsyncEngine, check_ledger: Any) -> tuple[Decimal, Decimal]:
    """Balance and held, once the ledger explains the balance and `held` is the sum of the open holds."""
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


async def test_one_body_applied_by_8_workers_at_once_charges_each_message_once(
    race: WebhookRace, messaging: BillingSession, clock: ManualClock, engine: AsyncEngine, check_ledger: Any
) -> None:
    messages = [f"wamid.HBgM{n}+/=" for n in range(20)]
    for message_id in messages:
        await messaging.hold(TENANT, message_id, "utility", RECIPIENT)
    delivered = body(clock, *((message_id, "delivered") for message_id in messages))

    events = outcomes(await race([delivered] * 8))

    applied = Counter(event.message_id for event in events if str(event.outcome) == "applied")
    assert applied == dict.fromkeys(messages, 1)  # one worker applied each; the others found it settled or seen
    rows = await charge_rows(engine)
    assert sorted(row["reference_id"] for row in rows) == sorted(messages)  # one charge per message
    assert {row["amount"] for row in rows} == {-PRICE}
    events_stored = await recorded(engine)
    assert Counter((row["message_id"], row["status"]) for row in events_stored) == {
        (message_id, "delivered"): 1 for message_id in messages
    }
    assert {row["outcome"] for row in events_stored} == {"applied"}
    final = await stored_holds(engine)
    assert {final[m]["status"] for m in messages} == {HoldStatus.SETTLED.value}
    assert {final[m]["transaction_id"] for m in messages} == {row["id"] for row in rows}
    assert await money(engine, check_ledger) == (Decimal("5.00") - PRICE * 20, Decimal("0"))


async def test_failed_and_delivered_racing_charge_each_message_once_at_its_holds_price(
    race: WebhookRace, messaging: BillingSession, clock: ManualClock, engine: AsyncEngine, check_ledger: Any
) -> None:
    messages = [f"wamid.{n}" for n in range(10)]
    placed = {m: (await messaging.hold(TENANT, m, "utility", RECIPIENT)).hold for m in messages}
    # Four workers per message, each with one status: failed, delivered, failed, delivered (two of each: the same
    # status twice races too).
    bodies = [body(clock, (messages[i // 4], "delivered" if i % 2 else "failed")) for i in range(4 * len(messages))]

    events = outcomes(await race(bodies))

    rows = {row["reference_id"]: row for row in await charge_rows(engine)}
    assert sorted(rows) == sorted(messages)  # delivered wins, in either order: every message charged once
    assert {row["amount"] for row in rows.values()} == {-PRICE}  # at its hold's own price
    final = await stored_holds(engine)
    for m in messages:
        hold = final[m]
        assert rows[m]["price"]["hold_id"] == str(placed[m].id)
        assert (hold["charged"], hold["transaction_id"]) == (PRICE, rows[m]["id"]), m
        # Delivered first: settled, and failed was ignored. Failed first: voided, then charged as released.
        assert hold["status"] in (HoldStatus.SETTLED.value, HoldStatus.VOIDED.value), m
    stored = await recorded(engine)
    assert Counter((row["message_id"], row["status"]) for row in stored) == {
        (m, status): 1 for m in messages for status in ("failed", "delivered")
    }
    for row in stored:
        voided_first = final[row["message_id"]]["status"] == HoldStatus.VOIDED.value
        expected = "applied" if row["status"] == "delivered" or voided_first else "ignored"
        assert row["outcome"] == expected, row
    assert Counter((e.message_id, e.status) for e in events if str(e.outcome) == "applied") == {
        (m, status): 1
        for m in messages
        for status in ("failed", "delivered")
        if status == "delivered" or final[m]["status"] == HoldStatus.VOIDED.value
    }
    assert await money(engine, check_ledger) == (Decimal("5.00") - PRICE * len(messages), Decimal("0"))


async def test_delivered_without_a_hold_applied_by_8_workers_is_charged_once(
    race: WebhookRace, messaging: BillingSession, clock: ManualClock, engine: AsyncEngine, check_ledger: Any
) -> None:
    delivered = body(clock, ("wamid.unheld", "delivered"), ("wamid.unheld", "read"))

    events = outcomes(await race([delivered] * 8))

    rows = await charge_rows(engine)
    assert [(row["reference_id"], row["amount"]) for row in rows] == [("wamid.unheld", -PRICE)]
    assert rows[0]["price"]["hold_id"] is None  # priced by the card in force
    assert [(e.status, e.transaction_id) for e in events if str(e.outcome) == "applied"] == [
        ("delivered", rows[0]["id"])
    ]
    stored = await recorded(engine)
    assert sorted((row["status"], row["outcome"]) for row in stored) == [
        ("delivered", "applied"),
        ("read", "ignored"),
    ]
    counted = await _all(engine, select(message_counts.c.settled).where(message_counts.c.tenant_id == TENANT))
    assert [row["settled"] for row in counted] == [1]  # the volume tier counts the message once
    assert await money(engine, check_ledger) == (Decimal("5.00") - PRICE, Decimal("0"))


async def test_bodies_naming_the_messages_in_opposite_orders_lose_nothing(
    race: WebhookRace,
    billing: BillingService,
    messaging: BillingSession,
    clock: ManualClock,
    engine: AsyncEngine,
    check_ledger: Any,
) -> None:
    """Meta batches statuses as it likes. Workers locking the same holds in opposite orders deadlock; the database's
    victim re-runs its unit, and a worker whose re-runs all lose gives up with ConcurrencyConflictError (the route's
    503), never a raw database error and never a half-applied body. Meta redelivers what was not answered 200: the
    redelivery completes it, and every message is charged once."""
    messages = [f"wamid.{n}" for n in range(12)]
    for message_id in messages:
        await messaging.hold(TENANT, message_id, "utility", RECIPIENT)
    bodies = [body(clock, *((m, "delivered") for m in messages)), body(clock, *((m, "read") for m in messages[::-1]))]
    bodies *= 4

    results = await race(bodies)

    gave_up = [i for i, result in enumerate(results) if isinstance(result, BaseException)]
    events = outcomes(results, ConcurrencyConflictError)
    webhook = billing.as_platform("webhook")
    for i in gave_up:  # Meta's redelivery, after a 503
        events += await webhook.apply_whatsapp_statuses(parse_status_notifications(bodies[i]))
    applied = Counter(event.message_id for event in events if str(event.outcome) == "applied")
    assert applied == dict.fromkeys(messages, 1)  # by a delivered or a read, once
    rows = await charge_rows(engine)
    assert sorted(row["reference_id"] for row in rows) == sorted(messages)
    stored = await recorded(engine)
    assert Counter((row["message_id"], row["status"]) for row in stored) == {
        (m, status): 1 for m in messages for status in ("delivered", "read")
    }
    assert await money(engine, check_ledger) == (Decimal("5.00") - PRICE * len(messages), Decimal("0"))


async def test_a_released_hold_charged_by_a_unit_that_did_not_lock_it_is_a_conflict(
    billing: BillingService, messaging: BillingSession, clock: ManualClock, engine: AsyncEngine, check_ledger: Any
) -> None:
    """The adapter's own guard: a late charge lands only on a released hold not charged yet; a stale second one
    changes nothing and makes its unit re-run (which then finds the hold charged)."""
    await messaging.hold(TENANT, "wamid.1", "utility", RECIPIENT)
    await messaging.void(TENANT, "wamid.1")
    units = billing.uow_factory
    async with units() as uow:
        locked = await uow.holds.lock(TENANT, "wamid.1")
    assert locked is not None
    charges = []
    for _ in range(2):
        hold = copy.deepcopy(locked.hold)  # both read it released and uncharged
        charge = Posting.charge(
            uuid4(), TENANT, hold.amount, hold.message_id, "late", clock.now(), PriceSnapshot.of(hold.quote, hold.id)
        )
        hold.charge_released(hold.amount, charge.entry_id)
        charges.append((hold, charge))
    async with units() as uow:
        entry = await uow.holds.save_released_charge(*charges[0])
        await uow.commit()
    async with units() as uow:
        with pytest.raises(ConcurrencyConflictError):
            await uow.holds.save_released_charge(*charges[1])

    rows = await charge_rows(engine)
    assert [(row["id"], row["amount"]) for row in rows] == [(entry.id, -PRICE)]
    final = (await stored_holds(engine))["wamid.1"]
    assert (final["status"], final["charged"], final["transaction_id"]) == ("voided", PRICE, entry.id)
    assert await money(engine, check_ledger) == (Decimal("5.00") - PRICE, Decimal("0"))
