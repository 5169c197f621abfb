"""`webhook-100`: Meta's status webhook (contract v2 §11) through a real `billing serve` (1 worker), statuses/s.

Each body holds 100 `delivered` statuses of messages held beforehand (placed in-process with `hold_batch` before
the clock starts), all of one tenant's mapped phone number, signed with the app secret. The bodies go round the
tenants (10, each with its own number), so the clients' bodies at any moment are different tenants'; CLIENTS
keep-alive connections post them. Every body must answer 200 with its 100 statuses applied, and afterwards every
message has exactly one charge row and no hold is left open. Absolute target: >= 1,000 statuses/s on this machine.

The floor applies the same settlements with raw psycopg over as many connections, from the same bytes: the body
decoded, its numbers' tenants read (one statement), then per tenant one transaction: the (message id, status)
pairs recorded before read (one statement), and for each status the hold's row locked, the hold closed with the
wallet moved and the charge row (with its price snapshot) inserted in one statement (benchmarks/holds.py's
floor's SETTLE), and the tier's counter bumped; then the events inserted in one statement with ON CONFLICT DO
NOTHING. What it leaves out is what ours adds around the same SQL: HTTP, the signature check, the parser's
checks, the units of work, SQLAlchemy, the domain's objects, the answer.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import psycopg

from benchmarks.holds import CATEGORY, COUNT_SETTLED, LOCK_HOLD, SETTLE, _priced, billing_on
from benchmarks.http import KeepAliveClient, served
from benchmarks.progress import Progress
from benchmarks.quotes import recipients
from benchmarks.size import Size
from billing.adapters.sqlalchemy.engine import create_engine
from billing.application.handlers.holds import MAX_BATCH
from billing.application.service import BillingService
from billing.domain.whatsapp import SIGNATURE_HEADER, sign
from billing.entrypoints.whatsapp_simulator import WEBHOOK_PATH

APP_SECRET = "webhook-benchmark-app-secret"
TENANTS = 10
STATUSES_PER_BODY = 100
CLIENTS = 4
TARGET_STATUSES_PER_SECOND = 1000.0  # the absolute target on this machine

Conn = psycopg.AsyncConnection[tuple[Any, ...]]

TENANTS_OF = "SELECT phone_number_id, tenant_id FROM whatsapp_numbers WHERE phone_number_id = ANY(%s::text[])"
SEEN = """
    SELECT message_id, status FROM webhook_events
    WHERE tenant_id = %s AND (message_id, status) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
"""
RECORD = """
    INSERT INTO webhook_events (tenant_id, id, phone_number_id, message_id, status, outcome, reason, received_at,
                                hold_id, transaction_id)
    SELECT %(tenant)s, event.id, event.phone_number_id, event.message_id, event.status, 'applied', NULL, %(at)s,
           event.hold_id, event.transaction_id
    FROM unnest(%(ids)s::uuid[], %(numbers)s::text[], %(message_ids)s::text[], %(statuses)s::text[],
                %(hold_ids)s::uuid[], %(transaction_ids)s::uuid[])
         AS event(id, phone_number_id, message_id, status, hold_id, transaction_id)
    ON CONFLICT DO NOTHING
"""


def _number(side: str, index: int) -> str:
    """Meta's phone number id (digits) of a tenant: ours and the floor's never meet."""
    return f"10{1 if side == 'ours' else 2}65035224{index:04d}"


def _body(phone_number_id: str, statuses: list[tuple[str, str]], at: datetime) -> bytes:
    """Meta's envelope with one `messages` change: (message id, recipient) delivered, priced as the hold was."""
    pricing = {"billable": True, "pricing_model": "PMP", "category": CATEGORY, "type": "regular"}
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": phone_number_id},
        "statuses": [
            {
                "id": message_id,
                "status": "delivered",
                "timestamp": str(int(at.timestamp())),
                "recipient_id": recipient.lstrip("+"),
                "pricing": pricing,
            }
            for message_id, recipient in statuses
        ],
    }
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    return (items[start : start + size] for start in range(0, len(items), size))


async def _held(billing: BillingService, tenant: str, number: str, prefix: str, count: int) -> list[bytes]:
    """`count` messages of `tenant` held (batches of at most 1,000); their delivered statuses as signed-ready
    bodies of STATUSES_PER_BODY, from `number`."""
    platform = billing.as_platform("messaging")
    phones = recipients()
    messages = [(f"wamid.{prefix}-{tenant}-{i}", phones[i % len(phones)]) for i in range(count)]
    for batch in _chunks(messages, MAX_BATCH):
        placed = await platform.hold_batch(
            tenant, [{"message_id": m, "category": CATEGORY, "recipient": r} for m, r in batch]
        )
        assert placed.created
        assert len(placed.items) == len(batch)
    at = datetime.now(UTC)
    return [_body(number, chunk, at) for chunk in _chunks(messages, STATUSES_PER_BODY)]


