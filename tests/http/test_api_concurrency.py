"""Many clients at once through HTTP: credits and debits happen exactly once.

Requests go through httpx's ASGI transport, which runs them as concurrent tasks (Litestar's test client
would run them one after another), each with its own unit of work and, on PostgreSQL, its own connection.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from api_support import CLINIC, OPERATOR, Api, TickingClock

from billing.container import Container
from billing.entrypoints.http.app import create_app

pytestmark = pytest.mark.many_connections


@pytest.fixture
async def api(container: Container, clock: TickingClock) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=create_app(container, deliver_email=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as client:
        yield Api(client, clock)  # type: ignore[arg-type]


async def test_concurrent_mark_paid_of_one_invoice_credits_once(api: Api) -> None:
    request = await api.invoiced("150.00")
    body = {"payment_reference": "bank-1"}

    responses = await asyncio.gather(
        *(api.post(f"/invoices/{request['invoice_id']}/mark-paid", OPERATOR, body) for _ in range(16))
    )

    assert Counter(r.status_code for r in responses) == {200: 1, 409: 15}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"invalid_state"}
    ledger = (await api.get(f"/wallets/{CLINIC}/transactions", OPERATOR)).json()
    assert [(row["kind"], row["amount"]) for row in ledger["items"]] == [("topup", "150.00")]
    assert await api.balance(CLINIC) == "150.00"


async def test_concurrent_charges_never_overdraw(api: Api) -> None:
    await api.fund("100.00")

    responses = await asyncio.gather(
        *(
            api.post(f"/wallets/{CLINIC}/charges", OPERATOR, {"amount": "10.00", "reference_id": f"m-{i}"})
            for i in range(30)
        )
    )

    assert Counter(r.status_code for r in responses) == {201: 10, 409: 20}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"insufficient_funds"}
    assert await api.balance(CLINIC) == "0.00"


async def test_concurrent_charges_of_one_reference_debit_once_and_answer_the_same_row(api: Api) -> None:
    await api.fund("100.00")
    body = {"amount": "2.50", "reference_id": "wamid.same"}

    responses = await asyncio.gather(*(api.post(f"/wallets/{CLINIC}/charges", OPERATOR, body) for _ in range(12)))

    assert Counter(r.status_code for r in responses) == {201: 1, 200: 11}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await api.balance(CLINIC) == "97.50"
