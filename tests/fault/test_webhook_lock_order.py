"""Meta's status bodies race single settles and voids on one wallet (issue 24, item 1): no deadlock, no 5xx.

A body's unit of work locks its holds one after another while it holds the wallet's row; a settle or a void locks
its hold, then the wallet. Both paths must meet, so here they do: a real `billing serve` (one worker, then two) on a
database of its own, with BILLING_WHATSAPP_APP_SECRET set; one clinic's number mapped, its wallet funded and its
messages held, all over HTTP: BODY_MESSAGES for Meta's bodies, OWN_MESSAGES for the singles alone and LEFT_OPEN that
nobody touches, their ids interleaved in sort order (the order a body locks its holds in). Then, each sent once (no
retry by the client) and CONNECTIONS at a time, BODIES signed bodies of PER_BODY `delivered` statuses (each body's
messages spread over the whole id range) and the singles: a settle or a void of every own message, and of every
SHARED_EVERY-th body message too, so that a single holds a hold that a body holding the wallet is about to lock.

Afterwards: PostgreSQL counted no deadlock in the database; every body was answered 200, every single 200, but for
a void that came after its body's `delivered` settled the message (409 `invalid_state`, contract v2 §9); each
message is charged at most once (exactly: the bodies' and the own settled ones), a void that won is charged by the
body after all (§11, delivered wins over failed), `held` is the sum of the open holds and the ledger explains the
balance.

The sizes are smaller than the incident's (ten bodies of 100 and 300 singles) so that both servers race in about
half a minute on two shared cores; a third of each body's messages still meet a single, and the code before the
fix deadlocked tens to hundreds of times a run at these sizes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from billing.adapters.embedded import free_port
from billing.domain.whatsapp import SIGNATURE_HEADER, sign
from billing.entrypoints.whatsapp_simulator import WEBHOOK_PATH, SimulationOptions, build_bodies

from .support import (
    BASE,
    CLINIC,
    CLINIC_USER,
    OPERATOR,
    billing_serve,
    check_ledger,
)

pytestmark = [pytest.mark.postgres, pytest.mark.many_connections]

APP_SECRET = "fault-tests-whatsapp-app-secret"
PHONE_NUMBER_ID = "106540352242923"
PREFIX = "wamid.lock-"
BODIES = 8
PER_BODY = 40
BODY_MESSAGES = BODIES * PER_BODY
OWN_MESSAGES = 60  # held for the singles alone, each settled or voided once
LEFT_OPEN = 10  # held and never touched: `held` must still be their sum
SHARED_EVERY = 3  # every 3rd body message is also settled or voided by a single (107 of them)
HOLD_BATCH = 1000
# Requests in flight at once. Each holds at most one of the server's database connections (its pool: 20 + 20 per
# worker), and the tests' PostgreSQL, shared with other test runs, allows 100 clients.
CONNECTIONS = 32
RACE_SECONDS = 120.0
STATS_WAIT_SECONDS = 20.0  # for the stopped server's backends to leave
UNIT_PRICE = Decimal("0.0100")
FUNDS = Decimal("100.00")
CARD = {
    "name": "Lock order card",
    "currency": "USD",
    "effective_from": "2025-01-01T00:00:00Z",
    "markets": {"US": "North America", "*": "Other"},
    "rates": [{"market": "North America", "category": "utility", "unit_price": str(UNIT_PRICE)}],
}
SETTLE, VOID = "settle", "void"  # the routes' last word
AFTER = {SETTLE: "settled", VOID: "voided"}  # the hold's status after a single that won


@attrs.frozen
class Single:
    action: str  # SETTLE or VOID
    message_id: str
    shared: bool  # a body delivers the message too


@attrs.frozen
class Plan:
    bodies: tuple[tuple[str, ...], ...]  # each body's message ids
    own: tuple[str, ...]
    left_open: tuple[str, ...]
    singles: tuple[Single, ...]

    @property
    def body_messages(self) -> list[str]:
        return [message for body in self.bodies for message in body]

    @property
    def own_settled(self) -> list[str]:
        return [s.message_id for s in self.singles if s.action == SETTLE and not s.shared]


def _plan() -> Plan:
    """Ids in sort order (zero-padded): the own and left-open messages spread evenly among the bodies' ones, and
    body k has every BODIES-th of the bodies' messages, so every body's lock path crosses every other's; the
    singles go by id too, a settle and a void in turn."""
    total = BODY_MESSAGES + OWN_MESSAGES + LEFT_OPEN
    ids = [f"{PREFIX}{n:05d}" for n in range(total)]
    aside = OWN_MESSAGES + LEFT_OPEN
    set_aside = [ids[(i * total) // aside + total // aside // 2] for i in range(aside)]
    every = aside // LEFT_OPEN
    left_open = set_aside[every // 2 :: every]
    own = [m for m in set_aside if m not in set(left_open)]
    for_bodies = sorted(set(ids) - set(set_aside))
    bodies = tuple(tuple(for_bodies[k::BODIES]) for k in range(BODIES))
    shared = set(for_bodies[SHARED_EVERY // 2 :: SHARED_EVERY])
    singles = [Single((SETTLE, VOID)[i % 2], m, shared=m in shared) for i, m in enumerate(sorted([*own, *shared]))]
    return Plan(bodies, tuple(own), tuple(left_open), tuple(singles))


def _delivered_body(message_ids: tuple[str, ...]) -> bytes:
    """Meta's body of these messages' `delivered` statuses (the simulator's shape; their `sent` went earlier)."""
    options = SimulationOptions(
        phone_number_id=PHONE_NUMBER_ID,
        message_ids=message_ids,
        read_rate=0.0,
        fail_rate=0.0,
        batch=2 * len(message_ids),
        category="utility",
    )
    [body] = build_bodies(options)
    envelope = json.loads(body)
    value = envelope["entry"][0]["changes"][0]["value"]
    value["statuses"] = [status for status in value["statuses"] if status["status"] == "delivered"]
    assert len(value["statuses"]) == len(message_ids)
    return json.dumps(envelope, separators=(",", ":")).encode()


async def _ready_to_send(client: httpx.AsyncClient, plan: Plan) -> None:
    """A card, FUNDS paid in, the number mapped, every message held (in batches of at most HOLD_BATCH)."""

    async def call(path: str, headers: dict[str, str], body: Any, expected: int) -> Any:
        response = await client.post(BASE + path, headers=headers, json=body)
        assert response.status_code == expected, response.text
        return response.json()

    await call("/rate-cards", OPERATOR, CARD, 201)
    request = await call("/wallet/topup-requests", CLINIC_USER, {"amount": str(FUNDS)}, 201)
    approved = await call(f"/wallet/topup-requests/{request['id']}/approve", OPERATOR, {}, 200)
    await call(f"/invoices/{approved['invoice_id']}/mark-paid", OPERATOR, {"payment_reference": "b-1"}, 200)
    await call("/whatsapp-numbers", OPERATOR, {"phone_number_id": PHONE_NUMBER_ID, "tenant_id": CLINIC}, 201)
    every = sorted([*plan.body_messages, *plan.own, *plan.left_open])
    for start in range(0, len(every), HOLD_BATCH):
        chunk = every[start : start + HOLD_BATCH]
        messages = [{"message_id": m, "category": "utility", "recipient": "+14155552671"} for m in chunk]
        placed = await call(f"/wallets/{CLINIC}/holds/batch", OPERATOR, {"messages": messages}, 201)
        assert len(placed["items"]) == len(chunk)


@attrs.frozen
class Answer:
    status: int | str  # the HTTP status, or the transport error's name
    code: str  # "ok", a problem's code, or the error's text
    hold_status: str | None = None
    receipt: dict[str, int] | None = None


def _answer(response: httpx.Response) -> Answer:
    if response.headers.get("content-type", "").startswith("application/problem+json"):
        return Answer(response.status_code, response.json().get("code", "?"))
    if response.status_code >= 300:
        return Answer(response.status_code, response.text[:200])
    payload = response.json()
    return Answer(response.status_code, "ok", payload.get("status"), payload if "received" in payload else None)


async def _send(client: httpx.AsyncClient, method: str, *args: Any, **kwargs: Any) -> Answer:
    try:
        return _answer(await client.request(method, *args, **kwargs))
    except httpx.TransportError as error:
        return Answer(type(error).__name__, str(error))


async def _body(client: httpx.AsyncClient, body: bytes) -> Answer:
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(APP_SECRET, body)}
    return await _send(client, "POST", WEBHOOK_PATH, content=body, headers=headers)


