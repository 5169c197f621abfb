"""Holds whose database connection is killed mid-transaction (contract v2 §9): a settle, a void or a batch hold
killed at any point changes nothing, and its retry applies it exactly once.

The technique is test_killed_connection's: the test holds a lock the unit needs at the chosen point, waits until
the unit's backend waits for it (`pg_blocking_pids`), and terminates that backend (`pg_terminate_backend`). The
lock picks the point:

- the wallet's row (`SELECT … FOR UPDATE`): the unit has locked nothing yet, and wrote nothing;
- the hold's row: the unit holds its wallet's row lock (the lock order: the wallet first) and waits for the hold's;
- an uncommitted ledger row charging the same message id: the unit has closed the hold, moved the wallet and
  inserted its ledger row, and waits on the charge reference's unique index;
- an uncommitted tier counter of the message's month, market and category: the settle's money moved, its tier
  count has not;
- an uncommitted idempotency record of the request's key: everything written, the key is the last write before
  COMMIT;
- an uncommitted hold of a batch's last message id: the batch's `held` moved and its first holds are inserted.

At each point the killed unit must have written exactly the tables expected (its granted RowExclusiveLocks, and
whether it has a transaction id at all), so a kill that lands elsewhere fails the test rather than proving less.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import attrs
import httpx
import psycopg
import pytest

from billing.config import JwtSettings, Settings
from billing.container import postgres_container
from billing.entrypoints.http.app import create_app

from .support import (
    BASE,
    CLINIC,
    CLINIC_USER,
    OPERATOR,
    ROOT,
    SECRET,
    assert_unavailable,
    check_ledger,
    keyed,
    ledger_rows,
)

pytestmark = pytest.mark.postgres

T = TypeVar("T")
WAIT_SECONDS = 20.0

CARD: dict[str, Any] = {
    "name": "Killed settle card",
    "currency": "USD",
    "effective_from": "2025-01-01T00:00:00Z",
    "free_in_service_window": ["utility"],
    "markets": {"IN": "India", "US": "North America", "*": "Other"},
    "rates": [
        {"market": "India", "category": "marketing", "unit_price": "0.0118"},
        {"market": "North America", "category": "marketing", "unit_price": "0.025"},
        {"market": "North America", "category": "utility", "unit_price": "0.004"},
    ],
}
USA = "+14155552671"
INDIA = "+919876543210"
FUNDED = Decimal("10.00")
MESSAGE = "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI/QTNDQ+A1QjNENEQ2RTY3RTcA=="  # `/`, `+` and `=`, as a wamid may
PRICE = Decimal("0.025")  # a marketing message to the US
BATCH = [
    {"message_id": "wamid.b1", "category": "marketing", "recipient": USA},  # 0.025
    {"message_id": "wamid.b2", "category": "utility", "recipient": USA},  # 0.004
    {"message_id": "wamid.b3", "category": "marketing", "recipient": INDIA},  # 0.0118
]
BATCH_TOTAL = Decimal("0.0408")
# The ledger's trigger writes the hourly spend (`wallet_spend`) with each charge row it inserts.
ALL_WRITES = frozenset(
    {"holds", "wallets", "wallet_transactions", "wallet_spend", "message_counts", "message_margins", "idempotency_keys"}
)


# Where the unit is stopped: a statement the test runs and keeps uncommitted --------------------------------------

HOLD_ROW = "SELECT 1 FROM holds WHERE tenant_id = %(tenant_id)s AND message_id = %(message_id)s FOR UPDATE"
WALLET_ROW = "SELECT 1 FROM wallets WHERE tenant_id = %(tenant_id)s FOR UPDATE"
# Its FK takes only a KEY SHARE lock on the wallet's row, which neither the settle's lock nor its update waits for.
CHARGE_REFERENCE = """
    INSERT INTO wallet_transactions (tenant_id, id, wallet_id, kind, amount, currency, balance_after, reference_id,
                                     created_at)
    SELECT tenant_id, gen_random_uuid(), id, 'charge', -0.0001, currency, balance, %(message_id)s, now()
    FROM wallets WHERE tenant_id = %(tenant_id)s
"""
TIER_COUNTER = """
    INSERT INTO message_counts (tenant_id, month, market, category, settled)
    VALUES (%(tenant_id)s, %(month)s, %(market)s, %(category)s, 0)
"""
IDEMPOTENCY_KEY = """
    INSERT INTO idempotency_keys (tenant_id, key, fingerprint, status_code, body, content_type, created_at, expires_at)
    VALUES (%(key_tenant)s, %(key)s, repeat('0', 64), 200, '', 'application/json', now(), now() + interval '1 hour')
