"""A unit of work whose database connection is killed mid-transaction (`pg_terminate_backend`).

The kill is deterministic: the test holds a lock the unit needs at its ledger posting, so the unit stops there:
a charge waits for the clinic's wallet row; a mark-paid (which locks the wallet first, the lock order) waits on
the unique index of its credit's reference, held by an uncommitted credit of the same request, after it has
written the invoice, the request and the wallet in its transaction. The test finds that backend by
`pg_blocking_pids` and terminates it. The effect is all or
nothing, the client gets a 503 problem (never a 500 trace), and a retry with the same Idempotency-Key
completes exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import psycopg
import pytest

from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.ports import DatabaseUnavailableError
from billing.config import JwtSettings, Settings
from billing.container import postgres_container
from billing.entrypoints.http.app import create_app

from .support import BASE, CLINIC, CLINIC_USER, OPERATOR, SECRET, assert_unavailable, check_ledger, keyed, ledger_rows

pytestmark = pytest.mark.postgres

T = TypeVar("T")
WAIT_SECONDS = 20.0


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


@asynccontextmanager
async def wallet_locked(url: str, tenant_id: str) -> AsyncIterator[int]:
    """Hold the tenant's wallet row locked (as a concurrent posting would) until the block ends;
    yields the locking backend's pid."""
    async with await psycopg.AsyncConnection.connect(url) as locker:
        found = await locker.execute("SELECT 1 FROM wallets WHERE tenant_id = %s FOR UPDATE", [tenant_id])
        assert await found.fetchone() is not None, f"{tenant_id} has no wallet to lock"
        try:
            yield locker.info.backend_pid
        finally:
            await locker.rollback()


@asynccontextmanager
async def credit_pending(url: str, tenant_id: str, request_id: str) -> AsyncIterator[int]:
    """Hold an uncommitted credit of the top-up request (as a concurrent payer's would be) until the block ends;
    yields the locking backend's pid."""
    async with await psycopg.AsyncConnection.connect(url) as locker:
        inserted = await locker.execute(
            "INSERT INTO wallet_transactions (tenant_id, id, wallet_id, kind, amount, currency, balance_after,"
            " reference_id, created_at)"
            " SELECT tenant_id, gen_random_uuid(), id, 'topup', 0.01, currency, balance + 0.01, %s, now()"
            " FROM wallets WHERE tenant_id = %s RETURNING 1",
            [request_id, tenant_id],
        )
        assert await inserted.fetchone() is not None, f"{tenant_id} has no wallet to credit"
        try:
            yield locker.info.backend_pid
        finally:
            await locker.rollback()


async def kill_the_unit_blocked_by(
    url: str, locker_pid: int, work: Awaitable[T], *, has_updated: frozenset[str] = frozenset()
) -> T:
    """Start `work`, wait until its backend waits for `locker_pid`'s lock, terminate that backend,
    and return what `work` answers (or raise what it raises).

    `has_updated`: tables the unit must already have written in its transaction (it holds their
    RowExclusiveLock), so the kill really lands between its writes."""
    task = asyncio.ensure_future(work)
    # Autocommit: inside a transaction, pg_stat_activity would be one snapshot, never updated.
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as watcher:
        try:
            async with asyncio.timeout(WAIT_SECONDS):
                while not (
                    blocked := await (
                        await watcher.execute(
                            "SELECT a.pid, array_agg(l.relation::regclass::text) FROM pg_stat_activity a"
                            " JOIN pg_locks l ON l.pid = a.pid AND l.mode = 'RowExclusiveLock' AND l.granted"
                            " WHERE %s = ANY(pg_blocking_pids(a.pid)) GROUP BY a.pid",
                            [locker_pid],
                        )
                    ).fetchall()
                ):
                    assert not task.done(), f"the unit finished without waiting on the lock: {task.result()!r}"
                    await asyncio.sleep(0.01)
            assert len(blocked) == 1, blocked
            assert has_updated <= set(blocked[0][1]), blocked
            killed = await (await watcher.execute("SELECT pg_terminate_backend(%s)", [blocked[0][0]])).fetchone()
            assert killed == (True,)
            async with asyncio.timeout(WAIT_SECONDS):
                return await task
        finally:
            if not task.done():
                task.cancel()


async def _post(client: httpx.AsyncClient, path: str, headers: dict[str, str], body: object) -> httpx.Response:
    return await client.post(BASE + path, headers=headers, json=body)


async def _issued_topup(client: httpx.AsyncClient, amount: str) -> dict[str, Any]:
    created = await _post(client, "/wallet/topup-requests", CLINIC_USER, {"amount": amount})
    assert created.status_code == 201, created.text
    approved = await _post(client, f"/wallet/topup-requests/{created.json()['id']}/approve", OPERATOR, {})
    assert approved.status_code == 200, approved.text
    body: dict[str, Any] = approved.json()
    return body


async def _open_wallet(client: httpx.AsyncClient) -> None:
    assert (await client.get(BASE + "/wallet/me", headers=CLINIC_USER)).status_code == 200


def _stored_keys(url: str, key: str) -> int:
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT count(*) FROM idempotency_keys WHERE key = %s", [key]).fetchone()
    assert row is not None
    return int(row[0])


