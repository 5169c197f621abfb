"""The audit trail's first page (contract v3 §20) must not grow with the trail: `GET /audit?tenant_id=…` (and with
`&action=…`) at 1,000,000 rows over 1,000 tenants against the same tenant's page at 1,000 rows in all (the tenant
read has its 1,000 rows in both). Both trails are served at once and read in turns: at 2-3 ms a request, reading
one size and then the other measured the machine's mood, not the trail (ratios 0.68-1.89 with the same code)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg

from benchmarks.database import fresh_database
from benchmarks.http import BASE, KeepAliveClient, _token, served
from benchmarks.inprocess import percentiles
from benchmarks.size import Size

TENANT = "t-0042"
ACTIONS = ("approve_topup_request", "mark_invoice_paid", "set_wallet_settings", "freeze_wallet", "create_adjustment")


def _seed(url: str, rows: int, tenants: int, only: str | None = None) -> None:
    """`rows` audit rows, one a millisecond, spread over `tenants` other tenants than the one read (t-0000 …,
    t-0042 skipped; all `only`'s when given) and five actions, by one INSERT … SELECT FROM generate_series."""
    with psycopg.connect(url) as conn:
        conn.execute(
            """
            INSERT INTO audit_events (tenant_id, id, at, actor_kind, actor_sub, actor_tenant, action, target_type,
                                      target_id, request_id, ip, details)
            SELECT coalesce(%(only)s, 't-' || lpad((i %% %(tenants)s + (i %% %(tenants)s >= 42)::int)::text, 4, '0')),
                   gen_random_uuid(),
                   now() - (%(rows)s - i) * interval '1 millisecond', 'user', 'operator-' || (i %% 7), 'root',
                   (%(actions)s::text[])[1 + i %% 5], 'topup_request', gen_random_uuid()::text,
                   'bench-' || i, '127.0.0.1', '{"note": "seed"}'::jsonb
            FROM generate_series(1, %(rows)s) AS i
            """,
            {"rows": rows, "tenants": tenants, "actions": list(ACTIONS), "only": only},
        )
    # As autovacuum leaves a table in service (its visibility map set, its statistics current), before reading.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE audit_events")
        conn.execute("CHECKPOINT")  # the seed's writes flushed now, not while the reads are timed


async def _interleaved(servers: list[tuple[int, str]], path: str, count: int, block: int) -> list[list[float]]:
    """`count` timed reads of `path` from each server, in alternating blocks of `block` (after 50 untimed each), so
    that whatever else the machine does meanwhile slows both sides alike."""
    clients = [KeepAliveClient(port, _token(secret, "root", ["Billing.View"])) for port, secret in servers]
    samples: list[list[float]] = [[] for _ in clients]
    for client in clients:
        for _ in range(50):
            await client.request("GET", path)
    while len(samples[-1]) < count:
        for client, taken in zip(clients, samples, strict=True):
            for _ in range(min(block, count - len(taken))):
                started = time.perf_counter()
                status, body = await client.request("GET", path)
                taken.append(time.perf_counter() - started)
                assert status == 200, body
    for client in clients:
        await client.close()
    return samples


def audit_read_latency(url: str, size: Size, *, action: str | None = None) -> dict[str, Any]:
    """The small trail in the scenario's database, the big one in a second database of the same server, both served
    at once (one worker each) and read in alternating blocks: the ratio compares the trail's sizes, not two moments
    of a busy machine."""
    big = size.pick(1_000_000, 100_000, 2_000)
    count = size.pick(4000, 600, 40)
    path = f"{BASE}/audit?tenant_id={TENANT}" + ("" if action is None else f"&action={action}")
    _seed(url, 1_000, 1, only=TENANT)  # the tenant read has all 1,000 rows (200 of each action) in both …
    with fresh_database(url) as big_url:
        _seed(big_url, 1_000, 1, only=TENANT)
        _seed(big_url, big - 1_000, 999)  # … and in the big trail the other 999 tenants have the rest
        with served(url, 1) as small_server, served(big_url, 1) as big_server:
            small_samples, big_samples = asyncio.run(_interleaved([small_server, big_server], path, count, 50))
    small, at_big = percentiles(small_samples), percentiles(big_samples)
    return {
        "ours": at_big["p50_ms"],
        "floor": small["p50_ms"],
        "ratio": at_big["p50_ms"] / small["p50_ms"],
        "higher_is_better": False,
        "rows": big,
        "at_1000_rows": small,
        f"at_{big}_rows": at_big,
    }
