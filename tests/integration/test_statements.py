"""What the hot paths send to PostgreSQL: a charge is one statement, a wallet read never touches the ledger, a
quote reads the same few rows whatever the number of its recipients."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, Self

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.phone import PhonenumbersCountry
from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.application.runtime import RandomIds, Runtime, SystemClock
from billing.application.service import BillingService, BillingSession
from billing.application.settings import BillingSettings
from billing.container import EVENT_HANDLERS
from billing.domain.errors import InsufficientFundsError

pytestmark = pytest.mark.postgres

TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK"}


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every statement sent from now on, besides transaction control, recorded at the driver: the
    charge's hot path runs on the psycopg connection itself, past SQLAlchemy's events."""
    sent: list[str] = []

    class RecordingCursor(psycopg.AsyncCursor[Any]):
        async def execute(self, query: Any, params: Any = None, **options: Any) -> Self:
            text = query if isinstance(query, str) else query.as_string(self.connection)
            if text.strip().upper() not in TRANSACTION_CONTROL:
                sent.append(" ".join(text.split()))
            return await super().execute(query, params, **options)

    def record_on(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.cursor_factory = RecordingCursor

    event.listen(engine.sync_engine, "connect", record_on)  # the test engine opens a connection per unit
    yield sent
    event.remove(engine.sync_engine, "connect", record_on)


async def test_a_first_charge_sends_one_statement(operator: BillingSession, statements: list[str]) -> None:
    await operator.adjust("clinic-a", "10.00", "opening balance")
    statements.clear()

    result = await operator.charge("clinic-a", "1.00", "message-1", "WhatsApp message")

    assert result.created
    # The reference is checked, the balance moves and the row is appended in one statement: no
    # read-modify-write window, one round trip besides BEGIN and COMMIT.
    assert len(statements) == 1, statements
    assert "INSERT INTO wallet_transactions" in statements[0]
    assert "UPDATE wallets" in statements[0]


async def test_a_repeated_charge_sends_one_statement(operator: BillingSession, statements: list[str]) -> None:
    await operator.adjust("clinic-a", "10.00", "opening balance")
    first = await operator.charge("clinic-a", "1.00", "message-1")
    statements.clear()

    again = await operator.charge("clinic-a", "1.00", "message-1")

    assert (again.entry, again.created) == (first.entry, False)
    assert len(statements) == 1, statements


async def test_a_refused_charge_sends_one_statement(operator: BillingSession, statements: list[str]) -> None:
    await operator.adjust("clinic-a", "1.00", "opening balance")
    statements.clear()

    with pytest.raises(InsufficientFundsError):
        await operator.charge("clinic-a", "1.01", "message-1")

    # The refusal is decided in the charge's one statement; only then is it explained (a held message id? the
    # wallet's funds), as the domain words it.
    assert len(statements) == 3, statements
    assert "UPDATE wallets" in statements[0]
    assert ["FROM holds" in statements[1], "FROM wallets" in statements[2]] == [True, True]


async def test_reading_a_wallet_never_touches_the_ledger(
    operator: BillingSession, clinic_of: Any, statements: list[str]
) -> None:
    await operator.adjust("clinic-a", "100.00", "opening balance")
    for number in range(20):
        await operator.charge("clinic-a", "1.00", f"message-{number}")
    statements.clear()

    own = await clinic_of("clinic-a").wallet()
    theirs = await operator.wallet("clinic-a")
    fresh = await operator.balance("clinic-new")

    assert own.balance == theirs.balance
    assert str(own.balance) == "80.00"
    assert str(fresh) == "0.00"
    assert statements, "the reads were not recorded"
    assert [s for s in statements if "wallet_transactions" in s] == []
    # At most an insert-if-missing, a select and the runway's read of the hourly spend per read.
    assert len(statements) <= 3 * 3, statements
    assert len([s for s in statements if "wallet_spend" in s]) == 3


async def test_a_quote_sends_the_same_few_statements_for_1_and_for_1000_recipients(
    engine: AsyncEngine, statements: list[str]
) -> None:
    billing = BillingService(
        lambda: SqlAlchemyUnitOfWork(engine),
        Runtime(SystemClock(), RandomIds(), BillingSettings(), countries=PhonenumbersCountry()),
        EVENT_HANDLERS,
    )
    operator = billing.as_platform("messaging")
    markets = {"IN": "India", "US": "North America", "BR": "Brazil", "DE": "Germany"}
    rates = [{"market": market, "category": "marketing", "unit_price": "0.01"} for market in set(markets.values())]
    await operator.create_rate_card("Default", datetime(2026, 1, 1, tzinfo=UTC), markets, rates)
    await operator.create_rate_card("Own", datetime(2026, 1, 1, tzinfo=UTC), markets, rates, tenant_id="clinic-a")
    await operator.adjust("clinic-a", "100.00", "opening balance")
    patterns = ["+91987654{:04d}", "+1415555{:04d}", "+55119876{:05d}", "+49151234{:05d}"]
    statements.clear()

    one = await operator.quote("marketing", ["+919876543210"], tenant_id="clinic-a")
    for_one = list(statements)
    statements.clear()
    thousand = await operator.quote("marketing", [patterns[i % 4].format(i) for i in range(1000)], tenant_id="clinic-a")

    assert (len(one.items), len(thousand.items), str(thousand.total)) == (1, 1000, "10.00")
    # Which card is in force, the month's counts of the markets involved, the wallet: never one per recipient.
    # The card itself is read once per process (cards are immutable): the first quote reads it, the second not.
    assert len(statements) == len(for_one) - 1 == 3, statements
    assert [sum("rate_cards" in s for s in sent) for sent in (for_one, statements)] == [2, 1], statements
    assert sum("message_counts" in s for s in statements) == 1, statements
    assert sum("FROM wallets" in s for s in statements) == 1, statements


async def test_mark_paid_sends_eight_statements(
    issued_topup: Any, operator: BillingSession, statements: list[str]
) -> None:
    invoice = await issued_topup("clinic-a", "150.00")
    statements.clear()

    await operator.mark_invoice_paid(invoice.id, "bank-2026-0042")
    paying = list(statements)

    assert str(await operator.balance("clinic-a")) == "150.00"
    # Its tenant (Citus locks through it), the invoice locked with its lines, the request locked, the payment
    # reference looked up (contract v2 §12); then one statement pays the invoice, completes the request, credits the
    # wallet (opening it) and appends the ledger row, as the charge's one statement does; the receipt reads the
    # billing contact and queues the email (its recipient, the requester, is the request this unit holds already).
    # Contract v3: the paying statement also answers whether the wallet still owes (a repayment would follow, none
    # here), and the audit row is written last. It was 12 (11 with the wallet open), then 6 before the reference's
    # check, then 7 before v3.
    assert len(paying) == 8, statements
    assert ["invoices" in paying[0], "invoice_lines" in paying[1], "topup_requests" in paying[2]] == [True] * 3
    assert "payment_reference_key = " in paying[3]
    assert all(
        table in paying[4]
        for table in ("UPDATE invoices", "UPDATE topup_requests", "wallets", "INSERT INTO wallet_transactions")
    )
    assert not any("debt_repayment" in sent for sent in paying)
    assert ["billing_contacts" in paying[5], "outbox_messages" in paying[6]] == [True, True]
    assert "INSERT INTO audit_events" in paying[7]


@pytest.fixture
def messaging(engine: AsyncEngine) -> BillingSession:
    """The platform's messaging module, on a service that can price numbers."""
    billing = BillingService(
        lambda: SqlAlchemyUnitOfWork(engine),
        Runtime(SystemClock(), RandomIds(), BillingSettings(), countries=PhonenumbersCountry()),
        EVENT_HANDLERS,
    )
    return billing.as_platform("messaging")


async def _priced(messaging: BillingSession, balance: str = "100.00") -> None:
    rates = [{"market": "Rest", "category": category, "unit_price": "0.05"} for category in ("utility", "marketing")]
    await messaging.create_rate_card("Default", datetime(2026, 1, 1, tzinfo=UTC), {"*": "Rest"}, rates)
    await messaging.adjust("clinic-a", balance, "opening balance")


async def test_a_hold_is_placed_in_one_statement(messaging: BillingSession, statements: list[str]) -> None:
    await _priced(messaging)
    statements.clear()

    placed = await messaging.hold("clinic-a", "wamid.1", "utility", "+14155552671")
    placing = list(statements)
    statements.clear()
    again = await messaging.hold("clinic-a", "wamid.1", "utility", "+14155552671")

    assert (placed.created, again.created, again.hold) == (True, False, placed.hold)
    # Which card is in force (and, the first time in the process, the card itself) and the month's count price it;
    # then one statement checks the freeze, the funds, the lane, the message id and moves `held` with the new row
    # (or answers the earlier hold).
    assert len(placing) == 4, placing
    assert ["rate_cards" in placing[0], "rate_cards" in placing[1], "message_counts" in placing[2]] == [True] * 3
    assert all(part in placing[3] for part in ("UPDATE wallets", "INSERT INTO holds", "wallet_settings"))
    assert len(statements) == 3, statements


async def test_a_batch_of_1000_holds_sends_seven_statements(messaging: BillingSession, statements: list[str]) -> None:
    await _priced(messaging)
    messages = [
        {"message_id": f"wamid.{i}", "category": "marketing" if i % 2 else "utility", "recipient": "+14155552671"}
        for i in range(1000)
    ]
    statements.clear()

    batch = await messaging.hold_batch("clinic-a", messages)

    assert (len(batch.items), str(batch.total)) == (1000, "50.00")
    # Which card is in force and the card (read once per process), the two categories' counts, the earlier holds
    # and charges of these ids, then one statement moves `held` by the total and inserts the thousand rows (one
    # array per column): never one per message.
    assert len(statements) == 7, statements
    assert sum("INSERT INTO holds" in s for s in statements) == 1, statements
    assert (await messaging.wallet("clinic-a")).held.amount == 50


async def test_settle_sends_three_statements_and_void_two(messaging: BillingSession, statements: list[str]) -> None:
    await _priced(messaging)
    await messaging.hold("clinic-a", "wamid.1", "utility", "+14155552671")
    await messaging.hold("clinic-a", "wamid.2", "utility", "+14155552671")
    statements.clear()

    settled = await messaging.settle("clinic-a", "wamid.1")
    settling = list(statements)
    statements.clear()
    voided = await messaging.void("clinic-a", "wamid.2")

    assert (settled.status, voided.status) == ("settled", "voided")
    # The hold's row then its wallet's, locked in one statement; one statement closes the hold, moves `held` and
    # `balance` and appends the charge row; the tier's counter.
    assert len(settling) == 3, settling
    assert "FOR NO KEY UPDATE" in settling[0]
    assert all(part in settling[1] for part in ("UPDATE holds", "UPDATE wallets", "INSERT INTO wallet_transactions"))
    assert "message_counts" in settling[2]
    assert len(statements) == 2, statements
    assert all(part in statements[1] for part in ("UPDATE holds", "UPDATE wallets"))
