"""`billing outbox run --once` delivers due email through BILLING_SMTP_URL; `billing outbox list` shows it."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.entrypoints.cli import main

from .conftest import SmtpServer, World


async def _approve(world: World) -> None:
    request = await world.billing.acting_as(world.clinic()).request_topup("60.00")
    await world.billing.acting_as(world.operator).approve_topup(request.id)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, database_url: str, smtp_server: SmtpServer) -> None:
    monkeypatch.setenv("BILLING_DATABASE_URL", database_url)
    monkeypatch.setenv("BILLING_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    monkeypatch.setenv("BILLING_MAIL_FROM", "Billing <billing@platform.example>")


@pytest.mark.usefixtures("cli_env")
def test_outbox_run_once_delivers_what_is_due_and_list_shows_it(
    world: World, smtp_server: SmtpServer, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_approve(world))
    asyncio.run(engine.dispose())  # the test's pool belongs to the loop that just ended
    assert main(["outbox", "list", "--status", "pending"]) == 0
    assert "1 message(s)" in capsys.readouterr().out

    smtp_server.start()
    assert main(["outbox", "run", "--once"]) == 0

    assert "1 sent" in capsys.readouterr().out
    assert len(smtp_server.received) == 1
    assert smtp_server.received[0]["To"] == "owner@clinic-a.example"
    assert main(["outbox", "list", "--status", "sent"]) == 0
    assert "1 message(s)" in capsys.readouterr().out


@pytest.mark.usefixtures("cli_env")
def test_a_failed_attempt_is_listed_with_its_error(
    world: World, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_approve(world))  # the SMTP server is not started: delivery fails
    asyncio.run(engine.dispose())

    assert main(["outbox", "run", "--once"]) == 0
    assert "1 to retry" in capsys.readouterr().out
    assert main(["outbox", "list", "--status", "pending"]) == 0
    out = capsys.readouterr().out
    assert "attempts=1" in out
    assert "last error:" in out