def _round_robin(per_tenant: Iterable[list[bytes]]) -> list[bytes]:
    """The tenants' bodies interleaved: body j of every tenant, then body j + 1 of every tenant..."""
    lists = list(per_tenant)
    return [bodies[j] for j in range(max(map(len, lists))) for bodies in lists if j < len(bodies)]


async def _prepare(url: str, per_tenant: int, warm_up: int) -> dict[str, list[bytes]]:
    """The default card, 2 x TENANTS funded tenants with their numbers mapped, every message held: the bodies of
    ours (warm-up apart) and of the floor, each in sending order."""
    engine = create_engine(url, pool_size=2, max_overflow=0)
    billing = billing_on(url, engine)
    sides = {side: [f"webhook-{side}-{i}" for i in range(TENANTS)] for side in ("ours", "floor")}
    await _priced(billing, sides["ours"] + sides["floor"])
    operator = billing.as_platform("bench")
    bodies: dict[str, list[list[bytes]]] = {"warm-up": [], "ours": [], "floor": []}
    progress = Progress("holding the messages", 2 * TENANTS)
    for side, tenants in sides.items():
        for index, tenant in enumerate(tenants):
            number = _number(side, index)
            await operator.map_whatsapp_number(number, tenant)
            if side == "ours":
                bodies["warm-up"].append(await _held(billing, tenant, number, "w", warm_up))
            bodies[side].append(await _held(billing, tenant, number, side[0], per_tenant))
            progress.advance()
    await engine.dispose()
    return {name: _round_robin(lists) for name, lists in bodies.items()}


class WebhookClient(KeepAliveClient):
    """A keep-alive connection that posts raw bodies signed as Meta signs them."""

    def __init__(self, port: int) -> None:
        super().__init__(port, "")

    async def post(self, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (
            f"POST {WEBHOOK_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"{SIGNATURE_HEADER}: {sign(APP_SECRET, body)}\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
        return int(status_line.split()[1]), await self.reader.readexactly(length)


async def _post_all(port: int, bodies: list[bytes], label: str) -> float:
    """Every body over CLIENTS keep-alive connections, each answered 200 with all its statuses applied;
    statuses/s."""
    connections = [WebhookClient(port) for _ in range(CLIENTS)]
    progress = Progress(label, len(bodies))
    pending = iter(bodies)
    statuses = 0

    async def client(connection: WebhookClient) -> None:
        nonlocal statuses
        for body in pending:
            status, answer = await connection.post(body)
            assert status == 200, answer
            receipt = json.loads(answer)
            assert receipt["applied"] == receipt["received"] == STATUSES_PER_BODY, receipt
            statuses += receipt["applied"]
            progress.advance()

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in connections))
    rate = statuses / (time.perf_counter() - started)
    for connection in connections:
        await connection.close()
    return rate


async def _floor_body(conn: Conn, body: bytes) -> int:
    """One body applied by hand (see the module's docstring); the statuses applied."""
    value = json.loads(body)["entry"][0]["changes"][0]["value"]
    number, items = value["metadata"]["phone_number_id"], value["statuses"]
    tenants: dict[str, str] = dict(await (await conn.execute(TENANTS_OF, ([number],))).fetchall())
    tenant = tenants[number]
    now = datetime.now(UTC)
    month = now.strftime("%Y-%m")
    applied: list[tuple[str, str, uuid.UUID, uuid.UUID]] = []  # (message id, status, hold, ledger row)
    async with conn.transaction():
        found = await conn.execute(SEEN, (tenant, [s["id"] for s in items], [s["status"] for s in items]))
        seen = set(await found.fetchall())
        for status in items:
            if (status["id"], status["status"]) in seen:
                continue
            hold = await (await conn.execute(LOCK_HOLD, (tenant, status["id"]))).fetchone()
            assert hold is not None
            hold_id, state, expires_at, recipient, country, market, category, tier, card, unit_price, amount, free = (
                hold
            )
            assert state == "held", (status["id"], state)
            assert expires_at > now, (status["id"], expires_at)
            price = {
                "hold_id": str(hold_id),
                "category": category,
                "market": market,
                "country": country,
                "tier": tier,
                "rate_card_id": str(card),
                "unit_price": str(unit_price),
                "free_reason": free,
            }
            entry = uuid.uuid4()
            settled = await conn.execute(
                SETTLE,
                {
                    "tenant": tenant,
                    "hold": hold_id,
                    "entry": entry,
                    "amount": amount,
                    "category": category,
                    "message_id": status["id"],
                    "description": f"WhatsApp {category} message to {recipient} ({market})",
                    "price": json.dumps(price),
                    "at": now,
                },
            )
            assert await settled.fetchone() is not None
            await conn.execute(COUNT_SETTLED, (tenant, month, market, category))
            applied.append((status["id"], status["status"], hold_id, entry))
        await conn.execute(
            RECORD,
            {
                "tenant": tenant,
                "at": now,
                "ids": [uuid.uuid4() for _ in applied],
                "numbers": [number] * len(applied),
                "message_ids": [message_id for message_id, *_ in applied],
                "statuses": [status for _, status, *_ in applied],
                "hold_ids": [hold_id for *_, hold_id, _ in applied],
                "transaction_ids": [entry for *_, entry in applied],
            },
        )
    return len(applied)


