"""HTTP scenarios through a real `billing serve`: charges/s, `GET /health` at 1 and 2 workers, and `GET /wallet/me`
latency (at 1M ledger rows; at 1M ledger rows and 1M holds).

The load comes from a minimal keep-alive HTTP/1.1 client on asyncio streams, so that the client's own
cost (on the same machine) stays small next to the server's.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from benchmarks import floor
from benchmarks.inprocess import CHARGE, percentiles
from benchmarks.progress import Progress
from benchmarks.size import Size
from billing.adapters.auth.jwt import issue_token
from billing.adapters.embedded import free_port

BASE = "/api/v1/billing"


@contextmanager
def served(url: str, workers: int) -> Iterator[tuple[int, str]]:
    """`billing serve --workers N` on `url`; yields (port, JWT secret)."""
    secret = secrets.token_urlsafe(32)
    port = free_port()
    env = {**os.environ, "BILLING_DATABASE_URL": url, "BILLING_JWT_SECRET": secret}
    command = [sys.executable, "-m", "billing.entrypoints.cli", "serve", "--port", str(port), "--workers", str(workers)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(port, process)
        yield port, secret
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"billing serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("billing serve did not become ready within 60 s")


def _token(secret: str, tenant: str, permissions: list[str]) -> str:
    return issue_token(
        secret, tenant=tenant, user="bench", permissions=permissions, now=datetime.now(UTC), ttl=timedelta(hours=2)
    )


class KeepAliveClient:
    """One HTTP/1.1 connection; requests one after another on it."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        payload = b"" if body is None else json.dumps(body).encode()
        authorization = f"Authorization: Bearer {self.token}\r\n" if self.token else ""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{authorization}"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _fund(port: int, secret: str, tenant: str) -> None:
    """Top up through the API itself: request, approve, mark paid."""
    clinic = KeepAliveClient(port, _token(secret, tenant, ["Billing.View"]))
    operator = KeepAliveClient(port, _token(secret, "root", ["Billing.View", "Billing.Manage"]))
    status, body = await clinic.request("POST", f"{BASE}/wallet/topup-requests", {"amount": "1000000.00"})
    assert status == 201, body
    request_id = json.loads(body)["id"]
    status, body = await operator.request("POST", f"{BASE}/wallet/topup-requests/{request_id}/approve", {})
    assert status == 200, body
    invoice_id = json.loads(body)["invoice_id"]
    status, body = await operator.request("POST", f"{BASE}/invoices/{invoice_id}/mark-paid", {"payment_reference": "b"})
    assert status == 200, body
    await clinic.close()
    await operator.close()


async def _charges_over_http(port: int, secret: str, clients: int, total: int) -> float:
    tenant = f"http-{uuid.uuid4().hex[:8]}"
    await _fund(port, secret, tenant)
    token = _token(secret, "root", ["Billing.View", "Billing.Manage"])
    connections = [KeepAliveClient(port, token) for _ in range(clients)]
    progress = Progress(f"HTTP charges, {clients} clients", total)
    counter = iter(range(total))
    run = uuid.uuid4().hex[:6]

    async def client(connection: KeepAliveClient) -> None:
        for i in counter:
            body = {"amount": str(CHARGE), "reference_id": f"h-{run}-{i}"}
            status, answer = await connection.request("POST", f"{BASE}/wallets/{tenant}/charges", body)
            assert status == 201, answer
            progress.advance()

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in connections))
    rate = total / (time.perf_counter() - started)
    for connection in connections:
        await connection.close()
    return rate


async def _floor_charges(url: str, clients: int, total: int) -> float:
    tenant = f"floor-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO wallets (tenant_id, id, currency, balance, created_at, updated_at)"
            " VALUES (%s, %s, 'USD', 1000000, now(), now())",
            (tenant, uuid.uuid4()),
        )
    connections = [await psycopg.AsyncConnection.connect(url) for _ in range(clients)]
    progress = Progress(f"floor charges, {clients} connections", total)
    counter = iter(range(total))

    async def worker(connection: psycopg.AsyncConnection[tuple[object, ...]]) -> None:
        for i in counter:
            assert await floor.charge(connection, tenant, Decimal(CHARGE), f"f-{i}")
            progress.advance()

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    rate = total / (time.perf_counter() - started)
    for connection in connections:
        await connection.close()
    return rate


