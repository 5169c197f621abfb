"""The database restarts under load: a real `billing serve` on an embedded PostgreSQL of its own.

While four clients charge a clinic's wallet (each charge with its own reference and Idempotency-Key),
the test stops the database and starts it again. `/ready` answers 503 while it is away and 200 once it
is back; the service recovers by itself (the same process, never restarted) and keeps charging. A
charge that got a 2xx is in the ledger exactly once; one that got a 503 or lost its connection is
retried with the same key and then exists exactly once (a replay if its first attempt had committed).
`billing audit` finds no drift.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import attrs
import httpx
import pytest

from billing.adapters.embedded import EmbeddedPostgres, free_port

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
    keyed,
    ledger_rows,
)

pytestmark = pytest.mark.postgres

CLIENTS = 4
MAX_CHARGES_PER_CLIENT = 150
LOAD_SECONDS = 60.0
WAIT_SECONDS = 30.0
AMOUNT = Decimal("0.01")


@pytest.fixture
def served(own_postgres: EmbeddedPostgres, tmp_path: Path) -> Iterator[Served]:
    upgraded = billing_command("db", "upgrade", env=billing_env(own_postgres.url))
    assert upgraded.returncode == 0, upgraded.stderr
    with billing_serve(own_postgres.url, free_port(), tmp_path / "serve.log") as server:
        yield server


@attrs.define
class Outcomes:
    """What each reference's first attempt answered: a status code, or the transport error's name."""

    first: dict[str, int | str] = attrs.field(factory=dict)
    successes: int = 0

    def statuses(self) -> Counter[int | str]:
        return Counter(self.first.values())


async def _charge(client: httpx.AsyncClient, reference: str) -> httpx.Response:
    body = {"amount": str(AMOUNT), "reference_id": reference, "description": "WhatsApp message"}
    return await client.post(f"{BASE}/wallets/{CLINIC}/charges", headers=keyed(OPERATOR, reference), json=body)


async def _charging(client: httpx.AsyncClient, number: int, outcomes: Outcomes, stop: asyncio.Event) -> None:
    for index in range(MAX_CHARGES_PER_CLIENT):
        if stop.is_set():
            return
        reference = f"wamid.{number}-{index}"
        try:
            response = await _charge(client, reference)
        except httpx.TransportError as error:
            outcomes.first[reference] = type(error).__name__
        else:
            outcomes.first[reference] = response.status_code
            outcomes.successes += response.is_success
            if response.status_code == 503:
                assert response.json()["code"] == "unavailable", response.text
        await asyncio.sleep(0.01 if outcomes.first[reference] == 201 else 0.2)  # back off while it is away


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


async def _wait_for_successes(outcomes: Outcomes, count: int) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while outcomes.successes < count:
        assert time.monotonic() < deadline, f"only {outcomes.successes} charges succeeded: {outcomes.statuses()}"
        await asyncio.sleep(0.05)


async def _restart_under_load(served: Served, database: EmbeddedPostgres, outcomes: Outcomes) -> None:
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=served.base_url, timeout=15) as client:
        load = [asyncio.create_task(_charging(client, n, outcomes, stop)) for n in range(CLIENTS)]
        try:
            async with asyncio.timeout(LOAD_SECONDS):
                await _wait_for_successes(outcomes, 20)
                await asyncio.to_thread(database.stop)
                await _wait_for_ready(client, 503)
                assert_unavailable(await client.get("/ready"))  # a problem that says why, not a trace
                await asyncio.sleep(0.5)  # the clients keep charging against the missing database
                await asyncio.to_thread(database.start)
                await _wait_for_ready(client, 200)
                await _wait_for_successes(outcomes, outcomes.successes + 20)
        finally:
            stop.set()
            await asyncio.gather(*load)


async def _retry_until_done(client: httpx.AsyncClient, reference: str) -> httpx.Response:
    """The same charge with the same key, until it answers 2xx (a bounded number of times)."""
    for _ in range(50):
        try:
            response = await _charge(client, reference)
        except httpx.TransportError:
            await asyncio.sleep(0.1)
            continue
        if response.is_success:
            return response
        assert response.status_code in (409, 503), response.text
        if response.status_code == 409:
            assert response.json()["code"] == "idempotency_in_progress", response.text
        await asyncio.sleep(0.1)
    raise AssertionError(f"{reference} never completed")


async def test_a_database_restart_under_load_loses_and_doubles_no_charge(
    served: Served, own_postgres: EmbeddedPostgres
) -> None:
    url = own_postgres.url
    async with httpx.AsyncClient(base_url=served.base_url + BASE, timeout=15) as client:
        created = await client.post("/wallet/topup-requests", headers=CLINIC_USER, json={"amount": "1000.00"})
        approved = await client.post(f"/wallet/topup-requests/{created.json()['id']}/approve", headers=OPERATOR)
        paid = await client.post(
            f"/invoices/{approved.json()['invoice_id']}/mark-paid", headers=OPERATOR, json={"payment_reference": "b"}
        )
        assert paid.status_code == 200, paid.text
    outcomes = Outcomes()

    await _restart_under_load(served, own_postgres, outcomes)

    statuses = outcomes.statuses()
    assert set(statuses) <= {201, 503} | {name for name in statuses if isinstance(name, str)}, statuses
    assert statuses[503] > 0, f"no charge met the missing database: {statuses}"
    answered = {reference for reference, status in outcomes.first.items() if status == 201}
    unknown = set(outcomes.first) - answered
    before_retry = Counter(reference for reference, _ in ledger_rows(url, CLINIC, "charge"))
    assert all(count == 1 for count in before_retry.values()), before_retry
    assert answered <= set(before_retry), "a charge answered 201 is missing from the ledger"
    assert set(before_retry) <= set(outcomes.first), "a ledger row no request asked for"

    async with httpx.AsyncClient(base_url=served.base_url, timeout=15) as client:
        retried = {reference: await _retry_until_done(client, reference) for reference in sorted(unknown)}
    for reference, response in retried.items():
        replayed = response.headers.get("Idempotent-Replayed") == "true"
        assert replayed is (reference in before_retry), (reference, response.status_code, response.headers)

    charges = ledger_rows(url, CLINIC, "charge")
    assert sorted(reference for reference, _ in charges) == sorted(outcomes.first)
    assert {amount for _, amount in charges} == {-AMOUNT}
    assert check_ledger(url, CLINIC) == Decimal("1000.00") - AMOUNT * len(outcomes.first)
    assert served.process.poll() is None, "the service restarted or died"
    audit = billing_command("audit", env=billing_env(url))
    assert audit.returncode == 0, audit.stdout + audit.stderr
