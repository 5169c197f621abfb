"""The database restarts while Meta's status webhook is under load (contract v2 §11): a real `billing serve` on an
embedded PostgreSQL of its own, with BILLING_WHATSAPP_APP_SECRET set.

A clinic's number is mapped, its wallet funded and MESSAGES messages held, all over HTTP. Then CLIENTS clients post
Meta's signed bodies for them (`build_bodies`: sent, delivered and for some read, reordered so that a read may come
before its delivered, some bodies sent twice), while the test stops the database and starts it again. Each client
sends a body again the way Meta does (on a 5xx or no answer, with a growing pause, a bounded number of times) until
it is answered 200. A database outage must be a 503 `unavailable` (never a 500), and the service recovers by itself
(the same process). Afterwards every body was answered 200, every status of the bodies is recorded once, every
message is charged exactly once at its hold's price, nothing is held any more, the balance is the ledger's sum and
`billing audit` finds no drift.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import psycopg
import pytest

from billing.adapters.embedded import EmbeddedPostgres, free_port
from billing.domain.whatsapp import SIGNATURE_HEADER, sign
from billing.entrypoints.whatsapp_simulator import WEBHOOK_PATH, SimulationOptions, build_bodies

from .support import (
    BASE,
    CLINIC,
    CLINIC_USER,
    OPERATOR,
    Served,
    assert_unavailable,
    billing_command,
    billing_env,
    billing_serve,
    check_ledger,
)

pytestmark = pytest.mark.postgres

APP_SECRET = "fault-tests-whatsapp-app-secret"
PHONE_NUMBER_ID = "106540352242922"
MESSAGES = 300
PREFIX = "wamid.restart-"
STATUSES_PER_BODY = 5  # many small bodies, so that the load outlasts the outage
CLIENTS = 4
PACE_SECONDS = 0.05  # between a client's bodies, as Meta spreads its deliveries
MAX_ATTEMPTS = 40  # of one body, Meta's redeliveries
FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 1.0
LOAD_SECONDS = 45.0
WAIT_SECONDS = 30.0
UNIT_PRICE = Decimal("0.0100")
FUNDS = Decimal("100.00")
CARD = {
    "name": "Webhook restart card",
    "currency": "USD",
    "effective_from": "2025-01-01T00:00:00Z",
    "markets": {"US": "North America", "*": "Other"},
    "rates": [{"market": "North America", "category": "utility", "unit_price": str(UNIT_PRICE)}],
}


@pytest.fixture
def served(own_postgres: EmbeddedPostgres, tmp_path: Path) -> Iterator[Served]:
    upgraded = billing_command("db", "upgrade", env=billing_env(own_postgres.url))
    assert upgraded.returncode == 0, upgraded.stderr
    secret = {"BILLING_WHATSAPP_APP_SECRET": APP_SECRET}
    with billing_serve(own_postgres.url, free_port(), tmp_path / "serve.log", extra_env=secret) as server:
        yield server


@attrs.define
class Deliveries:
    """Every answer the bodies got (a status code, or the transport error's name), and how each body ended."""

    answers: Counter[int | str] = attrs.field(factory=Counter)
    final: dict[int, int | str] = attrs.field(factory=dict)  # body index -> its last answer
    accepted: int = 0

    def met_the_outage(self) -> int:
        return sum(count for answer, count in self.answers.items() if answer != 200)


def _message_ids() -> list[str]:
    return [f"{PREFIX}{n}" for n in range(MESSAGES)]


def _bodies() -> list[bytes]:
    """Meta's bodies for the held messages: sent, delivered and (half of them) read, shuffled across bodies (a read
    may come before its delivered), some bodies sent a second time later."""
    options = SimulationOptions(
        phone_number_id=PHONE_NUMBER_ID,
        message_ids=tuple(_message_ids()),
        read_rate=0.5,
        fail_rate=0.0,
        batch=STATUSES_PER_BODY,
        duplicates=True,
        reorder=True,
        seed=20261208,
        category="utility",
    )
    return build_bodies(options)


def _statuses_of(bodies: list[bytes]) -> set[tuple[str, str]]:
    """Every (message id, status) the bodies carry."""
    return {
        (status["id"], status["status"])
        for body in bodies
        for entry in json.loads(body)["entry"]
        for change in entry["changes"]
        for status in change["value"]["statuses"]
    }


def _reads_before_delivered(bodies: list[bytes]) -> int:
    """How many messages' read is sent before their delivered."""
    first: dict[tuple[str, str], int] = {}
    for position, body in enumerate(bodies):
        for pair in _statuses_of([body]):
            first.setdefault(pair, position)
    reads = [(message, at) for (message, status), at in first.items() if status == "read"]
    return sum(1 for message, at in reads if at < first[(message, "delivered")])


async def _ready_to_send(client: httpx.AsyncClient) -> None:
    """What the messaging module does before a campaign, over HTTP: a card, FUNDS paid in, the number mapped, every
    message held."""

    async def call(method: str, path: str, headers: dict[str, str], body: Any, expected: int) -> Any:
        response = await client.request(method, BASE + path, headers=headers, json=body)
        assert response.status_code == expected, response.text
        return response.json()

    await call("POST", "/rate-cards", OPERATOR, CARD, 201)
    request = await call("POST", "/wallet/topup-requests", CLINIC_USER, {"amount": str(FUNDS)}, 201)
    approved = await call("POST", f"/wallet/topup-requests/{request['id']}/approve", OPERATOR, {}, 200)
    paid = {"payment_reference": "b-1"}
    await call("POST", f"/invoices/{approved['invoice_id']}/mark-paid", OPERATOR, paid, 200)
    number = {"phone_number_id": PHONE_NUMBER_ID, "tenant_id": CLINIC}
    await call("POST", "/whatsapp-numbers", OPERATOR, number, 201)
    messages = [{"message_id": m, "category": "utility", "recipient": "+14155552671"} for m in _message_ids()]
    placed = await call("POST", f"/wallets/{CLINIC}/holds/batch", OPERATOR, {"messages": messages}, 201)
    assert len(placed["items"]) == MESSAGES, placed


async def _deliver(client: httpx.AsyncClient, index: int, body: bytes, deliveries: Deliveries) -> None:
    """One body, signed, sent again as Meta does (a 5xx or no answer: after a growing pause) until answered 200."""
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(APP_SECRET, body)}
    pause = FIRST_BACKOFF_SECONDS
    for _ in range(MAX_ATTEMPTS):
        try:
            response = await client.post(WEBHOOK_PATH, content=body, headers=headers)
        except httpx.TransportError as error:
            answer: int | str = type(error).__name__
        else:
            answer = response.status_code
            if answer == 503:
                assert_unavailable(response)
            else:  # 200, or what Meta would never be answered for a database outage (a 500, a 4xx)
                assert answer == 200, response.text
                assert response.json()["received"] == len(_statuses_of([body])), response.text
        deliveries.answers[answer] += 1
        deliveries.final[index] = answer
        if answer == 200:
            deliveries.accepted += 1
            return
        await asyncio.sleep(pause)
        pause = min(pause * 2, MAX_BACKOFF_SECONDS)
    raise AssertionError(f"body {index} was never answered 200: {deliveries.answers}")


