"""Payment reversals racing on real connections (contract v3 §19): each racer holds its own connection and
transaction, and the first `n` are all open before any sends a statement (`StartTogether` in conftest.py).

The service is wired as `postgres_container` wires it (the runtime prices real phone numbers); only its unit of work
factory is the racing one. Every race ends with the ledger check, `held` = the sum of the open holds, and the debt
explained: debt = the reversal's uncovered part less the `debt_repayment` rows, each release repaying once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.memory.clock import ManualClock
from billing.adapters.sqlalchemy.tables import holds
from billing.application.service import BillingService, BillingSession
from billing.domain.errors import InsufficientFundsError, InvalidStateError, WalletInDebtError
from billing.domain.hold import HoldStatus
from billing.domain.invoice import Invoice, InvoiceStatus
from billing.domain.ledger import EntryKind, LedgerEntry
from billing.domain.topup import TopupStatus
from billing.domain.wallet import Wallet

from .conftest import CheckLedger, PlatformRace

pytestmark = [pytest.mark.postgres, pytest.mark.many_connections]

TENANT = "clinic-a"
NUMBER = "+14155552671"
PRICE = Decimal("0.05")
ZERO = Decimal(0)


def outcomes(results: list[Any], expected: type[Exception] | tuple[type[Exception], ...] = ()) -> list[Any]:
    """The racers' results; every failure must be one of the `expected` domain errors (never a raw database
    error, never a conflict that outlived its retries)."""
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, expected)]
    assert unexpected == [], [f"{type(error).__module__}.{type(error).__qualname__}: {error}" for error in unexpected]
    return [r for r in results if not isinstance(r, BaseException)]


@pytest.fixture
def messaging(billing: BillingService) -> BillingSession:
    return billing.as_platform("messaging")


@pytest.fixture
async def priced(messaging: BillingSession, clock: ManualClock) -> None:
    """A card pricing every country's utility messages at 0.05."""
    rates = [{"market": "Rest", "category": "utility", "unit_price": str(PRICE)}]
    await messaging.create_rate_card("Default", clock.now() - timedelta(days=1), {"*": "Rest"}, rates)


Pay = Callable[[str, str], Awaitable[Invoice]]


@pytest.fixture
def issue(billing: BillingService, messaging: BillingSession, clinic_of: Any) -> Pay:
    """A clinic's top-up request for `amount`, approved: its issued invoice."""

    async def issued(tenant_id: str, amount: str) -> Invoice:
        request = await billing.acting_as(clinic_of(tenant_id).caller).request_topup(amount)
        return await messaging.create_topup_invoice(request.id)

    return issued


@pytest.fixture
def pay(messaging: BillingSession, issue: Pay) -> Pay:
    async def paid(tenant_id: str, amount: str) -> Invoice:
        invoice = await issue(tenant_id, amount)
        return await messaging.mark_invoice_paid(invoice.id, f"bank-{invoice.number}")

    return paid


async def ledger(messaging: BillingSession, tenant_id: str = TENANT) -> list[LedgerEntry]:
    rows: list[LedgerEntry] = []
    page = 1
    while True:
        chunk = await messaging.transactions(tenant_id, page=page, page_size=100)
        rows.extend(chunk.items)
        if len(rows) >= chunk.total:
            return list(reversed(rows))  # oldest first
        page += 1


async def books(
    messaging: BillingSession, engine: AsyncEngine, check_ledger: CheckLedger, tenant_id: str = TENANT
) -> Wallet:
    """The wallet, once the ledger explains its balance, `held` is the open holds and the debt is explained."""
    balance = await check_ledger(tenant_id)
    wallet = await messaging.wallet(tenant_id)
    async with engine.connect() as connection:
        open_sum = (
            await connection.execute(
                select(func.coalesce(func.sum(holds.c.amount), 0)).where(
                    holds.c.tenant_id == tenant_id, holds.c.status == HoldStatus.HELD.value
                )
            )
        ).scalar_one()
    assert wallet.balance.amount == balance
    assert wallet.held.amount == open_sum, (wallet.held, open_sum)
    assert balance >= wallet.held.amount >= 0
    assert wallet.debt.amount >= 0
    assert wallet.debt.amount == 0 or wallet.available.amount == 0, wallet
    reversed_ = (await messaging.invoices(tenant_id, status="payment_reversed", page_size=100)).items
    uncovered = sum((i.debt_added.amount for i in reversed_ if i.debt_added is not None), ZERO)
    repaid = -sum(
        (r.amount.amount for r in await ledger(messaging, tenant_id) if r.kind is EntryKind.DEBT_REPAYMENT), ZERO
    )
    assert wallet.debt.amount == uncovered - repaid, (wallet.debt, uncovered, repaid)
    return wallet


async def test_ten_reversals_of_one_invoice_at_once_reverse_it_once(
    platform_race: PlatformRace, pay: Pay, messaging: BillingSession, engine: AsyncEngine, check_ledger: CheckLedger
) -> None:
    invoice = await pay(TENANT, "50.00")

    results = await platform_race(10, lambda p, i: p.reverse_payment(invoice.id, f"bounced, says racer {i}"))

    won: list[Invoice] = outcomes(results, InvalidStateError)
    assert len(won) == 1
    assert all(r.code == "invalid_state" for r in results if isinstance(r, InvalidStateError))
    stored = await messaging.invoice(invoice.id)
    assert stored == won[0]
    assert (stored.status, stored.reversed_amount.amount, stored.debt_added.amount) == (
        InvoiceStatus.PAYMENT_REVERSED,
        Decimal("50.00"),
        ZERO,
    )
    request = await messaging.topup_request(invoice.topup_request_id)
    assert request.status is TopupStatus.REVERSED
    reversals = [r for r in await ledger(messaging) if r.kind is EntryKind.PAYMENT_REVERSAL]
    assert [(r.amount.amount, r.reference_id) for r in reversals] == [(Decimal("-50.00"), str(request.id))]
    audited = (await messaging.audit(action="reverse_payment", target_id=str(invoice.id))).items
    assert len(audited) == 1
    wallet = await books(messaging, engine, check_ledger)
    assert (wallet.balance.amount, wallet.debt.amount) == (ZERO, ZERO)


