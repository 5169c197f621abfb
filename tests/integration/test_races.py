"""Races on real connections: each racer holds its own connection and transaction, and all of them
are open before any sends a statement (see `race` in conftest.py).

Every racer's answer is a result or a domain error: a race's constraint violation never reaches the
caller as a raw database error. Every race ends with the ledger-consistency check.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.sqlalchemy.tables import invoices, wallet_transactions, wallets
from billing.application import runtime
from billing.application.caller import VIEW, Caller
from billing.application.handlers.invoices import SubscriptionLine
from billing.application.handlers.wallets import ChargeResult
from billing.application.ports import ConcurrencyConflictError
from billing.application.service import BillingService, BillingSession
from billing.domain.errors import (
    DuplicateError,
    InsufficientFundsError,
    InvalidStateError,
    ValidationError,
)
from billing.domain.invoice import Invoice, InvoiceStatus
from billing.domain.ledger import EntryKind, LedgerEntry
from billing.domain.topup import TopupRequest, TopupStatus
from billing.domain.wallet import Wallet

pytestmark = [pytest.mark.postgres, pytest.mark.many_connections]

TENANT = "clinic-a"


def settle(results: list[Any], expected: type[Exception] | tuple[type[Exception], ...] = ()) -> list[Any]:
    """The racers' results; every failure must be one of the `expected` domain errors."""
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, expected)]
    assert unexpected == [], [f"{type(error).__module__}.{type(error).__qualname__}: {error}" for error in unexpected]
    return [r for r in results if not isinstance(r, BaseException)]


def platform(service: BillingService) -> BillingSession:
    return service.as_platform("messaging")


async def ledger(engine: AsyncEngine, kind: EntryKind, tenant_id: str = TENANT) -> list[Any]:
    async with engine.connect() as connection:
        found = await connection.execute(
            select(wallet_transactions).where(
                wallet_transactions.c.tenant_id == tenant_id, wallet_transactions.c.kind == kind.value
            )
        )
        return list(found.mappings())


async def count_rows(engine: AsyncEngine, table: Any, tenant_id: str = TENANT) -> int:
    async with engine.connect() as connection:
        query = select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id)
        return int((await connection.execute(query)).scalar_one())


async def test_only_one_of_32_concurrent_payments_credits_a_topup(
    race: Any, issued_topup: Any, operator: BillingSession, engine: AsyncEngine, check_ledger: Any
) -> None:
    invoice = await issued_topup(TENANT, "150.00")

    results = await race(32, lambda s, i: platform(s).mark_invoice_paid(invoice.id, f"payment-{i}"))

    paid = settle(results, InvalidStateError)
    assert len(paid) == 1
    reloaded = await operator.invoice(invoice.id)
    assert reloaded == paid[0]
    assert reloaded.status is InvoiceStatus.PAID
    assert reloaded.topup_request_id is not None
    request = await operator.topup_request(reloaded.topup_request_id)
    assert request.status is TopupStatus.COMPLETED
    credits = await ledger(engine, EntryKind.TOPUP)
    assert [row["reference_id"] for row in credits] == [str(request.id)]
    assert await check_ledger(TENANT) == Decimal("150.00")


async def test_60_charges_of_10_against_100_leave_exactly_10_and_a_zero_balance(
    race: Any, paid_topup: Any, engine: AsyncEngine, check_ledger: Any
) -> None:
    await paid_topup(TENANT, "100.00")

    results = await race(60, lambda s, i: platform(s).charge(TENANT, "10.00", f"message-{i}"))

    charged = settle(results, InsufficientFundsError)
    assert len(charged) == 10
    assert all(result.created for result in charged)
    assert len(await ledger(engine, EntryKind.CHARGE)) == 10
    assert sorted(result.entry.balance_after.amount for result in charged) == [Decimal(10 * n) for n in range(10)]
    assert await check_ledger(TENANT) == Decimal("0.00")


async def test_20_charges_with_one_reference_share_one_ledger_row(
    race: Any, operator: BillingSession, engine: AsyncEngine, check_ledger: Any
) -> None:
    await operator.adjust(TENANT, "100.00", "opening balance")

    results: list[ChargeResult] = settle(
        await race(20, lambda s, i: platform(s).charge(TENANT, "2.50", "wamid.1", "WhatsApp message"))
    )

    assert len(results) == 20
    assert [result.created for result in results].count(True) == 1
    assert {result.entry for result in results} == {results[0].entry}  # the same row, field for field
    rows = await ledger(engine, EntryKind.CHARGE)
    assert [row["id"] for row in rows] == [results[0].entry.id]
    assert await check_ledger(TENANT) == Decimal("97.50")


async def test_racing_charges_of_one_reference_with_two_amounts_keep_the_first(
    race: Any, operator: BillingSession, engine: AsyncEngine, check_ledger: Any
) -> None:
    await operator.adjust(TENANT, "100.00", "opening balance")

    results = await race(20, lambda s, i: platform(s).charge(TENANT, "1.00" if i % 2 else "2.00", "wamid.1"))

    charged: list[ChargeResult] = settle(results, DuplicateError)
    assert len(charged) == 10  # every caller with the winner's amount; the others are conflicts
    assert len({result.entry for result in charged}) == 1
    assert len(await ledger(engine, EntryKind.CHARGE)) == 1
    assert await check_ledger(TENANT) == Decimal(100) + charged[0].entry.amount.amount


