"""`python -m benchmarks [--database-url URL] [--quick] [--only NAME ...]`: run, print a table, write results.

Every scenario runs ours and a raw-psycopg floor side by side, on the same database and concurrency, and
reports ours / floor. Results go to benchmarks/results/results.json and a PNG chart beside it.
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

from benchmarks import holds, http, inprocess, quotes, webhook
from benchmarks.database import fresh_database, server

RESULTS = Path(__file__).resolve().parent / "results"

# name -> (what it measures, unit, target ratio ours/floor (or None), runner(url, quick) -> figures)
Scenario = tuple[str, str, float | None, Callable[[str, bool], dict[str, Any]]]


def _charges(wallets: int) -> Callable[[str, bool], dict[str, Any]]:
    return lambda url, quick: asyncio.run(inprocess.charges(url, 600 if quick else 4000, wallets))


SCENARIOS: dict[str, Scenario] = {
    "inprocess-charge-hot": ("in-process charges/s, 1 hot wallet, 8 tasks", "ops/s", 0.7, _charges(1)),
    "inprocess-charge-100": ("in-process charges/s, 100 wallets, 8 tasks", "ops/s", 0.7, _charges(100)),
    "mark-paid": (
        "mark-paid/s, 8 tasks",
        "ops/s",
        0.4,
        lambda url, quick: asyncio.run(inprocess.mark_paid(url, 150 if quick else 800)),
    ),
    # Holds (contract v2 §9): a message held then settled; campaigns' batches (the issue's absolute target for
    # those is >= 4,000 holds/s, printed and recorded beside the ratio).
    "hold-settle-100": ("in-process hold + settle/s, 100 wallets, 8 tasks", "ops/s", 0.6, holds.run_hold_settle),
    "hold-batch-1000": ("in-process holds/s, batches of 1,000, 1 caller", "ops/s", 0.5, holds.run_hold_batches),
}
# Targets: issue 16's for 8 clients (0.5 with 1 worker, 0.6 with 2), the earlier 0.35 for 32.
for _clients, _workers, _target in ((8, 1, 0.5), (32, 1, 0.35), (8, 2, 0.6), (32, 2, 0.35)):
    SCENARIOS[f"http-charge-{_clients}c-{_workers}w"] = (
        f"HTTP charges/s, {_clients} clients, {_workers} worker(s)",
        "ops/s",
        _target,
        lambda url, quick, c=_clients, w=_workers: http.http_charges(url, c, w, 600 if quick else 4000),
    )
for _clients in (8, 32):
    SCENARIOS[f"health-{_clients}c"] = (
        f"GET /health req/s, {_clients} clients: 2 workers / 1",
        "req/s",
        1.0,  # a second worker never serves fewer requests than one
        lambda url, quick, c=_clients: http.health(url, c, quick),
    )
SCENARIOS["wallet-read-1m"] = (
    "GET /wallet/me p50 at 1M rows vs at 10 rows",
    "ms",
    1.2,
    http.wallet_read_latency,
)
SCENARIOS["wallet-me-1m-holds"] = (
    "GET /wallet/me p50 at 1M rows + 1M holds vs at 10 + 10",
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
SCENARIOS["webhook-100"] = (
    "webhook statuses/s, bodies of 100, 4 clients, 1 worker",
    "ops/s",
    0.5,  # as HTTP charges with 1 worker; the absolute target (>= 1,000 statuses/s) is printed beside it
    webhook.run_webhook,
)


def _table(results: dict[str, dict[str, Any]]) -> str:
    lines = [f"{'scenario':<52} {'ours':>12} {'floor':>12} {'ratio':>7} {'target':>8}"]
    for name, result in results.items():
        what, unit, target, _ = SCENARIOS[name]
        ours, floor = result["ours"], result["floor"]
        ratio = result.get("ratio", ours / floor if floor else float("nan"))
        target_text = result.get("target") or (
            f"≥{target}" if target and result.get("higher_is_better", True) else (f"≤{target}" if target else "-")
        )
        lines.append(
            f"{what:<52} {ours:>10.1f}{unit[-2:]:>2} {floor:>10.1f}{unit[-2:]:>2} {ratio:>7.2f} {target_text:>8}"
        )
        if "ours_ms" in result:  # a latency scenario: its p50 too
            ours_p50, floor_p50 = result["ours_ms"]["p50_ms"], result["floor_ms"]["p50_ms"]
            lines.append(f"{'  p50':<52} {ours_p50:>10.1f}ms {floor_p50:>10.1f}ms")
    return "\n".join(lines)


def _chart(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    ratios = [results[n].get("ratio", results[n]["ours"] / results[n]["floor"]) for n in names]
    figure, axis = plt.subplots(figsize=(10, 0.6 * len(names) + 1.5))
    axis.barh([SCENARIOS[n][0] for n in names], ratios, color="#3b82f6")
    for index, name in enumerate(names):
        target = SCENARIOS[name][2]
        if target:
            axis.plot([target, target], [index - 0.4, index + 0.4], color="#dc2626")
    axis.axvline(1.0, color="#6b7280", linestyle="--")
    axis.set_xlabel("ours / raw-psycopg floor (red: target)")
    axis.invert_yaxis()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BILLING_BENCH_DATABASE_URL"))
    parser.add_argument("--quick", action="store_true", help="fewer operations: a smoke run")
    parser.add_argument("--only", nargs="*", choices=sorted(SCENARIOS), help="run only these scenarios")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    try:
        import matplotlib  # noqa: F401  (checked now, not after minutes of measuring)
    except ImportError:
        parser.error("the chart needs matplotlib: pip install -e '.[bench]'")

    results: dict[str, dict[str, Any]] = {}
    with server(args.database_url) as server_url:
        for name in args.only or list(SCENARIOS):
            with fresh_database(server_url) as url:
                result = SCENARIOS[name][3](url, args.quick)
            result.setdefault("ratio", result["ours"] / result["floor"])
            results[name] = result

    print()
    print(_table(results))
    args.output.mkdir(parents=True, exist_ok=True)
    report = {
        "when": datetime.now(UTC).isoformat(),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
        "database": "given URL" if args.database_url else "embedded PostgreSQL",
        "quick": args.quick,
        "results": results,
    }
    (args.output / "results.json").write_text(json.dumps(report, indent=2))
    _chart(results, args.output / "results.png")
    print(f"\nwrote {args.output / 'results.json'} and {args.output / 'results.png'}")
    return 0