async def test_a_reversal_racing_holds_and_voids_owes_exactly_what_was_held_and_is_repaid_once(
    platform_race: PlatformRace,
    priced: None,
    pay: Pay,
    messaging: BillingSession,
    engine: AsyncEngine,
    check_ledger: CheckLedger,
) -> None:
    invoice = await pay(TENANT, "5.00")
    early = [f"early.{k}" for k in range(30)]
    for message_id in early:  # 1.50 held before the race; the last 10 stay open through it, so the reversal owes
        await messaging.hold(TENANT, message_id, "utility", NUMBER)

    async def act(platform: BillingSession, i: int) -> Any:
        if i == 0:
            return await platform.reverse_payment(invoice.id, "bounced")
        if i <= 20:
            return await platform.void(TENANT, early[i - 1])
        message_id = f"late.{i}"
        try:
            await platform.hold(TENANT, message_id, "utility", NUMBER)
        except (WalletInDebtError, InsufficientFundsError) as refused:  # after the reversal: no money for it
            return refused.code
        return await platform.void(TENANT, message_id)

    results = await platform_race(50, act)

    answered = outcomes(results, (WalletInDebtError, InsufficientFundsError))
    refusals = [r for r in answered if isinstance(r, str)]
    assert set(refusals) <= {"wallet_in_debt", "insufficient_funds"}
    for message_id in early[20:]:  # released after the race: they repay the rest
        await messaging.void(TENANT, message_id)
    reversed_ = await messaging.invoice(invoice.id)
    assert reversed_.status is InvoiceStatus.PAYMENT_REVERSED
    covered, owed = reversed_.reversed_amount.amount, reversed_.debt_added.amount
    assert covered + owed == Decimal("5.00")
    rows = await ledger(messaging)
    [reversal] = [r for r in rows if r.kind is EntryKind.PAYMENT_REVERSAL]
    assert reversal.amount.amount == -covered
    # Only the top-up came in before it, and nothing was spent: what it left in the balance is what was held then,
    # and that is exactly the debt (available was taken to 0).
    assert reversal.balance_after.amount == owed >= Decimal("0.50")
    repayments = [r for r in rows if r.kind is EntryKind.DEBT_REPAYMENT]
    references = [r.reference_id for r in repayments]
    assert len(references) == len(set(references)), "a release repaid twice"
    assert all(ZERO < -r.amount.amount <= PRICE for r in repayments)
    assert all(rows.index(r) > rows.index(reversal) for r in repayments)
    final = {row["message_id"]: row["status"] for row in await _holds(engine)}
    assert set(references) <= {m for m, status in final.items() if status == HoldStatus.VOIDED}
    assert set(final.values()) == {HoldStatus.VOIDED}  # every hold placed was voided
    wallet = await books(messaging, engine, check_ledger)
    # Every hold was released in the end, so the releases repaid all of it, each once.
    assert -sum((r.amount.amount for r in repayments), ZERO) == owed
    assert (wallet.balance.amount, wallet.held.amount, wallet.debt.amount) == (ZERO, ZERO, ZERO)


async def _holds(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as connection:
        return list((await connection.execute(select(holds).where(holds.c.tenant_id == TENANT))).mappings())


@pytest.mark.parametrize("round_", range(8))
async def test_a_top_up_paid_while_another_is_reversed_repays_the_debt_once(
    round_: int,
    platform_race: PlatformRace,
    priced: None,
    pay: Pay,
    issue: Pay,
    messaging: BillingSession,
    engine: AsyncEngine,
    check_ledger: CheckLedger,
) -> None:
    bounced = await pay(TENANT, "5.00")
    for n in range(40):  # 2.00 held, 3.00 available: reversed first, 2.00 is owed
        await messaging.hold(TENANT, f"m.{n}", "utility", NUMBER)
    coming = await issue(TENANT, "10.00")

    def act(platform: BillingSession, i: int) -> Awaitable[Invoice]:
        if (i + round_) % 2:  # who asks first alternates between rounds
            return platform.mark_invoice_paid(coming.id, "bank-coming")
        return platform.reverse_payment(bounced.id, "bounced")

    outcomes(await platform_race(2, act))

    reversed_ = await messaging.invoice(bounced.id)
    owed = reversed_.debt_added.amount
    assert owed in (ZERO, Decimal("2.00"))  # paid first: covered; reversed first: what was held
    assert reversed_.reversed_amount.amount + owed == Decimal("5.00")
    repayments = [r for r in await ledger(messaging) if r.kind is EntryKind.DEBT_REPAYMENT]
    request_id = str(coming.topup_request_id)
    assert [(r.amount.amount, r.reference_id) for r in repayments] == ([(-owed, request_id)] if owed else [])
    wallet = await books(messaging, engine, check_ledger)
    assert (wallet.balance.amount, wallet.held.amount, wallet.available.amount, wallet.debt.amount) == (
        Decimal("10.00"),
        Decimal("2.00"),
        Decimal("8.00"),
        ZERO,
    )