async def _single(client: httpx.AsyncClient, single: Single) -> Answer:
    path = f"{BASE}/wallets/{CLINIC}/holds/{single.action}"
    return await _send(client, "POST", path, headers=OPERATOR, json={"message_id": single.message_id})


async def _race(base_url: str, bodies: list[bytes], singles: tuple[Single, ...]) -> tuple[list[Answer], list[Answer]]:
    """Every body, then every single (by message id), each sent once, CONNECTIONS of them in flight at any time:
    the bodies hold the wallet from the start, and the singles lock their holds meanwhile."""
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    async with httpx.AsyncClient(base_url=base_url, timeout=RACE_SECONDS, limits=limits) as client:
        to_bodies = [asyncio.create_task(_body(client, body)) for body in bodies]
        to_singles = [asyncio.create_task(_single(client, single)) for single in singles]
        async with asyncio.timeout(RACE_SECONDS):
            return list(await asyncio.gather(*to_bodies)), list(await asyncio.gather(*to_singles))


CONNECTED = "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND backend_type = 'client backend'"


def _deadlocks(server_url: str, database: str) -> int:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute("SELECT pg_stat_clear_snapshot()")
        row = admin.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = %s", [database]).fetchone()
    return 0 if row is None else int(row[0])


def _deadlocks_once_disconnected(server_url: str, database: str) -> int:
    """The count once no backend is connected to the database. A backend adds what it counted to the shared
    statistics when it flushes them (idle for a while, or at exit, before it leaves pg_stat_activity): with the
    server stopped and its backends gone, nothing counted is pending any more."""
    deadline = time.monotonic() + STATS_WAIT_SECONDS
    with psycopg.connect(server_url, autocommit=True) as admin:
        while admin.execute(CONNECTED, [database]).fetchone() != (0,):
            assert time.monotonic() < deadline, f"backends still connected to {database}"
            time.sleep(0.05)
    return _deadlocks(server_url, database)


