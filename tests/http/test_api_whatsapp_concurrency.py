"""Meta's webhook posted by 8 clients at once (contract v2 §11, PostgreSQL): two bodies carrying the same statuses,
each posted by every client concurrently, charge each message once. The app runs in this event loop (httpx's ASGI
transport), so the requests really overlap, each on its own pooled connection."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
import pytest
from api_support import BASE, SECRET

from billing.config import JwtSettings, Settings, WhatsAppSettings
from billing.container import close, postgres_container
from billing.domain.ledger import EntryKind
from billing.domain.whatsapp import sign
from billing.entrypoints.http.app import create_app

pytestmark = [pytest.mark.postgres, pytest.mark.many_connections]

APP_SECRET = "concurrency-app-secret"
PHONE = "106540352242922"
CLINIC = "clinic-a"
MESSAGES = [f"wamid.race-{n}" for n in range(20)]


def _body(statuses: list[tuple[str, str]]) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE},
        "statuses": [
            {
                "id": message_id,
                "status": name,
                "timestamp": str(int(time.time())),
                "recipient_id": "14155552671",
                "pricing": {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"},
            }
            for message_id, name in statuses
        ],
    }
    change = {"value": value, "field": "messages"}
    envelope = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}
    return json.dumps(envelope).encode()


async def test_two_bodies_of_the_same_statuses_posted_by_8_clients_at_once_charge_each_message_once(
    database_url: str,
) -> None:
    settings = Settings(
        database_url=database_url,
        jwt=JwtSettings(secret=SECRET),
        whatsapp=WhatsAppSettings(app_secret=APP_SECRET, verify_token="t"),
    )
    container = postgres_container(settings)
    messaging = container.service().as_platform("messaging")
    rates = [{"market": "North America", "category": "utility", "unit_price": "0.05"}]
    await messaging.create_rate_card("Card", datetime.now(UTC) - timedelta(days=1), {"US": "North America"}, rates)
    await messaging.adjust(CLINIC, "10.00", "funding for the test")
    await messaging.map_whatsapp_number(PHONE, CLINIC)
    await messaging.hold_batch(
        CLINIC, [{"message_id": m, "category": "utility", "recipient": "+14155552671"} for m in MESSAGES]
    )
    # The same statuses in two bodies, in other orders: read before delivered in one, after in the other.
    first = _body([(m, s) for m in MESSAGES for s in ("read", "delivered")])
    second = _body([(m, s) for m in reversed(MESSAGES) for s in ("delivered", "read")])
    app = create_app(container, deliver_email=False, expire_holds=False)

    async def post(client: httpx.AsyncClient, raw: bytes) -> int:
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, raw)}
        for _ in range(5):  # Meta redelivers what was not a 200
            response = await client.post(BASE + "/webhooks/whatsapp", content=raw, headers=headers)
            if response.status_code == 200:
                return 200
        return response.status_code

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as client:
            answers = await asyncio.gather(*(post(client, raw) for _ in range(8) for raw in (first, second)))
        ledger = await container.service().as_platform("audit").transactions(CLINIC, page_size=100)
        wallet = await messaging.wallet(CLINIC)
    finally:
        await close(container)

    assert answers == [200] * 16
    charged: dict[str | None, list[Decimal]] = {}
    for entry in ledger.items:
        if entry.kind is EntryKind.CHARGE:
            charged.setdefault(entry.reference_id, []).append(entry.amount.amount)
    assert charged == {m: [Decimal("-0.05")] for m in MESSAGES}
    assert (str(wallet.balance), str(wallet.held)) == ("9.00", "0.00")