async def test_20_first_uses_of_a_wallet_open_one_wallet(race: Any, engine: AsyncEngine, check_ledger: Any) -> None:
    clinic = Caller("user-1", "clinic-new", {VIEW})

    results: list[Wallet] = settle(await race(20, lambda s, i: s.acting_as(clinic).wallet()))

    assert len(results) == 20
    assert {wallet.id for wallet in results} == {results[0].id}
    assert await count_rows(engine, wallets, "clinic-new") == 1
    assert await check_ledger("clinic-new") == Decimal("0.00")


async def test_concurrent_first_credits_of_a_new_tenant_open_one_wallet(
    race: Any, issued_topup: Any, engine: AsyncEngine, check_ledger: Any
) -> None:
    unpaid = [await issued_topup("clinic-new", f"{n}.00") for n in range(1, 11)]

    results = await race(10, lambda s, i: platform(s).mark_invoice_paid(unpaid[i].id, f"payment-{i}"))

    assert len(settle(results)) == 10
    assert await count_rows(engine, wallets, "clinic-new") == 1
    assert len(await ledger(engine, EntryKind.TOPUP, "clinic-new")) == 10
    assert await check_ledger("clinic-new") == Decimal(sum(range(1, 11)))


@pytest.mark.parametrize(
    ("amount", "succeeding", "refusal"),
    [
        ("1.00", 10, InvalidStateError),  # refunded in full, the rest find nothing left
        ("3.00", 3, ValidationError),  # 1.00 left is less than asked
        (None, 1, InvalidStateError),  # "the rest of the charge", once
    ],
)
async def test_concurrent_refunds_of_one_charge_never_refund_more_than_charged(
    race: Any,
    operator: BillingSession,
    engine: AsyncEngine,
    check_ledger: Any,
    amount: str | None,
    succeeding: int,
    refusal: type[Exception],
) -> None:
    await operator.adjust(TENANT, "50.00", "opening balance")
    await operator.charge(TENANT, "10.00", "wamid.1")

    results = await race(20, lambda s, i: platform(s).refund(TENANT, "wamid.1", amount))

    refunds: list[LedgerEntry] = settle(results, refusal)
    assert len(refunds) == succeeding
    refunded = sum(refund.amount.amount for refund in refunds)
    rows = await ledger(engine, EntryKind.REFUND)
    assert sum(row["amount"] for row in rows) == refunded <= Decimal("10.00")
    assert await check_ledger(TENANT) == Decimal("40.00") + refunded


async def test_only_one_of_concurrent_approvals_issues_an_invoice(
    race: Any, clinic_of: Any, operator: BillingSession, engine: AsyncEngine
) -> None:
    request = await clinic_of(TENANT).request_topup("25.00")

    results = await race(16, lambda s, i: platform(s).approve_topup(request.id, f"approval {i}"))

    approved: list[TopupRequest] = settle(results, InvalidStateError)
    assert len(approved) == 1
    assert await operator.topup_request(request.id) == approved[0]
    assert await count_rows(engine, invoices) == 1


async def test_only_one_of_concurrent_subscription_invoices_for_a_period_is_created(
    race: Any, operator: BillingSession, engine: AsyncEngine
) -> None:
    lines = [SubscriptionLine("Platform subscription", "49.00")]

    results = await race(16, lambda s, i: platform(s).create_subscription_invoice(TENANT, "2026-11", lines))

    created: list[Invoice] = settle(results, DuplicateError)
    assert len(created) == 1
    assert await operator.invoice(created[0].id) == created[0]
    assert await count_rows(engine, invoices) == 1


async def test_payments_and_charges_racing_on_one_wallet_keep_the_ledger_consistent(
    race: Any, operator: BillingSession, issued_topup: Any, engine: AsyncEngine, check_ledger: Any
) -> None:
    await operator.adjust(TENANT, "20.00", "opening balance")
    unpaid = [await issued_topup(TENANT, "5.00") for _ in range(10)]

    def act(service: BillingService, i: int) -> Any:
        if i < len(unpaid):
            return platform(service).mark_invoice_paid(unpaid[i].id, f"payment-{i}")
        return platform(service).charge(TENANT, "2.00", f"message-{i}")

    results = settle(await race(50, act), InsufficientFundsError)

    charges = [result for result in results if isinstance(result, ChargeResult)]
    assert len(results) - len(charges) == 10  # every payment went through
    assert len(await ledger(engine, EntryKind.CHARGE)) == len(charges) >= 10
    assert await check_ledger(TENANT) == Decimal("70.00") - 2 * len(charges)


async def test_the_races_are_real_without_retries_the_losers_see_a_conflict(
    race: Any, operator: BillingSession, engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With one attempt only, the reference race's losers surface: they all collided with the winner
    at the unique index (not at a lucky earlier read), and even then no raw database error escapes."""
    await operator.adjust(TENANT, "100.00", "opening balance")
    monkeypatch.setattr(runtime, "ATTEMPTS", 1)

    results = await race(20, lambda s, i: platform(s).charge(TENANT, "2.50", "wamid.1"))

    charged: list[ChargeResult] = settle(results, ConcurrencyConflictError)
    assert len(charged) < 20
    assert [result.created for result in charged].count(True) == 1
    assert len(await ledger(engine, EntryKind.CHARGE)) == 1
