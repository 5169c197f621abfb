"""`margin-1m` (contract v3 §15): root's margin report, `GET /reports/margin?group_by=tenant` for the default month,
must not grow with the messages it covers: a month of 1,000,000 settled messages against the same report over 1,000.

The report reads the aggregate `message_margins` (one row per tenant, UTC day of message time, price market and
category), never the messages, so each database is seeded with aggregate rows only, by one INSERT … SELECT FROM
generate_series: the big month spreads 1,000,000 messages over 1,000 tenants, every day of the current UTC month,
2 markets and 2 categories (112,000-124,000 rows, 8-9 messages a row); the small one has 1,000 messages, one row per
tenant (the same 1,000 tenants, so both answers have the same 1,000 rows and only the aggregate differs). No
`holds` or ledger rows are seeded: the report never reads them, and each answer's total is checked against the
messages seeded (were the report reading the messages, both totals would be 0). Both databases are served at once
and read in alternating blocks, as `audit.py` does: at a few milliseconds a request, reading one size after the
other measures the machine's mood.
"""

from __future__ import annotations

import asyncio
import calendar
import json
import time
from datetime import UTC, datetime
from typing import Any

import psycopg

from benchmarks.database import fresh_database
from benchmarks.http import BASE, KeepAliveClient, _token, served
from benchmarks.inprocess import percentiles
from benchmarks.size import Size

PATH = f"{BASE}/reports/margin?group_by=tenant"  # the default: the whole current UTC month
SMALL = 1_000
MARKETS = ("India", "North America")
CATEGORIES = ("marketing", "utility")


def _seed(url: str, messages: int, rows: int, tenants: int) -> None:
    """`messages` messages of the current UTC month as `rows` aggregate rows, by one INSERT … SELECT: row i is
    tenant i mod `tenants`, then the month's days, then the markets and categories (so every tenant has rows);
    `messages` shared out (the first `messages mod rows` rows one more), a tenth of them uncosted."""
    today = datetime.now(UTC).date()
    days = calendar.monthrange(today.year, today.month)[1]
    assert tenants <= rows <= tenants * days * len(MARKETS) * len(CATEGORIES)
    assert rows <= messages
    with psycopg.connect(url) as conn:
        conn.execute(
            """
            INSERT INTO message_margins (tenant_id, day, market, category, messages, billed, cost, uncosted,
                                         uncosted_billed)
            SELECT tenant, day, market, category, n, n * 0.0107, (n - n / 10) * 0.0086, n / 10, n / 10 * 0.0107
            FROM (
                SELECT 't-' || lpad(((i - 1) %% %(tenants)s)::text, 4, '0') AS tenant,
                       %(first)s::date + ((i - 1) / %(tenants)s %% %(days)s)::int AS day,
                       (%(markets)s::text[])[1 + (i - 1) / (%(tenants)s * %(days)s) %% 2] AS market,
                       (%(categories)s::text[])[1 + (i - 1) / (%(tenants)s * %(days)s * 2) %% 2] AS category,
                       %(per_row)s + (i <= %(rest)s)::int AS n
                FROM generate_series(1, %(rows)s) AS i
            ) AS seeded
            """,
            {
                "tenants": tenants,
                "days": days,
                "first": today.replace(day=1),
                "markets": list(MARKETS),
                "categories": list(CATEGORIES),
                "per_row": messages // rows,
                "rest": messages % rows,
                "rows": rows,
            },
        )
    # As autovacuum leaves a table in service (its visibility map set, its statistics current), before reading.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE message_margins")
        conn.execute("CHECKPOINT")  # the seed's writes flushed now, not while the reads are timed


async def _check_totals(servers: list[tuple[int, str]], expected: list[int], tenants: int) -> None:
    """Each server's report counts the messages seeded, over every tenant: it reads the aggregate."""
    for (port, secret), messages in zip(servers, expected, strict=True):
        client = KeepAliveClient(port, _token(secret, "root", ["Billing.View"]))
        status, body = await client.request("GET", PATH)
        await client.close()
        assert status == 200, body
        report = json.loads(body)
        assert (report["total"]["messages"], len(report["rows"])) == (messages, tenants), report["total"]


async def _interleaved(servers: list[tuple[int, str]], count: int, block: int) -> list[list[float]]:
    """`count` timed reads of the report from each server in alternating blocks of `block`, as `audit.py` reads, but
    each block on a connection of its own opened by one untimed read: a block of the big month can outlast the
    server's keep-alive timeout (5 s), which would close the other side's idle connection."""
    samples: list[list[float]] = [[] for _ in servers]
    while len(samples[-1]) < count:
        for (port, secret), taken in zip(servers, samples, strict=True):
            client = KeepAliveClient(port, _token(secret, "root", ["Billing.View"]))
            for timed in [False] + [True] * min(block, count - len(taken)):
                started = time.perf_counter()
                status, body = await client.request("GET", PATH)
                if timed:
                    taken.append(time.perf_counter() - started)
                assert status == 200, body
            await client.close()
    return samples


def margin_report_latency(url: str, size: Size) -> dict[str, Any]:
    """The small month in the scenario's database, the big one in a second database of the same server, both
    served at once (one worker each) and read in alternating blocks of 50."""
    big = size.pick(1_000_000, 100_000, 2_000)
    tenants = size.pick(1_000, 1_000, 20)
    today = datetime.now(UTC).date()
    most = tenants * calendar.monthrange(today.year, today.month)[1] * len(MARKETS) * len(CATEGORIES)
    big_rows = min(most, big // 8)  # 1M: every key of the month; fewer messages: fewer keys, 8 messages a row
    count = size.pick(1000, 300, 40)  # the big month's report takes tens of milliseconds: fewer reads than audit's
    _seed(url, SMALL, tenants, tenants)
    with fresh_database(url) as big_url:
        _seed(big_url, big, big_rows, tenants)
        with served(url, 1) as small_server, served(big_url, 1) as big_server:
            servers = [small_server, big_server]
            asyncio.run(_check_totals(servers, [SMALL, big], tenants))
            small_samples, big_samples = asyncio.run(_interleaved(servers, count, 50))
    small, at_big = percentiles(small_samples), percentiles(big_samples)
    return {
        "ours": at_big["p50_ms"],
        "floor": small["p50_ms"],
        "ratio": at_big["p50_ms"] / small["p50_ms"],
        "higher_is_better": False,
        "messages": big,
        "margin_rows": big_rows,
        "tenants": tenants,
        f"at_{SMALL}_messages": small,
        f"at_{big}_messages": at_big,
    }