async def _floor(url: str, bodies: list[bytes]) -> float:
    connections = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(CLIENTS)]
    progress = Progress("webhook bodies of 100: floor", len(bodies))
    pending = iter(bodies)
    statuses = 0

    async def worker(conn: Conn) -> None:
        nonlocal statuses
        for body in pending:
            applied = await _floor_body(conn, body)  # awaited first: `statuses += await ...` would lose counts
            statuses += applied
            progress.advance()

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in connections))
    rate = statuses / (time.perf_counter() - started)
    for connection in connections:
        await connection.close()
    return rate


def _check_settled(url: str, side: str, messages: int) -> None:
    """Every message of the side charged exactly once, no hold left open, an event per status."""
    like = f"webhook-{side}-%"
    with psycopg.connect(url) as conn:
        charges = conn.execute(
            "SELECT count(*), count(DISTINCT (tenant_id, reference_id)) FROM wallet_transactions"
            " WHERE tenant_id LIKE %s AND kind = 'charge'",
            (like,),
        ).fetchone()
        open_holds = conn.execute(
            "SELECT count(*) FROM holds WHERE tenant_id LIKE %s AND status = 'held'", (like,)
        ).fetchone()
        held = conn.execute("SELECT sum(held) FROM wallets WHERE tenant_id LIKE %s", (like,)).fetchone()
        events = conn.execute("SELECT count(*) FROM webhook_events WHERE tenant_id LIKE %s", (like,)).fetchone()
    assert charges == (messages, messages), (side, charges, messages)
    assert open_holds == (0,), (side, open_holds)
    assert held == (0,), (side, held)
    assert events == (messages,), (side, events, messages)


def webhook_statuses(url: str, size: Size) -> dict[str, Any]:
    """Statuses/s through `billing serve` (1 worker, CLIENTS connections) against the floor."""
    per_tenant = size.pick(2000, 200, STATUSES_PER_BODY)  # tiny: one body per tenant
    warm_up = STATUSES_PER_BODY
    bodies = asyncio.run(_prepare(url, per_tenant, warm_up))
    with mock.patch.dict(os.environ, {"BILLING_WHATSAPP_APP_SECRET": APP_SECRET}), served(url, 1) as (port, _):
        asyncio.run(_post_all(port, bodies["warm-up"], "webhook bodies of 100: warm-up"))
        ours = asyncio.run(_post_all(port, bodies["ours"], "webhook bodies of 100: ours"))
    _check_settled(url, "ours", TENANTS * (per_tenant + warm_up))
    floor = asyncio.run(_floor(url, bodies["floor"]))
    _check_settled(url, "floor", TENANTS * per_tenant)
    return {
        "ours": ours,
        "floor": floor,
        "statuses": TENANTS * per_tenant,
        "statuses_per_body": STATUSES_PER_BODY,
        "tenants": TENANTS,
        "clients": CLIENTS,
        "workers": 1,
        "absolute_target": f"≥ {TARGET_STATUSES_PER_SECOND:g} statuses/s",
        "meets_absolute_target": ours >= TARGET_STATUSES_PER_SECOND,
    }


def run_webhook(url: str, size: Size) -> dict[str, Any]:
    result = webhook_statuses(url, size)
    print(
        f"webhook-100: ours {result['ours']:,.0f} statuses/s, floor {result['floor']:,.0f}/s"
        f" (absolute target {result['absolute_target']}: {'met' if result['meets_absolute_target'] else 'NOT met'})"
    )
    return result
