"""Races across the workers of `billing serve --workers 2`: concurrent payments of one invoice (with
distinct keys and with one shared Idempotency-Key), concurrent charges of one reference and of distinct
references, all through httpx.AsyncClient over keep-alive connections that both workers hold.
Exactly-once holds: one top-up row, one charge row per reference, and a ledger that explains the balance.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from typing import Any

import attrs
import httpx
import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from billing.adapters.embedded import free_port
from billing.application.caller import VIEW

from .support import (
    BASE,
    OPERATOR,
    Served,
    accepted_connections,
    bearer,
    billing_command,
    billing_env,
    billing_serve,
    check_ledger,
    keyed,
    ledger_rows,
)

pytestmark = [pytest.mark.postgres, pytest.mark.many_connections]

RACERS = 16  # per race; half of them on each worker
MAX_CONNECTIONS = 400


@pytest.fixture(scope="module")
def shared_database_url(postgres_server_url: str, template_database: str) -> Iterator[str]:
    """One migrated database for the module's one server; each test races on a clinic of its own."""
    name = f"billing_workers_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template_database))
        )
    yield make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="module")
def served(shared_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    log = tmp_path_factory.mktemp("workers") / "serve.log"
    with billing_serve(shared_database_url, free_port(), log, workers=2) as server:
        yield server


@pytest.fixture
def clinic() -> str:
    return f"clinic-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def clinic_user(clinic: str) -> dict[str, str]:
    return bearer(clinic, VIEW, user="clinic-user")


@attrs.frozen
class WorkerClients:
    """Single-connection clients, RACERS of them known to be served by each of the two workers."""

    by_worker: dict[int, list[httpx.AsyncClient]]

    def spread(self, n: int) -> list[httpx.AsyncClient]:
        """`n` (at most 2 * RACERS) distinct clients, alternating between the workers."""
        first, second = self.by_worker.values()
        return [(first, second)[i % 2][i // 2] for i in range(n)]


@pytest.fixture
async def clients(served: Served) -> AsyncIterator[WorkerClients]:
    """Open connections one at a time and keep RACERS of them per worker: the workers listen on one port (the
    kernel picks the worker of each connection), and /proc tells which worker accepted each one."""
    workers = served.worker_pids()
    assert len(workers) == 2, f"billing serve --workers 2 started {workers}"
    port = int(served.base_url.rsplit(":", 1)[1])
    by_worker: dict[int, list[httpx.AsyncClient]] = {pid: [] for pid in workers}
    tls = ssl.create_default_context()  # unused on http://, but each client would build its own (slowly)
    opened: list[httpx.AsyncClient] = []
    try:
        while not all(len(pool) >= RACERS for pool in by_worker.values()):
            assert len(opened) < MAX_CONNECTIONS, f"{MAX_CONNECTIONS} connections never reached both workers"
            before = accepted_connections(workers, port)
            client = httpx.AsyncClient(
                base_url=served.base_url + BASE, timeout=30, limits=httpx.Limits(max_connections=1), verify=tls
            )
            opened.append(client)
            assert (await client.get(served.base_url + "/health")).status_code == 200  # its one keep-alive connection
            new = {c: pid for c, pid in accepted_connections(workers, port).items() if c not in before}
            assert len(new) == 1, new
            pool = by_worker[next(iter(new.values()))]
            if len(pool) < RACERS:
                pool.append(client)
        yield WorkerClients(by_worker)
    finally:
        for client in opened:
            await client.aclose()


async def _post(client: httpx.AsyncClient, path: str, headers: dict[str, str], body: Any) -> httpx.Response:
    return await client.post(path, headers=headers, json=body)


async def _race(*calls: Any) -> list[httpx.Response]:
    async with asyncio.timeout(60):
        return list(await asyncio.gather(*calls))


async def _issued_invoice(client: httpx.AsyncClient, clinic_user: dict[str, str], amount: str) -> tuple[str, str]:
    created = await _post(client, "/wallet/topup-requests", clinic_user, {"amount": amount})
    approved = await _post(client, f"/wallet/topup-requests/{created.json()['id']}/approve", OPERATOR, {})
    assert approved.status_code == 200, approved.text
    return approved.json()["invoice_id"], created.json()["id"]


def _codes(responses: list[httpx.Response]) -> Counter[tuple[int, str]]:
    return Counter(
        (r.status_code, r.json()["code"] if r.headers["content-type"].startswith("application/problem") else "ok")
        for r in responses
    )


async def test_concurrent_payments_of_one_invoice_across_workers_credit_it_once(
    clients: WorkerClients, shared_database_url: str, clinic: str, clinic_user: dict[str, str]
) -> None:
    racers = clients.spread(RACERS)
    invoice_id, request_id = await _issued_invoice(racers[0], clinic_user, "300.00")
    pay = f"/invoices/{invoice_id}/mark-paid"

    responses = await _race(
        *(_post(c, pay, keyed(OPERATOR, f"pay-{i}"), {"payment_reference": f"bank-{i}"}) for i, c in enumerate(racers))
    )

    assert _codes(responses) == {(200, "ok"): 1, (409, "invalid_state"): RACERS - 1}
    assert ledger_rows(shared_database_url, clinic, "topup") == [(request_id, Decimal("300.00"))]
    assert check_ledger(shared_database_url, clinic) == Decimal("300.00")


async def test_one_idempotency_key_raced_across_workers_pays_once(
    clients: WorkerClients, shared_database_url: str, clinic: str, clinic_user: dict[str, str]
) -> None:
    racers = clients.spread(RACERS)
    invoice_id, request_id = await _issued_invoice(racers[0], clinic_user, "40.00")
    pay = f"/invoices/{invoice_id}/mark-paid"
    same = keyed(OPERATOR, "one-payment")

    responses = await _race(*(_post(c, pay, same, {"payment_reference": "bank-1"}) for c in racers))

    codes = _codes(responses)
    assert set(codes) <= {(200, "ok"), (409, "idempotency_in_progress")}, codes
    first = [r for r in responses if r.status_code == 200 and "Idempotent-Replayed" not in r.headers]
    assert len(first) == 1, codes
    assert all(r.content == first[0].content for r in responses if r.status_code == 200)
    assert ledger_rows(shared_database_url, clinic, "topup") == [(request_id, Decimal("40.00"))]


async def test_concurrent_charges_across_workers_debit_each_reference_once(
    clients: WorkerClients, shared_database_url: str, clinic: str, clinic_user: dict[str, str]
) -> None:
    racers = clients.spread(RACERS * 2)
    invoice_id, _ = await _issued_invoice(racers[0], clinic_user, "100.00")
    paid = await _post(racers[0], f"/invoices/{invoice_id}/mark-paid", OPERATOR, {"payment_reference": "bank"})
    assert paid.status_code == 200, paid.text
    charges = f"/wallets/{clinic}/charges"
    same = {"amount": "2.50", "reference_id": "wamid.same", "description": "WhatsApp message"}

    repeated = await _race(*(_post(c, charges, OPERATOR, same) for c in racers[:RACERS]))
    distinct = await _race(
        *(_post(c, charges, OPERATOR, {"amount": "0.75", "reference_id": f"wamid.{i}"}) for i, c in enumerate(racers))
    )

    assert Counter(r.status_code for r in repeated) == {201: 1, 200: RACERS - 1}, [r.text for r in repeated]
    assert len({r.json()["id"] for r in repeated}) == 1
    assert Counter(r.status_code for r in distinct) == {201: RACERS * 2}, [r.text for r in distinct]
    rows = Counter(reference for reference, _ in ledger_rows(shared_database_url, clinic, "charge"))
    assert rows == {"wamid.same": 1, **{f"wamid.{i}": 1 for i in range(RACERS * 2)}}
    assert (
        check_ledger(shared_database_url, clinic) == Decimal("100.00") - Decimal("2.50") - Decimal("0.75") * RACERS * 2
    )
    audit = billing_command("audit", env=billing_env(shared_database_url))
    assert audit.returncode == 0, audit.stdout + audit.stderr
