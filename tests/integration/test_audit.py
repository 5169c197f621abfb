"""The audit's query: each way a wallet can drift from its ledger is caught, and only that wallet is named."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.sqlalchemy.audit import audit_wallets


def _wallet(connection: psycopg.Connection[tuple[object, ...]], tenant: str, balance: str) -> uuid.UUID:
    wallet_id = uuid.uuid4()
    connection.execute(
        "INSERT INTO wallets (tenant_id, id, currency, balance, created_at, updated_at)"
        " VALUES (%s, %s, 'USD', %s, now(), now())",
        (tenant, wallet_id, balance),
    )
    return wallet_id


def _row(
    connection: psycopg.Connection[tuple[object, ...]], tenant: str, wallet: uuid.UUID, amount: str, after: str
) -> None:
    connection.execute(
        "INSERT INTO wallet_transactions (tenant_id, id, wallet_id, kind, amount, currency, balance_after,"
        " description, created_at) VALUES (%s, %s, %s, 'adjustment', %s, 'USD', %s, 'audit test', %s)",
        (tenant, uuid.uuid4(), wallet, amount, after, datetime.now(UTC)),
    )


@pytest.mark.postgres
async def test_audit_names_each_kind_of_drift_and_nothing_else(database_url: str, engine: AsyncEngine) -> None:
    with psycopg.connect(database_url, autocommit=True) as connection:
        healthy = _wallet(connection, "healthy", "15.00")
        _row(connection, "healthy", healthy, "10.00", "10.00")
        _row(connection, "healthy", healthy, "5.00", "15.00")
        _wallet(connection, "fresh", "0.00")
        cache = _wallet(connection, "bad-cache", "16.00")  # sum and newest row say 15.00
        _row(connection, "bad-cache", cache, "15.00", "15.00")
        chain = _wallet(connection, "broken-chain", "15.00")  # sum and newest agree; the middle does not
        _row(connection, "broken-chain", chain, "10.00", "7.00")
        _row(connection, "broken-chain", chain, "5.00", "15.00")
        newest = _wallet(connection, "bad-newest", "15.00")  # sum agrees; the newest row says 14.00
        _row(connection, "bad-newest", newest, "15.00", "14.00")

    assert await audit_wallets(engine) == ["bad-cache", "bad-newest", "broken-chain"]


def _hold(connection: psycopg.Connection[tuple[object, ...]], tenant: str, message_id: str, status: str) -> None:
    connection.execute(
        "INSERT INTO holds (tenant_id, id, message_id, status, recipient, country, market, category, tier,"
        " rate_card_id, unit_price, amount, message_window, currency, created_at, expires_at)"
        " VALUES (%s, %s, %s, %s, '+14155552671', 'US', 'North America', 'utility', 1, %s, 2.00, 2.00,"
        " 'outside', 'USD', now(), now() + interval '1 hour')",
        (tenant, uuid.uuid4(), message_id, status, uuid.uuid4()),
    )


@pytest.mark.postgres
async def test_audit_names_a_wallet_whose_held_is_not_its_open_holds(database_url: str, engine: AsyncEngine) -> None:
    with psycopg.connect(database_url, autocommit=True) as connection:
        for tenant in ("holding", "over-held", "under-held"):
            wallet = _wallet(connection, tenant, "10.00")
            _row(connection, tenant, wallet, "10.00", "10.00")
            _hold(connection, tenant, "wamid.open", "held")
            _hold(connection, tenant, "wamid.closed", "voided")  # a closed hold holds nothing
        connection.execute("UPDATE wallets SET held = 2.00 WHERE tenant_id = 'holding'")
        connection.execute("UPDATE wallets SET held = 4.00 WHERE tenant_id = 'over-held'")  # counts the void

    assert await audit_wallets(engine) == ["over-held", "under-held"]


def _reversed_invoice(
    connection: psycopg.Connection[tuple[object, ...]], tenant: str, total: str, reversed_amount: str, debt_added: str
) -> None:
    """A top-up's invoice whose payment was reversed, `debt_added` of it left owed."""
    request_id, now = uuid.uuid4(), datetime.now(UTC)
    connection.execute(
        "INSERT INTO topup_requests (tenant_id, id, amount, currency, status, requested_by, requested_at, invoice_id,"
        " reversed_at) VALUES (%s, %s, %s, 'USD', 'reversed', 'user-1', %s, %s, %s)",
        (tenant, request_id, total, now, uuid.uuid4(), now),
    )
    connection.execute(
        "INSERT INTO invoices (tenant_id, id, number, purpose, status, currency, total, period, topup_request_id,"
        " paid_at, payment_reference, payment_reference_key, reversed_at, reversed_by, reversal_reason,"
        " reversed_amount, debt_added, created_at) VALUES (%s, %s, %s, 'topup', 'payment_reversed', 'USD', %s,"
        " '2026-12', %s, %s, 'bank-1', 'bank-1', %s, 'operator-1', 'bounced', %s, %s, %s)",
        (
            tenant,
            uuid.uuid4(),
            f"TOP-{request_id.hex[:8]}",
            total,
            request_id,
            now,
            now,
            reversed_amount,
            debt_added,
            now,
        ),
    )


def _debt_row(
    connection: psycopg.Connection[tuple[object, ...]],
    tenant: str,
    wallet: uuid.UUID,
    kind: str,
    amount: str,
    after: str,
) -> None:
    connection.execute(
        "INSERT INTO wallet_transactions (tenant_id, id, wallet_id, kind, amount, currency, balance_after,"
        " reference_id, description, created_at) VALUES (%s, %s, %s, %s, %s, 'USD', %s, 'ref', 'audit test', %s)",
        (tenant, uuid.uuid4(), wallet, kind, amount, after, datetime.now(UTC)),
    )


@pytest.mark.postgres
async def test_audit_names_a_wallet_whose_debt_is_not_its_reversals_less_its_repayments(
    database_url: str, engine: AsyncEngine
) -> None:
    """Contract v3 §23: each wallet's debt = the `debt_added` of its reversed payments - its `debt_repayment` rows."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        for tenant, debt in (("owing", "20.00"), ("over-owing", "25.00"), ("forgiven", "0.00")):
            wallet = _wallet(connection, tenant, "0.00")
            connection.execute("UPDATE wallets SET debt = %s WHERE tenant_id = %s", (debt, tenant))
            _debt_row(connection, tenant, wallet, "adjustment", "10.00", "10.00")  # the top-up's credit, as it were
            _debt_row(connection, tenant, wallet, "payment_reversal", "-10.00", "0.00")
            _reversed_invoice(connection, tenant, "40.00", "10.00", "30.00")
            _debt_row(connection, tenant, wallet, "adjustment", "10.00", "10.00")
            _debt_row(connection, tenant, wallet, "debt_repayment", "-10.00", "0.00")  # 30 - 10 owed now
        _wallet(connection, "never-reversed", "0.00")
        connection.execute("UPDATE wallets SET debt = 5.00 WHERE tenant_id = 'never-reversed'")

    assert await audit_wallets(engine) == ["forgiven", "never-reversed", "over-owing"]