async def test_a_mark_paid_killed_mid_transaction_is_a_503_that_changed_nothing_and_a_retry_credits_once(
    client: httpx.AsyncClient, database_url: str
) -> None:
    await _open_wallet(client)
    request = await _issued_topup(client, "250.00")
    invoice_id, request_id = request["invoice_id"], request["id"]
    headers = keyed(OPERATOR, "pay-once")
    pay = _post(client, f"/invoices/{invoice_id}/mark-paid", headers, {"payment_reference": "bank-1"})

    async with credit_pending(database_url, CLINIC, request_id) as locker_pid:
        response = await kill_the_unit_blocked_by(
            database_url, locker_pid, pay, has_updated=frozenset({"invoices", "topup_requests", "wallets"})
        )

    assert_unavailable(response)
    invoice = (await client.get(f"{BASE}/invoices/{invoice_id}", headers=OPERATOR)).json()
    reloaded = (await client.get(f"{BASE}/wallet/topup-requests/{request_id}", headers=OPERATOR)).json()
    assert (invoice["status"], invoice["paid_at"], invoice["payment_reference"]) == ("issued", None, None)
    assert (reloaded["status"], reloaded["completed_at"]) == ("invoiced", None)
    assert ledger_rows(database_url, CLINIC, "topup") == []
    assert check_ledger(database_url, CLINIC) == 0
    assert _stored_keys(database_url, "pay-once") == 0

    retried = await _post(client, f"/invoices/{invoice_id}/mark-paid", headers, {"payment_reference": "bank-1"})
    replayed = await _post(client, f"/invoices/{invoice_id}/mark-paid", headers, {"payment_reference": "bank-1"})

    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "paid"
    assert (replayed.status_code, replayed.content) == (200, retried.content)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert ledger_rows(database_url, CLINIC, "topup") == [(request_id, Decimal("250.00"))]
    assert check_ledger(database_url, CLINIC) == Decimal("250.00")
    completed = (await client.get(f"{BASE}/wallet/topup-requests/{request_id}", headers=OPERATOR)).json()
    assert completed["status"] == "completed"


async def test_a_charge_killed_mid_transaction_is_a_503_that_debited_nothing_and_a_retry_debits_once(
    client: httpx.AsyncClient, database_url: str
) -> None:
    funded = await _issued_topup(client, "100.00")
    paid = await _post(client, f"/invoices/{funded['invoice_id']}/mark-paid", OPERATOR, {"payment_reference": "b"})
    assert paid.status_code == 200, paid.text
    headers = keyed(OPERATOR, "charge-wamid-1")
    body = {"amount": "0.05", "reference_id": "wamid.1", "description": "WhatsApp message"}
    charge = _post(client, f"/wallets/{CLINIC}/charges", headers, body)

    async with wallet_locked(database_url, CLINIC) as locker_pid:
        response = await kill_the_unit_blocked_by(database_url, locker_pid, charge)

    assert_unavailable(response)
    assert ledger_rows(database_url, CLINIC, "charge") == []
    assert check_ledger(database_url, CLINIC) == Decimal("100.00")
    assert _stored_keys(database_url, "charge-wamid-1") == 0

    retried = await _post(client, f"/wallets/{CLINIC}/charges", headers, body)
    replayed = await _post(client, f"/wallets/{CLINIC}/charges", headers, body)

    assert retried.status_code == 201, retried.text
    assert (replayed.status_code, replayed.content) == (201, retried.content)
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert ledger_rows(database_url, CLINIC, "charge") == [("wamid.1", Decimal("-0.05"))]
    assert check_ledger(database_url, CLINIC) == Decimal("99.95")


async def test_an_in_process_charge_whose_connection_is_killed_raises_database_unavailable(
    client: httpx.AsyncClient, database_url: str
) -> None:
    funded = await _issued_topup(client, "10.00")
    paid = await _post(client, f"/invoices/{funded['invoice_id']}/mark-paid", OPERATOR, {"payment_reference": "b"})
    assert paid.status_code == 200, paid.text
    settings = Settings(database_url=database_url, jwt=JwtSettings(secret=SECRET))
    container = postgres_container(settings)
    messaging = container.service().acting_as(Caller("module:messaging", "root", {VIEW, MANAGE}))

    try:
        async with wallet_locked(database_url, CLINIC) as locker_pid:
            with pytest.raises(DatabaseUnavailableError):
                await kill_the_unit_blocked_by(database_url, locker_pid, messaging.charge(CLINIC, "1.00", "wamid.7"))

        assert ledger_rows(database_url, CLINIC, "charge") == []
        again = await messaging.charge(CLINIC, "1.00", "wamid.7")
        repeat = await messaging.charge(CLINIC, "1.00", "wamid.7")
    finally:
        await container.engine().dispose()

    assert (again.created, repeat.created) == (True, False)
    assert repeat.entry.id == again.entry.id
    assert ledger_rows(database_url, CLINIC, "charge") == [("wamid.7", Decimal("-1.00"))]
    assert check_ledger(database_url, CLINIC) == Decimal("9.00")
