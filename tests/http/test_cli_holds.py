"""`billing holds expire` against a real database: one sweep, in batches, until no hold is due; it says how many."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from api_support import SECRET
from hold_support import CLINIC, fund_with_card, hold_messages
from sqlalchemy.engine import make_url

from billing.adapters.memory.clock import ManualClock
from billing.adapters.sqlalchemy.holds import SWEEPER_LOCK
from billing.application.handlers.holds import SWEEP_BATCH
from billing.config import JwtSettings, Settings
from billing.container import close, postgres_container
from billing.domain.hold import HoldStatus
from billing.domain.money import Money
from billing.entrypoints.cli import EXIT_ANOTHER_SWEEPER, main


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ["DATABASE_URL", "JWT_SECRET", "ROOT_TENANT", "CURRENCY"]:
        monkeypatch.delenv(f"BILLING_{name}", raising=False)
    monkeypatch.chdir(tmp_path)


def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, jwt=JwtSettings(secret=SECRET))


async def _hold_an_hour_ago(database_url: str, due: Sequence[str], open_ids: Sequence[str]) -> None:
    """Holds placed an hour ago: `due` for a minute (expired by now), `open_ids` for a day."""
    container = postgres_container(settings(database_url), clock=ManualClock(datetime.now(UTC) - timedelta(hours=1)))
    service = container.service()
    try:
        await fund_with_card(service)
        for start in range(0, len(due), 1000):
            await hold_messages(service, due[start : start + 1000], expires_in_seconds=60)
        if open_ids:
            await hold_messages(service, open_ids, expires_in_seconds=86400)
    finally:
        await close(container)


async def _state(database_url: str) -> tuple[dict[HoldStatus, int], Money, Money]:
    """How many holds of each status, and the wallet's held and balance, read through a fresh container."""
    container = postgres_container(settings(database_url))
    platform = container.service().as_platform("test")
    try:
        counts = {status: (await platform.holds(CLINIC, status=status.value)).total for status in HoldStatus}
        wallet = await platform.wallet(CLINIC)
        return counts, wallet.held, wallet.balance
    finally:
        await close(container)


@pytest.mark.postgres
def test_expire_sweeps_every_due_hold_in_batches_and_says_how_many(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    due = [f"wamid.due-{n}" for n in range(SWEEP_BATCH + 1)]  # more than one batch
    asyncio.run(_hold_an_hour_ago(database_url, due, ["wamid.open"]))
    monkeypatch.setenv("BILLING_DATABASE_URL", database_url)
    _, _, balance = asyncio.run(_state(database_url))

    assert main(["holds", "expire"]) == 0

    assert capsys.readouterr().out.strip() == f"{SWEEP_BATCH + 1} hold(s) expired"
    counts, held, balance_after = asyncio.run(_state(database_url))
    assert counts[HoldStatus.EXPIRED] == SWEEP_BATCH + 1
    assert counts[HoldStatus.HELD] == 1
    assert str(held) == "0.0034"  # the open hold alone
    assert balance_after == balance  # expiry moves no money: it releases it


@pytest.mark.postgres
def test_expire_with_nothing_due_says_so(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_hold_an_hour_ago(database_url, [], ["wamid.open"]))
    monkeypatch.setenv("BILLING_DATABASE_URL", database_url)

    assert main(["holds", "expire"]) == 0

    assert capsys.readouterr().out.strip() == "no hold was due to expire"
    counts, _, _ = asyncio.run(_state(database_url))
    assert counts[HoldStatus.HELD] == 1


@pytest.mark.postgres
def test_expire_while_another_sweeper_sweeps_says_so_and_exits_75(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Another sweeper holds the sweep's lock (here: a session holding its advisory key) while holds are due: the
    command must not claim that nothing was due."""
    asyncio.run(_hold_an_hour_ago(database_url, ["wamid.due"], ["wamid.open"]))
    monkeypatch.setenv("BILLING_DATABASE_URL", database_url)
    plain = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)

    with psycopg.connect(plain, autocommit=True) as other_sweeper:
        other_sweeper.execute("SELECT pg_advisory_lock(%s)", (SWEEPER_LOCK,))
        assert main(["holds", "expire"]) == EXIT_ANOTHER_SWEEPER == 75
    out = capsys.readouterr().out.strip()

    assert out == "another sweeper is running and holds are due: it sweeps them (try again later)"
    counts, _, _ = asyncio.run(_state(database_url))
    assert (counts[HoldStatus.HELD], counts[HoldStatus.EXPIRED]) == (2, 0)
    assert main(["holds", "expire"]) == 0  # the other one gone: this one sweeps
    assert capsys.readouterr().out.strip() == "1 hold(s) expired"


def test_expire_needs_a_database_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["holds", "expire"]) == 2
    assert "BILLING_DATABASE_URL" in capsys.readouterr().err


def test_expire_without_a_database_says_what_to_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BILLING_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing")

    assert main(["holds", "expire"]) == 1
    assert "is PostgreSQL running there" in capsys.readouterr().err