@attrs.frozen
class Facts:
    charges: Counter[str]  # charge rows per message id
    amounts: set[Decimal]
    holds: dict[str, tuple[str, bool]]  # message id -> (status, charged)
    held: Decimal
    open_sum: Decimal
    delivered_events: Counter[str]


def _facts(url: str) -> Facts:
    with psycopg.connect(url) as connection:
        charges = connection.execute(
            "SELECT reference_id, amount FROM wallet_transactions WHERE tenant_id = %s AND kind = 'charge'", [CLINIC]
        ).fetchall()
        holds = connection.execute(
            "SELECT message_id, status, transaction_id IS NOT NULL FROM holds WHERE tenant_id = %s", [CLINIC]
        ).fetchall()
        wallet = connection.execute(
            "SELECT held, (SELECT coalesce(sum(amount), 0) FROM holds WHERE tenant_id = %s AND status = 'held') "
            "FROM wallets WHERE tenant_id = %s",
            [CLINIC, CLINIC],
        ).fetchone()
        events = connection.execute(
            "SELECT message_id FROM webhook_events WHERE tenant_id = %s AND status = 'delivered'", [CLINIC]
        ).fetchall()
    assert wallet is not None
    return Facts(
        Counter(reference for reference, _ in charges),
        {Decimal(amount) for _, amount in charges},
        {message_id: (status, charged) for message_id, status, charged in holds},
        Decimal(wallet[0]),
        Decimal(wallet[1]),
        Counter(message_id for (message_id,) in events),
    )