"""
MESSAGE_HELD = """
    INSERT INTO holds (tenant_id, id, message_id, status, recipient, country, market, category, tier, rate_card_id,
                       unit_price, amount, message_window, currency, created_at, expires_at)
    SELECT tenant_id, gen_random_uuid(), %(message_id)s, 'held', '…3210', 'IN', 'India', 'marketing', 1,
           %(rate_card_id)s, 0, 0, 'none', currency, now(), now() + interval '1 hour'
    FROM wallets WHERE tenant_id = %(tenant_id)s
"""


@attrs.frozen
class KillPoint:
    lock: str  # what the test holds uncommitted
    blocked_in: str  # a fragment of the statement the unit waits in
    wrote: frozenset[str]  # the tables it has written by then
    has_xid: bool  # whether it has a transaction id yet (a row locked or written, or an UPDATE under way)


def point(lock: str, blocked_in: str, wrote: Iterable[str], *, has_xid: bool, id: str) -> Any:
    return pytest.param(KillPoint(lock, blocked_in, frozenset(wrote), has_xid), id=id)


SETTLE_POINTS = [
    point(WALLET_ROW, "FROM wallets", set(), has_xid=False, id="before-the-wallet-row-is-locked"),
    point(HOLD_ROW, "FROM holds", set(), has_xid=True, id="wallet-row-locked-hold-row-not"),
    point(
        CHARGE_REFERENCE,
        "INSERT INTO wallet_transactions",
        {"holds", "wallets", "wallet_transactions", "message_margins"},  # the margin: the settle's own statement
        has_xid=True,
        id="after-the-wallet-update-and-ledger-insert",
    ),
    point(
        TIER_COUNTER,
        "INSERT INTO message_counts",
        {"holds", "wallets", "wallet_transactions", "wallet_spend", "message_counts", "message_margins"},
        has_xid=True,
        id="after-the-ledger-before-the-tier-count",
    ),
    point(IDEMPOTENCY_KEY, "INSERT INTO idempotency_keys", ALL_WRITES, has_xid=True, id="just-before-commit"),
]
VOID_POINTS = [
    point(WALLET_ROW, "FROM wallets", set(), has_xid=False, id="before-the-wallet-row-is-locked"),
    point(HOLD_ROW, "FROM holds", set(), has_xid=True, id="wallet-row-locked-hold-row-not"),
    point(
        IDEMPOTENCY_KEY,
        "INSERT INTO idempotency_keys",
        {"holds", "wallets", "idempotency_keys"},
        has_xid=True,
        id="after-the-release-just-before-commit",
    ),
]
# A batch is one statement: its UPDATE of the wallet and INSERT of the holds lock both tables when it starts, and
# the UPDATE takes its transaction id before it waits for the wallet's row. Only the insert of the holds can wait
# for an uncommitted hold of the same message id: that kill lands after `held` moved.
BATCH_POINTS = [
    point(WALLET_ROW, "UPDATE wallets", {"wallets", "holds"}, has_xid=True, id="before-held-moves"),
    point(MESSAGE_HELD, "UPDATE wallets", {"wallets", "holds"}, has_xid=True, id="held-moved-two-of-three-inserted"),
    point(
        IDEMPOTENCY_KEY,
        "INSERT INTO idempotency_keys",
        {"wallets", "holds", "idempotency_keys"},
        has_xid=True,
        id="all-inserted-just-before-commit",
    ),
]


@asynccontextmanager
async def held_uncommitted(url: str, statement: str, params: dict[str, Any]) -> AsyncIterator[int]:
    """Run `statement` (it must touch exactly one row) in a transaction kept open until the block ends, then
    rolled back; yields its backend's pid."""
    async with await psycopg.AsyncConnection.connect(url) as locker:
        touched = await locker.execute(statement, params)
        assert touched.rowcount == 1, f"the lock touched {touched.rowcount} rows: {statement}"
        try:
            yield locker.info.backend_pid
        finally:
            await locker.rollback()


@attrs.frozen
class Blocked:
    pid: int
    has_xid: bool
    wrote: frozenset[str]
    query: str


async def _blocked_by(watcher: psycopg.AsyncConnection[Any], locker_pid: int) -> list[Blocked]:
    found = await watcher.execute(
        "SELECT a.pid, a.backend_xid IS NOT NULL, a.query,"
        " coalesce(array_agg(c.relname::text) FILTER (WHERE c.relname IS NOT NULL), '{}')"
        " FROM pg_stat_activity a"
        " LEFT JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'relation' AND l.mode = 'RowExclusiveLock'"
        "  AND l.granted"
        " LEFT JOIN pg_class c ON c.oid = l.relation AND c.relkind IN ('r', 'p')"
        " WHERE %s = ANY(pg_blocking_pids(a.pid)) GROUP BY a.pid, a.backend_xid, a.query",
        [locker_pid],
    )
    return [Blocked(pid, has_xid, frozenset(wrote), query) for pid, has_xid, query, wrote in await found.fetchall()]