async def _meta(client: httpx.AsyncClient, queue: list[tuple[int, bytes]], deliveries: Deliveries) -> None:
    while queue:
        index, body = queue.pop(0)
        await _deliver(client, index, body, deliveries)
        await asyncio.sleep(PACE_SECONDS)


async def _ready_status(client: httpx.AsyncClient) -> int:
    try:
        return (await client.get("/ready")).status_code
    except httpx.TransportError:
        return 0


async def _wait_for_ready(client: httpx.AsyncClient, status: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while (seen := await _ready_status(client)) != status:
        assert time.monotonic() < deadline, f"/ready answered {seen}, never {status}"
        await asyncio.sleep(0.1)


async def _wait_for_accepted(deliveries: Deliveries, count: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while deliveries.accepted < count:
        assert time.monotonic() < deadline, f"only {deliveries.accepted} bodies accepted: {deliveries.answers}"
        await asyncio.sleep(0.02)


async def _restart_under_load(
    served: Served, database: EmbeddedPostgres, bodies: list[bytes], deliveries: Deliveries
) -> None:
    queue = list(enumerate(bodies))
    async with httpx.AsyncClient(base_url=served.base_url, timeout=15) as client:
        load = [asyncio.create_task(_meta(client, queue, deliveries)) for _ in range(CLIENTS)]
        try:
            async with asyncio.timeout(LOAD_SECONDS):
                await _wait_for_accepted(deliveries, 15)
                await asyncio.to_thread(database.stop)
                await _wait_for_ready(client, 503)
                assert_unavailable(await client.get("/ready"))
                await asyncio.sleep(1.0)  # Meta keeps delivering to the missing database
                await asyncio.to_thread(database.start)
                await _wait_for_ready(client, 200)
                await asyncio.gather(*load)  # every body answered 200 in the end (or _deliver failed)
        finally:
            for task in load:
                task.cancel()
            await asyncio.gather(*load, return_exceptions=True)


def _database_facts(url: str) -> tuple[Counter[str], Counter[str], Decimal, set[tuple[str, str]], int]:
    """The clinic's charges per message id, its holds by status, its wallet's `held`, the (message id, status)
    pairs recorded, and how many events were recorded."""
    with psycopg.connect(url) as connection:
        charges = connection.execute(
            "SELECT reference_id, amount FROM wallet_transactions WHERE tenant_id = %s AND kind = 'charge'", [CLINIC]
        ).fetchall()
        holds = connection.execute(
            "SELECT status, count(*) FROM holds WHERE tenant_id = %s GROUP BY status", [CLINIC]
        ).fetchall()
        wallet = connection.execute("SELECT held FROM wallets WHERE tenant_id = %s", [CLINIC]).fetchone()
        events = connection.execute(
            "SELECT message_id, status FROM webhook_events WHERE tenant_id = %s", [CLINIC]
        ).fetchall()
    assert wallet is not None
    assert {amount for _, amount in charges} == {-UNIT_PRICE}, charges
    return (
        Counter(reference for reference, _ in charges),
        Counter(dict(holds)),
        Decimal(wallet[0]),
        {(message_id, status) for message_id, status in events},
        len(events),
    )


async def test_a_database_restart_under_webhook_load_loses_and_doubles_no_status(
    served: Served, own_postgres: EmbeddedPostgres
) -> None:
    url = own_postgres.url
    async with httpx.AsyncClient(base_url=served.base_url, timeout=30) as client:
        await _ready_to_send(client)
    bodies = _bodies()
    assert len(set(bodies)) < len(bodies), "no body is sent twice"
    assert _reads_before_delivered(bodies) > 0, "no read comes before its delivered"
    deliveries = Deliveries()

    await _restart_under_load(served, own_postgres, bodies, deliveries)

    assert deliveries.met_the_outage() > 0, f"no body met the missing database: {deliveries.answers}"
    assert deliveries.final == dict.fromkeys(range(len(bodies)), 200), deliveries.final
    codes = {answer for answer in deliveries.answers if isinstance(answer, int)}
    assert codes <= {200, 503}, deliveries.answers  # an outage is a 503, never a 500
    charges, holds, held, recorded, events = _database_facts(url)
    assert charges == Counter(_message_ids()), "a message charged twice, or never"
    assert holds == Counter(settled=MESSAGES), holds
    assert held == 0
    assert recorded == _statuses_of(bodies), "a status was lost, or one no body carried was recorded"
    assert events == len(recorded), "a status recorded twice"
    assert check_ledger(url, CLINIC) == FUNDS - UNIT_PRICE * MESSAGES
    assert served.process.poll() is None, "the service restarted or died"
    audit = billing_command("audit", env=billing_env(url))
    assert audit.returncode == 0, audit.stdout + audit.stderr
