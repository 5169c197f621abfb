"""The audit trail's first page (contract v3 §20) must not grow with the trail: `GET /audit?tenant_id=…` (and with
`&action=…`) at 1,000,000 rows over 1,000 tenants against the same tenant's page at 1,000 rows in all (the tenant
read has its 1,000 rows in both)."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg

from benchmarks.http import BASE, _latencies, _token, served
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


def _read(url: str, path: str, count: int) -> dict[str, Any]:
    with served(url, 1) as (port, secret):
        token = _token(secret, "root", ["Billing.View"])
        return percentiles(asyncio.run(_latencies(port, token, path, count)))


def audit_read_latency(url: str, size: Size, *, action: str | None = None) -> dict[str, Any]:
    big = size.pick(1_000_000, 100_000, 2_000)
    count = size.pick(2000, 400, 40)
    path = f"{BASE}/audit?tenant_id={TENANT}" + ("" if action is None else f"&action={action}")
    # The small trail first, read, then grown to the big one in the same database: the same tenant and query.
    _seed(url, 1_000, 1, only=TENANT)  # the tenant read has all 1,000 rows (200 of each action) …
    small = _read(url, path, count)
    _seed(url, big - 1_000, 999)  # … and keeps them: the other 999 tenants have the rest
    at_big = _read(url, path, count)
    return {
        "ours": at_big["p50_ms"],
        "floor": small["p50_ms"],
        "ratio": at_big["p50_ms"] / small["p50_ms"],
        "higher_is_better": False,
        "rows": big,
        "at_1000_rows": small,
        f"at_{big}_rows": at_big,
    }