def _expected(single: Single, answer: Answer) -> bool:
    """A single's legitimate answers (contract v2 §9): 200 with the hold as the single left it; a void whose
    message the body's `delivered` settled first is 409 `invalid_state`. A settle always wins or repeats: 200."""
    if single.shared and single.action == VOID and (answer.status, answer.code) == (409, "invalid_state"):
        return True
    return (answer.status, answer.hold_status) == (200, AFTER[single.action])


@pytest.mark.parametrize("workers", [1, 2])
async def test_webhook_bodies_racing_single_settles_and_voids_never_deadlock(
    workers: int, postgres_server_url: str, database_url: str, tmp_path: Path
) -> None:
    plan = _plan()
    bodies = [_delivered_body(messages) for messages in plan.bodies]
    database = make_url(database_url).database
    assert database is not None
    secret = {"BILLING_WHATSAPP_APP_SECRET": APP_SECRET}

    with billing_serve(database_url, free_port(), tmp_path / "serve.log", workers, extra_env=secret) as served:
        assert len(served.worker_pids()) == (workers if workers > 1 else 0), "not the workers asked for"
        async with httpx.AsyncClient(base_url=served.base_url, timeout=60) as client:
            await _ready_to_send(client, plan)
        before = _deadlocks(postgres_server_url, database)
        started = time.monotonic()
        body_answers, single_answers = await _race(served.base_url, bodies, plan.singles)
        took = time.monotonic() - started
        log = served.log_tail()
    deadlocks = _deadlocks_once_disconnected(postgres_server_url, database) - before  # the server has stopped

    failed = Counter(
        (s.action, "shared" if s.shared else "own", a.status, a.code)
        for s, a in zip(plan.singles, single_answers, strict=True)
        if isinstance(a.status, str) or a.status >= 500
    )
    failed_bodies = Counter((a.status, a.code) for a in body_answers if isinstance(a.status, str) or a.status >= 500)
    report = (
        f"{workers} worker(s), race {took:.1f} s: {deadlocks} deadlocks; bodies not answered or 5xx {failed_bodies} "
        f"of {len(bodies)}; singles not answered or 5xx {failed} of {len(plan.singles)}\n{log[-1500:]}"
    )
    assert (deadlocks, sum(failed_bodies.values()), sum(failed.values())) == (0, 0, 0), report

    for answer in body_answers:
        assert (answer.status, answer.code) == (200, "ok"), report
        assert answer.receipt is not None
        assert answer.receipt["received"] == PER_BODY
        assert answer.receipt["applied"] + answer.receipt["ignored"] == PER_BODY, answer.receipt
    unexpected = [(s, a) for s, a in zip(plan.singles, single_answers, strict=True) if not _expected(s, a)]
    assert not unexpected, unexpected[:10]

    facts = _facts(database_url)
    assert facts.charges == Counter([*plan.body_messages, *plan.own_settled]), "a message charged twice, or wrongly"
    assert facts.amounts == {-UNIT_PRICE}
    assert facts.delivered_events == Counter(plan.body_messages), "a delivered status lost or recorded twice"
    answered = dict(zip(plan.singles, single_answers, strict=True))
    for single, answer in answered.items():
        if single.shared:  # delivered wins over a void, in either order: the message is charged once
            won = single.action == VOID and answer.status == 200
            assert facts.holds[single.message_id] == ("voided" if won else "settled", True), (single, answer)
        else:
            assert facts.holds[single.message_id] == (AFTER[single.action], single.action == SETTLE), single
    shared = {single.message_id for single in plan.singles if single.shared}
    assert {facts.holds[m] for m in plan.body_messages if m not in shared} == {("settled", True)}
    assert {facts.holds[m] for m in plan.left_open} == {("held", False)}
    assert facts.held == facts.open_sum == UNIT_PRICE * LEFT_OPEN
    charged = len(plan.body_messages) + len(plan.own_settled)
    assert check_ledger(database_url, CLINIC) == FUNDS - UNIT_PRICE * charged