async def kill_at(url: str, locker_pid: int, work: Awaitable[T], expected: KillPoint) -> T:
    """Start `work`, wait until its backend waits for `locker_pid`, check it stopped where `expected` says,
    terminate it, and return what `work` answers."""
    task = asyncio.ensure_future(work)
    # Autocommit: inside a transaction, pg_stat_activity would be one snapshot, never updated.
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as watcher:
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                while not await _blocked_by(watcher, locker_pid):
                    assert not task.done(), f"the unit finished without waiting on the lock: {task.result()!r}"
                    await asyncio.sleep(0.01)
            # Look again once it has waited a while: one look reads pg_stat_activity, pg_locks and the waits at
            # slightly different moments, and may catch the statement before the one that waits.
            await asyncio.sleep(0.05)
            blocked = await _blocked_by(watcher, locker_pid)
            assert len(blocked) == 1, blocked
            [unit] = blocked
            assert expected.blocked_in in unit.query, unit.query
            assert (unit.wrote, unit.has_xid) == (expected.wrote, expected.has_xid), unit
            killed = await (await watcher.execute("SELECT pg_terminate_backend(%s)", [unit.pid])).fetchone()
            assert killed == (True,)
            async with asyncio.timeout(WAIT_SECONDS):
                return await task
        finally:
            if not task.done():
                task.cancel()


# The database, read with plain SQL --------------------------------------------------------------------------------


@attrs.frozen
class State:
    wallet: tuple[Any, ...]
    holds: list[tuple[Any, ...]]
    ledger: list[tuple[Any, ...]]
    counts: list[tuple[Any, ...]]
    keys: list[tuple[Any, ...]]
    outbox: int


def state(url: str, tenant_id: str = CLINIC) -> State:
    """Everything a settle, void or hold may write, for one tenant (and the root tenant's keys)."""
    with psycopg.connect(url) as connection:

        def rows(query: str, *params: object) -> list[tuple[Any, ...]]:
            return connection.execute(query, list(params)).fetchall()

        [wallet] = rows("SELECT balance, held, status, updated_at FROM wallets WHERE tenant_id = %s", tenant_id)
        return State(
            wallet=wallet,
            holds=rows(
                "SELECT id, message_id, status, amount, settled_at, voided_at, charged, shortfall, transaction_id,"
                " settled_category FROM holds WHERE tenant_id = %s ORDER BY message_id",
                tenant_id,
            ),
            ledger=rows(
                "SELECT seq, id, kind, reference_id, amount, balance_after FROM wallet_transactions"
                " WHERE tenant_id = %s ORDER BY seq",
                tenant_id,
            ),
            counts=rows(
                "SELECT month, market, category, settled FROM message_counts WHERE tenant_id = %s ORDER BY 1, 2, 3",
                tenant_id,
            ),
            keys=rows("SELECT tenant_id, key FROM idempotency_keys ORDER BY 1, 2"),
            outbox=rows("SELECT count(*) FROM outbox_messages")[0][0],
        )


def wallet_funds(url: str, tenant_id: str = CLINIC) -> tuple[Decimal, Decimal]:
    balance, held, *_ = state(url, tenant_id).wallet
    return Decimal(balance), Decimal(held)


def holds_by_message(url: str, tenant_id: str = CLINIC) -> dict[str, tuple[Any, ...]]:
    return {row[1]: row for row in state(url, tenant_id).holds}


def this_month() -> str:
    return datetime.now(UTC).strftime("%Y-%m")


# The scene: a card in force, a funded wallet, an open hold ------------------------------------------------------