def http_charges(url: str, clients: int, workers: int, total: int) -> dict[str, float]:
    with served(url, workers) as (port, secret):
        asyncio.run(_charges_over_http(port, secret, clients, min(300, total)))  # warm-up
        ours = asyncio.run(_charges_over_http(port, secret, clients, total))
    return {"ours": ours, "floor": asyncio.run(_floor_charges(url, clients, total))}


async def _health_load(port: int, clients: int, total: int) -> tuple[float, list[float]]:
    """`total` keep-alive `GET /health` over `clients` connections: (requests/s, each request's seconds)."""
    connections = [KeepAliveClient(port, "") for _ in range(clients)]
    for connection in connections:  # connected (and accepted by some worker) before the clock starts
        assert (await connection.request("GET", "/health"))[0] == 200
    progress = Progress(f"GET /health, {clients} clients", total)
    counter = iter(range(total))
    samples: list[float] = []

    async def client(connection: KeepAliveClient) -> None:
        for _ in counter:
            started = time.perf_counter()
            status, answer = await connection.request("GET", "/health")
            samples.append(time.perf_counter() - started)
            assert status == 200, answer
            progress.advance()

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in connections))
    rate = total / (time.perf_counter() - started)
    for connection in connections:
        await connection.close()
    return rate, samples


def health(url: str, clients: int, size: Size) -> dict[str, Any]:
    """`GET /health` (no database) with 2 workers against 1: a second worker must never serve fewer requests.

    Reported as ours = 2 workers, floor = 1 worker, so the ratio is what the second worker adds (issue 16: with
    Nagle's algorithm left on, 2 workers served a quarter of what one did, each answer waiting ~40 ms)."""
    total = size.pick(20000, 2000, 200)
    figures: dict[int, tuple[float, list[float]]] = {}
    for workers in (1, 2):
        with served(url, workers) as (port, _):
            asyncio.run(_health_load(port, clients, min(1000, total)))  # warm-up
            figures[workers] = asyncio.run(_health_load(port, clients, total))
    (one, one_samples), (two, two_samples) = figures[1], figures[2]
    return {
        "ours": two,
        "floor": one,
        "ours_ms": percentiles(two_samples),
        "floor_ms": percentiles(one_samples),
    }


def _seed_ledger(url: str, tenant: str, rows: int) -> None:
    """`rows` consistent ledger rows (each +0.01, balance_after chained) by COPY, and the wallet's cache."""
    wallet_id = uuid.uuid4()
    now = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO wallets (tenant_id, id, currency, balance, created_at, updated_at)"
            " VALUES (%s, %s, 'USD', %s, %s, %s)",
            (tenant, wallet_id, Decimal(rows) / 100, now, now),
        )
        progress = Progress(f"COPY {rows} ledger rows", rows)
        columns = (
            "tenant_id, id, wallet_id, kind, amount, currency, balance_after, reference_id, description, created_at"
        )
        with conn.cursor().copy(f"COPY wallet_transactions ({columns}) FROM STDIN") as copy:
            for i in range(1, rows + 1):
                copy.write_row(
                    (
                        tenant,
                        uuid.uuid4(),
                        wallet_id,
                        "adjustment",
                        "0.01",
                        "USD",
                        Decimal(i).scaleb(-2),
                        None,
                        "seed",
                        now,
                    )
                )
                if i % 10000 == 0:
                    progress.advance(10000)
        if rows % 10000:
            progress.advance(rows % 10000)
        conn.execute("ANALYZE wallet_transactions")


async def _latencies(port: int, token: str, path: str, count: int) -> list[float]:
    client = KeepAliveClient(port, token)
    for _ in range(50):
        await client.request("GET", path)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        status, body = await client.request("GET", path)
        samples.append(time.perf_counter() - started)
        assert status == 200, body
    await client.close()
    return samples


def wallet_read_latency(url: str, size: Size) -> dict[str, Any]:
    """GET /wallet/me at 10 and at 1,000,000 ledger rows; the read must not grow with the ledger."""
    big = size.pick(1_000_000, 100_000, 1_000)
    _seed_ledger(url, "small-ledger", 10)
    _seed_ledger(url, "big-ledger", big)
    count = size.pick(3000, 500, 50)
    with served(url, 1) as (port, secret):
        small = _latencies(port, _token(secret, "small-ledger", ["Billing.View"]), f"{BASE}/wallet/me", count)
        large = _latencies(port, _token(secret, "big-ledger", ["Billing.View"]), f"{BASE}/wallet/me", count)
        at_10 = percentiles(asyncio.run(small))
        at_big = percentiles(asyncio.run(large))
    return {
        "ours": at_big["p50_ms"],
        "floor": at_10["p50_ms"],
        "ratio": at_big["p50_ms"] / at_10["p50_ms"],
        "higher_is_better": False,
        "rows": big,
        "at_10_rows": at_10,
        f"at_{big}_rows": at_big,
    }


