"""What the hot paths send to PostgreSQL: a charge is two statements, a wallet read never touches the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.application.service import BillingSession
from billing.domain.errors import InsufficientFundsError

pytestmark = pytest.mark.postgres

TRANSACTION_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK"}


@pytest.fixture
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Every statement the engine sends from now on, besides transaction control."""
    sent: list[str] = []

    def record(_connection: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.strip().upper() not in TRANSACTION_CONTROL:
            sent.append(" ".join(statement.split()))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    yield sent
    event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_a_first_charge_sends_two_statements(operator: BillingSession, statements: list[str]) -> None:
    await operator.adjust("clinic-a", "10.00", "opening balance")
    statements.clear()

    result = await operator.charge("clinic-a", "1.00", "message-1", "WhatsApp message")

    assert result.created
    assert len(statements) <= 2, statements
    # The balance moves and the row is appended in one statement: no read-modify-write window.
    posting = [s for s in statements if "INSERT INTO wallet_transactions" in s]
    assert len(posting) == 1, statements
    assert "UPDATE wallets" in posting[0]


async def test_a_repeated_charge_sends_one_statement(operator: BillingSession, statements: list[str]) -> None:
    await operator.adjust("clinic-a", "10.00", "opening balance")
    first = await operator.charge("clinic-a", "1.00", "message-1")
    statements.clear()

    again = await operator.charge("clinic-a", "1.00", "message-1")

    assert (again.entry, again.created) == (first.entry, False)
    assert len(statements) == 1, statements


async def test_a_refused_charge_sends_two_statements(operator: BillingSession, statements: list[str]) -> None:
    await operator.adjust("clinic-a", "1.00", "opening balance")
    statements.clear()

    with pytest.raises(InsufficientFundsError):
        await operator.charge("clinic-a", "1.01", "message-1")

    assert len(statements) <= 2, statements


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
    assert str(fresh.balance) == "0.00"
    assert statements, "the reads were not recorded"
    assert [s for s in statements if "wallet_transactions" in s] == []
    assert len(statements) <= 2 * 3, statements  # at most an insert-if-missing and a select per read