@pytest.fixture
async def client(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The app in this event loop (Litestar's test client would block the loop while a request runs)."""
    container = postgres_container(Settings(database_url=database_url, jwt=JwtSettings(secret=SECRET)))
    transport = httpx.ASGITransport(create_app(container, deliver_email=False))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://billing.test") as async_client:
            yield async_client
    finally:
        await container.engine().dispose()


async def _post(client: httpx.AsyncClient, path: str, headers: dict[str, str], body: object) -> httpx.Response:
    return await client.post(BASE + path, headers=headers, json=body)


@attrs.frozen
class Scene:
    rate_card_id: str
    hold: dict[str, Any]  # MESSAGE's hold, open


@pytest.fixture
async def scene(client: httpx.AsyncClient, database_url: str) -> Scene:
    """A default card in force, 10.00 paid into the clinic's wallet, and MESSAGE held (0.025)."""
    card = await _post(client, "/rate-cards", OPERATOR, CARD)
    assert card.status_code == 201, card.text
    created = await _post(client, "/wallet/topup-requests", CLINIC_USER, {"amount": str(FUNDED)})
    assert created.status_code == 201, created.text
    approved = await _post(client, f"/wallet/topup-requests/{created.json()['id']}/approve", OPERATOR, {})
    assert approved.status_code == 200, approved.text
    invoice_id = approved.json()["invoice_id"]
    paid = await _post(client, f"/invoices/{invoice_id}/mark-paid", OPERATOR, {"payment_reference": "bank-1"})
    assert paid.status_code == 200, paid.text
    held = await _post(
        client, f"/wallets/{CLINIC}/holds", OPERATOR, {"message_id": MESSAGE, "category": "marketing", "recipient": USA}
    )
    assert held.status_code == 201, held.text
    assert (held.json()["status"], Decimal(held.json()["amount"])) == ("held", PRICE)
    assert wallet_funds(database_url) == (FUNDED, PRICE)
    assert check_ledger(database_url, CLINIC) == FUNDED
    return Scene(card.json()["id"], held.json())


def lock_params(scene: Scene, key: str, message_id: str = MESSAGE) -> dict[str, Any]:
    return {
        "tenant_id": CLINIC,
        "message_id": message_id,
        "month": this_month(),
        "market": "North America",
        "category": "marketing",
        "key_tenant": ROOT,  # a key belongs to the caller's tenant: the operator's
        "key": key,
        "rate_card_id": scene.rate_card_id,
    }


async def read_hold(client: httpx.AsyncClient, hold_id: str) -> dict[str, Any]:
    response = await client.get(f"{BASE}/wallets/{CLINIC}/holds/{hold_id}", headers=OPERATOR)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# Settle ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("at", SETTLE_POINTS)
async def test_a_settle_killed_mid_transaction_changes_nothing_and_its_retry_settles_once(
    client: httpx.AsyncClient, database_url: str, scene: Scene, at: KillPoint
) -> None:
    key = f"settle-{uuid.uuid4()}"
    headers = keyed(OPERATOR, key)
    body = {"message_id": MESSAGE}
    before = state(database_url)

    async with held_uncommitted(database_url, at.lock, lock_params(scene, key)) as locker_pid:
        settle = _post(client, f"/wallets/{CLINIC}/holds/settle", headers, body)
        response = await kill_at(database_url, locker_pid, settle, at)

    assert_unavailable(response)
    assert state(database_url) == before  # hold still held, balance and held as they were, no charge, no count
    assert await read_hold(client, scene.hold["id"]) == scene.hold
    assert ledger_rows(database_url, CLINIC, "charge") == []
    assert check_ledger(database_url, CLINIC) == FUNDED

    retried = await _post(client, f"/wallets/{CLINIC}/holds/settle", headers, body)
    replayed = await _post(client, f"/wallets/{CLINIC}/holds/settle", headers, body)
    repeated = await _post(client, f"/wallets/{CLINIC}/holds/settle", OPERATOR, body)  # no key: a repeat

    assert retried.status_code == 200, retried.text
    settled = retried.json()
    assert (settled["id"], settled["status"], settled["charged"], settled["shortfall"]) == (
        scene.hold["id"],
        "settled",
        "0.025",
        "0.00",
    )
    assert (replayed.status_code, replayed.content, replayed.headers.get("Idempotent-Replayed")) == (
        200,
        retried.content,
        "true",
    )
    assert (repeated.status_code, repeated.json(), repeated.headers.get("Idempotent-Replayed")) == (200, settled, None)
    assert await read_hold(client, scene.hold["id"]) == settled

    assert ledger_rows(database_url, CLINIC, "charge") == [(MESSAGE, -PRICE)]
    assert check_ledger(database_url, CLINIC) == FUNDED - PRICE
    assert wallet_funds(database_url) == (FUNDED - PRICE, Decimal(0))
    after = state(database_url)
    [charge] = [row for row in after.ledger if row[2] == "charge"]
    assert str(charge[1]) == settled["transaction_id"]
    assert len(after.ledger) == len(before.ledger) + 1
    assert after.counts == [(this_month(), "North America", "marketing", 1)]  # the tier moved once
    assert after.keys == [(ROOT, key)]


# Void -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("at", VOID_POINTS)
async def test_a_void_killed_mid_transaction_changes_nothing_and_its_retry_releases_once(
    client: httpx.AsyncClient, database_url: str, scene: Scene, at: KillPoint
) -> None:
    key = f"void-{uuid.uuid4()}"
    headers = keyed(OPERATOR, key)
    body = {"message_id": MESSAGE}
    before = state(database_url)

    async with held_uncommitted(database_url, at.lock, lock_params(scene, key)) as locker_pid:
        void = _post(client, f"/wallets/{CLINIC}/holds/void", headers, body)
        response = await kill_at(database_url, locker_pid, void, at)

    assert_unavailable(response)
    assert state(database_url) == before
    assert await read_hold(client, scene.hold["id"]) == scene.hold

    retried = await _post(client, f"/wallets/{CLINIC}/holds/void", headers, body)
    replayed = await _post(client, f"/wallets/{CLINIC}/holds/void", headers, body)
    repeated = await _post(client, f"/wallets/{CLINIC}/holds/void", OPERATOR, body)

    assert retried.status_code == 200, retried.text
    voided = retried.json()
    assert (voided["id"], voided["status"], voided["charged"], voided["transaction_id"]) == (
        scene.hold["id"],
        "voided",
        None,
        None,
    )
    assert voided["voided_at"] is not None
    assert (replayed.status_code, replayed.content, replayed.headers.get("Idempotent-Replayed")) == (
        200,
        retried.content,
        "true",
    )
    assert (repeated.status_code, repeated.json()) == (200, voided)
    settle = await _post(client, f"/wallets/{CLINIC}/holds/settle", OPERATOR, body)
    assert (settle.status_code, settle.json()["code"]) == (409, "invalid_state")

    after = state(database_url)
    assert wallet_funds(database_url) == (FUNDED, Decimal(0))  # the money is available again, nothing charged
    assert after.ledger == before.ledger
    assert after.counts == before.counts == []
    assert after.keys == [(ROOT, key)]
    assert check_ledger(database_url, CLINIC) == FUNDED


# Batch hold -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("at", BATCH_POINTS)
async def test_a_batch_hold_killed_mid_transaction_holds_nothing_and_its_retry_holds_each_once(
    client: httpx.AsyncClient, database_url: str, scene: Scene, at: KillPoint
) -> None:
    key = f"batch-{uuid.uuid4()}"
    headers = keyed(OPERATOR, key)
    body = {"messages": BATCH, "expires_in_seconds": 600}
    before = state(database_url)
    assert list(holds_by_message(database_url)) == [MESSAGE]

    params = lock_params(scene, key, message_id=BATCH[-1]["message_id"])
    async with held_uncommitted(database_url, at.lock, params) as locker_pid:
        batch = _post(client, f"/wallets/{CLINIC}/holds/batch", headers, body)
        response = await kill_at(database_url, locker_pid, batch, at)

    assert_unavailable(response)
    assert state(database_url) == before  # no hold of the batch, held still MESSAGE's alone
    assert wallet_funds(database_url) == (FUNDED, PRICE)

    retried = await _post(client, f"/wallets/{CLINIC}/holds/batch", headers, body)
    replayed = await _post(client, f"/wallets/{CLINIC}/holds/batch", headers, body)
    repeated = await _post(client, f"/wallets/{CLINIC}/holds/batch", OPERATOR, body)  # every one already held

    assert retried.status_code == 201, retried.text
    placed = retried.json()
    assert [(h["message_id"], h["status"], h["amount"]) for h in placed["items"]] == [
        ("wamid.b1", "held", "0.025"),
        ("wamid.b2", "held", "0.004"),
        ("wamid.b3", "held", "0.0118"),
    ]
    assert Decimal(placed["total"]) == BATCH_TOTAL
    assert (replayed.status_code, replayed.content, replayed.headers.get("Idempotent-Replayed")) == (
        201,
        retried.content,
        "true",
    )
    assert (repeated.status_code, repeated.json()) == (200, placed)

    holds = holds_by_message(database_url)
    assert sorted(holds) == sorted([MESSAGE, "wamid.b1", "wamid.b2", "wamid.b3"])
    assert {str(holds[h["message_id"]][0]) for h in placed["items"]} == {h["id"] for h in placed["items"]}
    assert all(row[2] == "held" for row in holds.values())
    assert wallet_funds(database_url) == (FUNDED, PRICE + BATCH_TOTAL)  # each held once
    after = state(database_url)
    assert (after.ledger, after.counts) == (before.ledger, before.counts)
    assert after.keys == [(ROOT, key)]
    assert check_ledger(database_url, CLINIC) == FUNDED
