"""`billing outbox run --once` delivers due email through BILLING_SMTP_URL; `billing outbox list` shows it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from uuid import uuid4

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.application.outbox import EmailMessage
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


async def _queue_poisoned(world: World) -> None:
    """An old row, queued before addresses were checked: it bypasses validation."""
    async with world.billing.uow_factory() as uow:
        await uow.outbox.add(
            EmailMessage(
                id=uuid4(),
                tenant_id="clinic-p",
                kind="invoice_issued",
                recipient="up@clinic-p.example\r\nBcc: x@evil.example",
                subject="Invoice",
                text="Amount due\n",
                html="<p>Amount due</p>",
                created_at=world.clock.now() - timedelta(minutes=5),  # at the head of the queue
            )
        )
        await uow.commit()


@pytest.mark.usefixtures("cli_env")
def test_outbox_run_once_with_a_poisoned_message_delivers_the_rest_and_exits_cleanly(
    world: World, smtp_server: SmtpServer, engine: AsyncEngine, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_queue_poisoned(world))
    asyncio.run(_approve(world))
    asyncio.run(engine.dispose())
    smtp_server.start()

    assert main(["outbox", "run", "--once"]) == 0

    run = capsys.readouterr()
    assert "outbox: 1 sent, 0 to retry, 0 failed, 1 undeliverable" in run.out
    assert "Traceback" not in run.out + run.err
    assert [m["X-RcptTo"] for m in smtp_server.received] == ["owner@clinic-a.example"]
    assert main(["outbox", "list", "--status", "undeliverable"]) == 0
    listed = capsys.readouterr().out
    assert "to=up@clinic-p.example\\r\\nBcc: x@evil.example" in listed  # shown escaped, on one line
    assert "last error: cannot be written as email" in listed
    assert "\r" not in listed
    assert main(["outbox", "run", "--once"]) == 0
    assert "outbox: 0 sent, 0 to retry, 0 failed, 0 undeliverable" in capsys.readouterr().out


def test_without_smtp_the_report_says_logged_not_sent(
    world: World,
    engine: AsyncEngine,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("BILLING_DATABASE_URL", database_url)
    monkeypatch.delenv("BILLING_SMTP_URL", raising=False)  # the logging mailer: nothing leaves the machine
    asyncio.run(_approve(world))
    asyncio.run(engine.dispose())

    with caplog.at_level("INFO", logger="billing.mail"):
        assert main(["outbox", "run", "--once"]) == 0

    out = capsys.readouterr().out
    assert "outbox: 0 sent, 1 logged, not sent (no BILLING_SMTP_URL), 0 to retry, 0 failed, 0 undeliverable" in out
    assert "email (not sent: no BILLING_SMTP_URL) to owner@clinic-a.example" in caplog.text
    assert main(["outbox", "run", "--once"]) == 0  # the outbox is done with it
    assert "outbox: 0 sent, 0 to retry, 0 failed, 0 undeliverable" in capsys.readouterr().out