def _seed_holds(url: str, tenant: str, count: int) -> None:
    """`count` holds of 0.01 for a seeded wallet, by one INSERT ... SELECT FROM generate_series: one a second
    before now (the newest last); 1 in 100 still held, 1 in 10 voided, the rest settled (as settling leaves them).
    The wallet's `held` is then the sum of the open ones, so `CHECK (balance >= held)` holds: the ledger seed gave
    the wallet 0.01 a row, and at most one hold in 100 stays open."""
    with psycopg.connect(url) as conn:
        conn.execute(
            """
            INSERT INTO holds (tenant_id, id, message_id, status, recipient, country, market, category, tier,
                               rate_card_id, unit_price, amount, free_reason, message_window, currency, created_at,
                               expires_at, settled_at, voided_at, charged, shortfall, transaction_id, settled_category)
            SELECT %(tenant)s, gen_random_uuid(), 'wamid.seed-' || i, state.status,
                   '…' || lpad((i %% 10000)::text, 4, '0'), 'IN', 'India', 'marketing', 1, %(card)s, 0.01, 0.01,
                   NULL, 'none', 'USD', at, at + interval '30 days',
                   CASE WHEN state.status = 'settled' THEN at + interval '1 minute' END,
                   CASE WHEN state.status = 'voided' THEN at + interval '1 minute' END,
                   CASE WHEN state.status = 'settled' THEN 0.01 END,
                   CASE WHEN state.status = 'settled' THEN 0 END,
                   CASE WHEN state.status = 'settled' THEN gen_random_uuid() END,
                   CASE WHEN state.status = 'settled' THEN 'marketing' END
            FROM generate_series(1, %(count)s) AS i,
                 LATERAL (SELECT now() - (%(count)s - i) * interval '1 second' AS at) AS created,
                 LATERAL (SELECT CASE WHEN i %% 100 = 1 THEN 'held' WHEN i %% 10 = 2 THEN 'voided'
                                      ELSE 'settled' END AS status) AS state
            """,
            {"tenant": tenant, "count": count, "card": uuid.uuid4()},
        )
        conn.execute(
            "UPDATE wallets SET held = (SELECT coalesce(sum(amount), 0) FROM holds"
            " WHERE tenant_id = %(tenant)s AND status = 'held') WHERE tenant_id = %(tenant)s",
            {"tenant": tenant},
        )
        conn.execute("ANALYZE holds")


def wallet_read_latency_with_holds(url: str, size: Size) -> dict[str, Any]:
    """GET /wallet/me with 1,000,000 ledger rows and 1,000,000 holds against 10 and 10: `held` and `available` are
    kept on the wallet's row, so the read must not grow with either table."""
    big = size.pick(1_000_000, 100_000, 1_000)
    for tenant, rows in (("small-wallet", 10), ("big-wallet", big)):
        _seed_ledger(url, tenant, rows)
        started = time.perf_counter()
        _seed_holds(url, tenant, rows)
        print(f"seeded {rows:,} holds for {tenant} in {time.perf_counter() - started:.1f} s")
    count = size.pick(3000, 500, 50)
    with served(url, 1) as (port, secret):
        small = _latencies(port, _token(secret, "small-wallet", ["Billing.View"]), f"{BASE}/wallet/me", count)
        large = _latencies(port, _token(secret, "big-wallet", ["Billing.View"]), f"{BASE}/wallet/me", count)
        at_10 = percentiles(asyncio.run(small))
        at_big = percentiles(asyncio.run(large))
    return {
        "ours": at_big["p50_ms"],
        "floor": at_10["p50_ms"],
        "ratio": at_big["p50_ms"] / at_10["p50_ms"],
        "higher_is_better": False,
        "rows": big,
        "holds": big,
        "at_10_rows_and_holds": at_10,
        f"at_{big}_rows_and_holds": at_big,
    }
