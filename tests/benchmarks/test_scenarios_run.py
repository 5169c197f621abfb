"""Every scenario of `python -m benchmarks` runs at the tiny size, so that none can rot unnoticed again (issue 24:
`mark-paid` paid every invoice with one payment reference, refused since references are unique per tenant, and
nothing ran it).

The test walks `benchmarks.run.SCENARIOS` itself: a scenario added there is covered here without a line more. Each
runs on a fresh migrated database of its own, as `python -m benchmarks` gives it one, and must come back with what
the table and results.json print: positive ours, floor and ratio, its description with this run's counts, and its
target, met or missed. The tiny size's figures say nothing of speed; the quick and full runs do.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from benchmarks.run import SCENARIOS, _count, _table, measured, missed
from benchmarks.size import Size


@pytest.mark.postgres
@pytest.mark.many_connections  # the 32-client scenarios open tens of connections
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_runs_and_reports_sane_figures(name: str, database_url: str) -> None:
    result = measured(name, database_url, Size.TINY)

    for figure in ("ours", "floor", "ratio"):
        assert math.isfinite(result[figure]), (figure, result)
        assert result[figure] > 0, (figure, result)
    for latency in ("ours_ms", "floor_ms"):
        if latency in result:
            assert result[latency]["p50_ms"] > 0, result
    template = SCENARIOS[name][0]
    assert "{" not in result["what"], result["what"]
    for count in ("rows", "holds"):
        if f"{{{count}}}" in template:
            assert f"{_count(result[count])} {count}" in result["what"], (count, result)
    assert isinstance(result["target"], str), result  # every scenario has one, on its ratio or absolute
    assert isinstance(result["meets_target"], bool), result
    if "absolute_target" in result:
        assert isinstance(result["meets_absolute_target"], bool), result
    json.dumps(result)  # results.json takes it as it is

    row = _table({name: result}).splitlines()[1]
    assert row.startswith(result["what"])
    assert row.split()[-1] == ("ok" if result["meets_target"] else "MISS")


def test_the_table_says_the_rows_measured_and_marks_a_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    def read_at(rows: int, p50_ms: float) -> Any:
        return lambda url, size: {"ours": p50_ms, "floor": 1.0, "higher_is_better": False, "rows": rows}

    what, unit, target, _ = SCENARIOS["wallet-read-1m"]
    assert target == 1.2
    monkeypatch.setitem(SCENARIOS, "wallet-read-1m", (what, unit, target, read_at(100_000, 1.5)))
    slow = measured("wallet-read-1m", "unused", Size.QUICK)
    monkeypatch.setitem(SCENARIOS, "wallet-read-1m", (what, unit, target, read_at(1_000_000, 1.1)))
    fast = measured("wallet-read-1m", "unused", Size.FULL)

    assert (slow["what"], slow["meets_target"]) == ("GET /wallet/me p50 at 100k rows vs at 10 rows", False)
    assert (fast["what"], fast["meets_target"]) == ("GET /wallet/me p50 at 1M rows vs at 10 rows", True)
    assert missed({"wallet-read-1m": slow}) == ["wallet-read-1m"]
    table = _table({"wallet-read-1m": slow}).splitlines()
    assert table[1].startswith("GET /wallet/me p50 at 100k rows")
    assert table[1].split()[-2:] == ["≤1.2", "MISS"]
    assert table[-1] == "MISS: 1 of 1 (wallet-read-1m)"
    assert _table({"wallet-read-1m": fast}).splitlines()[1].split()[-1] == "ok"
