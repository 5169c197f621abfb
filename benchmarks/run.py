"""`python -m benchmarks [--database-url URL] [--quick | --size SIZE] [--only NAME ...]`: run, print a table, write
results.

Every scenario runs ours and a raw-psycopg floor side by side, on the same database and concurrency, and
reports ours / floor against its target (MISS when missed). Results go to benchmarks/results/results.json and a PNG
chart beside it. Without --database-url the run starts an embedded PostgreSQL of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import audit, holds, http, inprocess, margins, quotes, webhook
from benchmarks.database import fresh_database, server
from benchmarks.size import Size

RESULTS = Path(__file__).resolve().parent / "results"

# name -> (what it measures, unit, target ratio ours/floor (or None), runner(url, size) -> figures). "What" may name
# a count of the figures, `{rows}`: the table says the count this run used.
Scenario = tuple[str, str, float | None, Callable[[str, Size], dict[str, Any]]]


def _charges(wallets: int) -> Callable[[str, Size], dict[str, Any]]:
    return lambda url, size: asyncio.run(inprocess.charges(url, size.pick(4000, 600, 40), wallets))


SCENARIOS: dict[str, Scenario] = {
    "inprocess-charge-hot": ("in-process charges/s, 1 hot wallet, 8 tasks", "ops/s", 0.7, _charges(1)),
    "inprocess-charge-100": ("in-process charges/s, 100 wallets, 8 tasks", "ops/s", 0.7, _charges(100)),
    "mark-paid": (
        "mark-paid/s, 8 tasks",
        "ops/s",
        0.4,
        lambda url, size: asyncio.run(inprocess.mark_paid(url, size.pick(800, 150, 30))),
    ),
    # Holds (contract v2 §9): a message held then settled; campaigns' batches (the issue's absolute target for
    # those is >= 4,000 holds/s, printed and recorded beside the ratio). Hold + settle runs with a cost card in
    # force and the wallets' time zone set (issue 27: v3 §15-16), its floor costing the message too.
    "hold-settle-100": (
        "in-process hold + settle/s, 100 wallets, 8 tasks, cost card + time zone",
        "ops/s",
        0.6,
        holds.run_hold_settle,
    ),
    "hold-batch-1000": ("in-process holds/s, batches of 1,000, 1 caller", "ops/s", 0.5, holds.run_hold_batches),
}
# Targets: issue 16's for 8 clients (0.5 with 1 worker, 0.6 with 2), the earlier 0.35 for 32.
for _clients, _workers, _target in ((8, 1, 0.5), (32, 1, 0.35), (8, 2, 0.6), (32, 2, 0.35)):
    SCENARIOS[f"http-charge-{_clients}c-{_workers}w"] = (
        f"HTTP charges/s, {_clients} clients, {_workers} worker(s)",
        "ops/s",
        _target,
        lambda url, size, c=_clients, w=_workers: http.http_charges(url, c, w, size.pick(4000, 600, 40)),
    )
for _clients in (8, 32):
    SCENARIOS[f"health-{_clients}c"] = (
        f"GET /health req/s, {_clients} clients: 2 workers / 1",
        "req/s",
        1.0,  # a second worker never serves fewer requests than one
        lambda url, size, c=_clients: http.health(url, c, size),
    )
SCENARIOS["wallet-read-1m"] = (
    "GET /wallet/me p50 at {rows} rows vs at 10 rows",
    "ms",
    1.2,
    http.wallet_read_latency,
)
SCENARIOS["wallet-me-1m-holds"] = (
    "GET /wallet/me p50 at {rows} rows + {holds} holds vs at 10 + 10",
    "ms",
    1.2,
    http.wallet_read_latency_with_holds,
)
SCENARIOS["quote-1000"] = (
    "POST /quotes, 1,000 recipients: p95",
    "ms",
    None,  # the target is absolute: p95 <= 300 ms (the result says whether it is met)
    quotes.quote_latency,
)
SCENARIOS["audit-1m"] = (
    "GET /audit?tenant_id= p50 at {rows} rows over 1,000 tenants vs at 1,000 rows",
    "ms",
    1.2,
    audit.audit_read_latency,
)
SCENARIOS["audit-1m-action"] = (
    "GET /audit?tenant_id=&action= p50 at {rows} rows over 1,000 tenants vs at 1,000 rows",
    "ms",
    1.2,
    lambda url, size: audit.audit_read_latency(url, size, action=audit.ACTIONS[1]),
)
SCENARIOS["margin-1m"] = (
    "GET /reports/margin p50, {messages} messages ({margin_rows} rows) over {tenants} tenants vs 1,000 messages",
    "ms",
    1.2,
    margins.margin_report_latency,
)
SCENARIOS["webhook-100"] = (
    "webhook statuses/s, bodies of 100, 4 clients, 1 worker",
    "ops/s",
    0.5,  # as HTTP charges with 1 worker; the absolute target (>= 1,000 statuses/s) is printed beside it
    webhook.run_webhook,
)


def _count(count: int) -> str:
    """A count as a description says it: 1,000,000 is "1M", 100,000 "100k", 1,500 "1,500"."""
    if count and count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    if count and count % 1000 == 0:
        return f"{count // 1000}k"
    return f"{count:,}"


def measured(name: str, url: str, size: Size) -> dict[str, Any]:
    """Scenario `name` run on `url` (a migrated database of its own), its figures completed as the table and
    results.json give them: the ratio, `what` (the description with this run's counts), the target and whether it
    was met (`meets_target`; a scenario with an absolute target also says `meets_absolute_target`)."""
    what, _, target, runner = SCENARIOS[name]
    result = runner(url, size)
    result.setdefault("ratio", result["ours"] / result["floor"])
    result["what"] = what.format_map({key: _count(value) for key, value in result.items() if type(value) is int})
    if target is not None:
        higher = result.get("higher_is_better", True)
        result.setdefault("target", f"≥{target}" if higher else f"≤{target}")
        result.setdefault("meets_target", result["ratio"] >= target if higher else result["ratio"] <= target)
    return result


def missed(results: dict[str, dict[str, Any]]) -> list[str]:
    """The scenarios that missed a target: their ratio's, or an absolute one."""
    return [
        name
        for name, result in results.items()
        if False in (result.get("meets_target"), result.get("meets_absolute_target"))
    ]


def _verdict(met: bool | None) -> str:
    return "-" if met is None else ("ok" if met else "MISS")


def _table(results: dict[str, dict[str, Any]]) -> str:
    width = max(len("scenario"), *(len(result["what"]) for result in results.values()))
    lines = [f"{'scenario':<{width}} {'ours':>12} {'floor':>12} {'ratio':>7} {'target':>12} {'met':>4}"]
    for name, result in results.items():
        unit = SCENARIOS[name][1][-2:]
        lines.append(
            f"{result['what']:<{width}} {result['ours']:>10.1f}{unit:>2} {result['floor']:>10.1f}{unit:>2}"
            f" {result['ratio']:>7.2f} {result.get('target', '-'):>12} {_verdict(result.get('meets_target')):>4}"
        )
        if "ours_ms" in result:  # a latency scenario: its p50 too
            ours_p50, floor_p50 = result["ours_ms"]["p50_ms"], result["floor_ms"]["p50_ms"]
            lines.append(f"{'  p50':<{width}} {ours_p50:>10.1f}ms {floor_p50:>10.1f}ms")
        if "absolute_target" in result:
            label = f"  ours {result['absolute_target']} (absolute target)"
            verdict = _verdict(result["meets_absolute_target"])
            lines.append(f"{label:<{width}} {'':>12} {'':>12} {'':>7} {'':>12} {verdict:>4}")
    misses = missed(results)
    lines.append(f"\nMISS: {len(misses)} of {len(results)} ({', '.join(misses)})" if misses else "\nevery target met")
    return "\n".join(lines)


def _chart(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    misses = missed(results)
    figure, axis = plt.subplots(figsize=(10, 0.6 * len(names) + 1.5))
    axis.barh(
        [results[n]["what"] for n in names],
        [results[n]["ratio"] for n in names],
        color=["#f59e0b" if n in misses else "#3b82f6" for n in names],
    )
    for index, name in enumerate(names):
        target = SCENARIOS[name][2]
        if target:
            axis.plot([target, target], [index - 0.4, index + 0.4], color="#dc2626")
    axis.axvline(1.0, color="#6b7280", linestyle="--")
    axis.set_xlabel("ours / raw-psycopg floor (red: target; orange bar: a target missed)")
    axis.invert_yaxis()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BILLING_BENCH_DATABASE_URL"),
        help="a server where the user may CREATE DATABASE (default BILLING_BENCH_DATABASE_URL); without one, an"
        " embedded PostgreSQL in a temporary directory",
    )
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument(
        "--quick", dest="size", action="store_const", const=Size.QUICK, help="fewer operations: a smoke run"
    )
    sizes.add_argument(
        "--size",
        type=Size,
        choices=list(Size),
        help="full (the default), quick (as --quick) or tiny (the test suite's: every scenario in seconds, to show"
        " that each still runs; its figures mean nothing)",
    )
    parser.set_defaults(size=Size.FULL)
    parser.add_argument(
        "--only",
        nargs="*",
        choices=sorted(SCENARIOS),
        metavar="NAME",
        help=f"run only these scenarios: {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="where results.json and results.png go")
    args = parser.parse_args(argv)
    try:
        import matplotlib  # noqa: F401  (checked now, not after minutes of measuring)
    except ImportError:
        parser.error("the chart needs matplotlib: pip install -e '.[bench]'")

    results: dict[str, dict[str, Any]] = {}
    with server(args.database_url) as server_url:
        for name in args.only or list(SCENARIOS):
            with fresh_database(server_url) as url:
                results[name] = measured(name, url, args.size)

    database = "given URL" if args.database_url else "embedded PostgreSQL"
    print(f"\n{args.size} run on the {database}")
    print(_table(results))
    args.output.mkdir(parents=True, exist_ok=True)
    report = {
        "when": datetime.now(UTC).isoformat(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "database": database,
        "size": str(args.size),
        "quick": args.size is Size.QUICK,
        "missed": missed(results),
        "results": results,
    }
    (args.output / "results.json").write_text(json.dumps(report, indent=2))
    _chart(results, args.output / "results.png")
    print(f"\nwrote {args.output / 'results.json'} and {args.output / 'results.png'}")
    return 0
