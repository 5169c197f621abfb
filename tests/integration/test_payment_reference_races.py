"""One bank transfer, two invoices (contract v2 §12): operators marking two invoices of one tenant paid at once
with the same payment reference in another case and spacing end with one paid invoice, one `duplicate`, and the
wallet credited once, even when both are past the application's check before either commits."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from billing.application.service import BillingService, BillingSession
from billing.domain.errors import DuplicateError
from billing.domain.invoice import InvoiceStatus
from billing.domain.topup import TopupStatus

pytestmark = [pytest.mark.postgres, pytest.mark.many_connections]

TENANT = "clinic-a"
REFERENCES = (" Ref-1 ", "ref-1")
AMOUNTS = ("100.00", "200.00")
WAIT_SECONDS = 20


def platform(service: BillingService) -> BillingSession:
    return service.as_platform("messaging")


async def _outcome(operator: BillingSession, invoices: list[Any], results: list[Any]) -> tuple[int, DuplicateError]:
    """Which racer paid (its index) and the other's error; both invoices and requests as the outcome says."""
    [refused] = [r for r in results if isinstance(r, BaseException)]
    assert isinstance(refused, DuplicateError), repr(refused)
    [winner] = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
    loser = 1 - winner
    paid, unpaid = await operator.invoice(invoices[winner].id), await operator.invoice(invoices[loser].id)
    assert (paid.status, paid.payment_reference) == (InvoiceStatus.PAID, REFERENCES[winner])
    assert (unpaid.status, unpaid.payment_reference, unpaid.paid_at) == (InvoiceStatus.ISSUED, None, None)
    assert unpaid.topup_request_id is not None
    assert (await operator.topup_request(unpaid.topup_request_id)).status is TopupStatus.INVOICED
    return winner, refused


async def test_two_invoices_paid_at_once_with_one_reference_credit_once(
    race: Any, issued_topup: Any, operator: BillingSession, check_ledger: Any
) -> None:
    for round_ in range(5):  # each round its own tenant: a fresh wallet, a fresh pair of invoices
        tenant = f"{TENANT}-{round_}"
        invoices = [await issued_topup(tenant, amount) for amount in AMOUNTS]

        results = await race(2, lambda s, i, pair=invoices: platform(s).mark_invoice_paid(pair[i].id, REFERENCES[i]))

        winner, _ = await _outcome(operator, invoices, results)
        assert await check_ledger(tenant) == Decimal(AMOUNTS[winner])


async def _wait_until_both_wait(url: str, tasks: list[asyncio.Future[Any]]) -> None:
    """Until two sessions of this database wait on a lock (both payers are past their reads)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as watcher:
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                cursor = await watcher.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND cardinality(pg_blocking_pids(pid)) > 0"
                )
                row = await cursor.fetchone()
                if row is not None and row[0] == 2:
                    return
                done = [task.result() for task in tasks if task.done()]
                assert not done, f"a payer finished without waiting: {done!r}"
                await asyncio.sleep(0.01)


async def test_when_both_pass_the_check_the_unique_index_decides(
    database_url: str, service: BillingService, issued_topup: Any, check_ledger: Any
) -> None:
    """Payers of one tenant queue on its wallet's row (the lock order) before they check the reference, so only a
    tenant without a wallet yet lets both past the check. Here the wallets table is held in SHARE mode, so both
    payers read "reference unused" and stop at the credit (its INSERT); once released, PostgreSQL's
    `ux_invoices_payment_reference` refuses the second, and its error is the domain's."""
    invoices = [await issued_topup(TENANT, amount) for amount in AMOUNTS]
    operator = platform(service)

    async with await psycopg.AsyncConnection.connect(database_url) as locker:
        await locker.execute("LOCK TABLE wallets IN SHARE MODE")
        tasks = [
            asyncio.ensure_future(operator.mark_invoice_paid(invoice.id, reference))
            for invoice, reference in zip(invoices, REFERENCES, strict=True)
        ]
        try:
            await _wait_until_both_wait(database_url, tasks)
        finally:
            await locker.commit()
        async with asyncio.timeout(WAIT_SECONDS):
            results = await asyncio.gather(*tasks, return_exceptions=True)

    winner, refused = await _outcome(operator, invoices, results)
    violation = refused.__cause__
    assert isinstance(violation, psycopg.errors.UniqueViolation), repr(violation)
    assert violation.diag.constraint_name == "ux_invoices_payment_reference"
    assert await check_ledger(TENANT) == Decimal(AMOUNTS[winner])
