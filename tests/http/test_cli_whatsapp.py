"""`billing whatsapp simulate` end to end: the command plays Meta against the app served by uvicorn (in a thread of
the test, on every backend), signing with BILLING_WHATSAPP_APP_SECRET; the messages held beforehand are charged
exactly once each (duplicated, reordered and batched bodies included), the failed ones voided. It prints one line
per figure and exits non-zero when a body was refused or never answered."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from api_support import CLINIC, OPERATOR, SECRET, bearer

from billing.application.caller import VIEW
from billing.config import JwtSettings, Settings, WhatsAppSettings
from billing.container import Container
from billing.entrypoints.cli import main
from billing.entrypoints.http.app import create_app

APP_SECRET = "5f2b9c1e8a7d4f3b6c0e9a8d7f6e5d4c"
PHONE = "106540352242922"
PREFIX = "wamid.cli-sim-"
API = "/api/v1/billing"
CLINIC_USER = bearer(CLINIC, VIEW, user="clinic-user")
CARD = {
    "name": "CLI card",
    "currency": "USD",
    "effective_from": "2025-01-01T00:00:00Z",
    "markets": {"US": "North America", "*": "Other"},
    "rates": [
        {"market": "North America", "category": "utility", "unit_price": "0.004"},
        {"market": "Other", "category": "utility", "unit_price": "0.01"},
    ],
}


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ["DATABASE_URL", "JWT_SECRET", "ROOT_TENANT", "CURRENCY", "WHATSAPP_APP_SECRET"]:
        monkeypatch.delenv(f"BILLING_{name}", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings() -> Settings:
    """The served app's (tests/http/conftest.py builds the container from it)."""
    return Settings(jwt=JwtSettings(secret=SECRET), whatsapp=WhatsAppSettings(app_secret=APP_SECRET))


@pytest.fixture
def served(container: Container) -> Iterator[str]:
    """The app on uvicorn in a thread of its own, on a free port: its address."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    app = create_app(container, deliver_email=False, expire_holds=False)
    server = uvicorn.Server(uvicorn.Config(app, loop="asyncio", log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        listening.close()


def _call(client: httpx.Client, method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
    response = client.request(method, API + path, headers=headers, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def _ready_to_send(url: str, messages: int) -> None:
    """What the messaging module does before a campaign: a card, 10.00 paid in, the number mapped, every message
    held (PREFIX0 .. PREFIX<messages-1>)."""
    with httpx.Client(base_url=url, timeout=30) as client:
        _call(client, "POST", "/rate-cards", OPERATOR, CARD)
        request = _call(client, "POST", "/wallet/topup-requests", CLINIC_USER, {"amount": "10.00"})
        approved = _call(client, "POST", f"/wallet/topup-requests/{request['id']}/approve", OPERATOR, {})
        _call(client, "POST", f"/invoices/{approved['invoice_id']}/mark-paid", OPERATOR, {"payment_reference": "b-1"})
        _call(client, "POST", "/whatsapp-numbers", OPERATOR, {"phone_number_id": PHONE, "tenant_id": CLINIC})
        batch = [
            {"message_id": f"{PREFIX}{n}", "category": "utility", "recipient": "+14155552671"} for n in range(messages)
        ]
        _call(client, "POST", f"/wallets/{CLINIC}/holds/batch", OPERATOR, {"messages": batch})


def _afterwards(url: str) -> tuple[dict[str, int], list[dict[str, Any]], dict[str, Any]]:
    """Holds by status, the message charges, and the wallet."""
    with httpx.Client(base_url=url, timeout=30) as client:
        counts = {
            status: _call(client, "GET", f"/wallets/{CLINIC}/holds?status={status}&page_size=1", OPERATOR)["total"]
            for status in ("held", "settled", "voided", "expired")
        }
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            found = _call(client, "GET", f"/wallets/{CLINIC}/transactions?page={page}&page_size=100", OPERATOR)
            rows += [row for row in found["items"] if row["kind"] == "charge"]
            if page * 100 >= found["total"]:
                break
            page += 1
        return counts, rows, _call(client, "GET", f"/wallets/{CLINIC}", OPERATOR)


def _figures(output: str) -> dict[str, int]:
    """The report: one `name: number` line per figure."""
    figures = {}
    for line in output.strip().splitlines():
        match = re.fullmatch(r"(?P<name>[a-z0-9 ]+):\s+(?P<count>[0-9]+)", line)
        assert match, line
        figures[match["name"]] = int(match["count"])
    return figures


def test_simulate_charges_every_delivered_message_once_and_voids_the_failed(
    served: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    messages = 40
    _ready_to_send(served, messages)
    monkeypatch.setenv("BILLING_WHATSAPP_APP_SECRET", APP_SECRET)  # the command's default secret
    args = ["--number", PHONE, "--messages", str(messages), "--fail-rate", "0.25", "--url", served]
    options = ["--batch", "7", "--duplicates", "--reorder", "--seed", "11", "--message-prefix", PREFIX]

    code = main(["whatsapp", "simulate", *args, *options])

    out = capsys.readouterr().out
    figures = _figures(out)
    assert code == 0, out
    assert figures["messages"] == messages
    assert 0 < figures["failed messages"] < messages  # the seed fails some, not all
    assert (figures["accepted"], figures["refused"], figures["unanswered"]) == (figures["bodies"], 0, 0)
    assert figures["answered 200"] == figures["bodies"]
    delivered = messages - figures["failed messages"]
    counts, charges, wallet = _afterwards(served)
    assert counts == {"held": 0, "settled": delivered, "voided": figures["failed messages"], "expired": 0}
    references = [row["reference_id"] for row in charges]
    assert len(references) == len(set(references)) == delivered  # one charge per delivered message
    assert all(row["amount"] == "-0.004" for row in charges)
    assert Decimal(wallet["balance"]) == Decimal("10.00") - Decimal("0.004") * delivered
    assert (wallet["held"], wallet["balance"]) == ("0.00", wallet["available"])


def test_a_second_run_of_the_same_seed_changes_nothing(
    served: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Meta delivering a whole campaign again: every status is recorded already."""
    _ready_to_send(served, 10)
    args = ["whatsapp", "simulate", "--number", PHONE, "--messages", "10", "--url", served, "--secret", APP_SECRET]
    args += ["--seed", "3", "--message-prefix", PREFIX, "--fail-rate", "0.3"]
    assert main(args) == 0
    before = _afterwards(served)

    assert main(args) == 0

    assert _afterwards(served) == before
    capsys.readouterr()


@pytest.mark.parametrize("container", ["memory"], indirect=True)
def test_a_wrong_secret_is_refused_and_the_exit_code_says_so(served: str, capsys: pytest.CaptureFixture[str]) -> None:
    _ready_to_send(served, 3)

    code = main(["whatsapp", "simulate", "--number", PHONE, "--messages", "3", "--url", served, "--secret", "wrong"])

    captured = capsys.readouterr()
    figures = _figures(captured.out)
    assert code == 1
    assert (figures["answered 401"], figures["refused"], figures["accepted"]) == (
        figures["bodies"],
        figures["bodies"],
        0,
    )
    assert "refused" in captured.err
    counts, charges, _ = _afterwards(served)
    assert (counts["held"], charges) == (3, [])


@pytest.mark.parametrize("container", ["memory"], indirect=True)
def test_without_any_secret_it_warns_and_the_server_refuses(served: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["whatsapp", "simulate", "--number", PHONE, "--messages", "2", "--url", served])

    captured = capsys.readouterr()
    assert code == 1
    assert "BILLING_WHATSAPP_APP_SECRET is not set" in captured.err
    assert _figures(captured.out)["answered 401"] == 1


def test_a_server_that_does_not_answer_is_unanswered(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    args = ["--number", PHONE, "--messages", "3", "--batch", "2", "--url", url, "--secret", "s", "--retries", "0"]

    code = main(["whatsapp", "simulate", *args])

    captured = capsys.readouterr()
    figures = _figures(captured.out)
    assert code == 1
    assert (figures["bodies"], figures["unanswered"], figures["accepted"]) == (figures["bodies"], figures["bodies"], 0)
    assert "unanswered" in captured.err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--messages", "0"], "--messages must be from 1 to 100000"),
        (["--batch", "0"], "--batch must be from 1 to 10000"),
        (["--retries", "21"], "--retries must be from 0 to 20"),
        (["--message-prefix", "wamid.\n"], "--message-prefix"),
        (["--url", "ftp://example.com"], "--url must be an http:// or https:// address"),
        (["--number", " "], "--number must not be blank"),
    ],
)
def test_bad_options_are_refused_before_anything_is_sent(
    options: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["whatsapp", "simulate", "--number", PHONE, "--secret", "s", *options])

    assert code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("rate", ["1.5", "-0.1", "many"])
def test_a_rate_outside_zero_to_one_is_a_usage_error(rate: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["whatsapp", "simulate", "--number", PHONE, "--fail-rate", rate])

    assert exited.value.code == 2
    assert "--fail-rate" in capsys.readouterr().err
