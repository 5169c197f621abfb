"""The raw-SQL floor: what a hand-written psycopg ledger does for the same work, with nothing else."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import psycopg

CHARGE_DEBIT = (
    "UPDATE wallets SET balance = balance - %(amount)s, updated_at = %(at)s"
    " WHERE tenant_id = %(tenant)s AND balance >= %(amount)s RETURNING id, balance"
)
LEDGER_INSERT = (
    "INSERT INTO wallet_transactions (tenant_id, id, wallet_id, kind, amount, currency, balance_after,"
    " reference_id, description, created_at)"
    " VALUES (%(tenant)s, %(id)s, %(wallet)s, %(kind)s, %(signed)s, 'USD', %(balance)s, %(ref)s, %(desc)s, %(at)s)"
)


async def charge(conn: psycopg.AsyncConnection[tuple[object, ...]], tenant: str, amount: Decimal, ref: str) -> bool:
    """Conditional UPDATE ... RETURNING plus the ledger INSERT, in one transaction."""
    at = datetime.now(UTC)
    async with conn.transaction():
        cursor = await conn.execute(CHARGE_DEBIT, {"amount": amount, "at": at, "tenant": tenant})
        row = await cursor.fetchone()
        if row is None:
            return False
        await conn.execute(
            LEDGER_INSERT,
            {
                "tenant": tenant,
                "id": uuid.uuid4(),
                "wallet": row[0],
                "kind": "charge",
                "signed": -amount,
                "balance": row[1],
                "ref": ref,
                "desc": "message",
                "at": at,
            },
        )
    return True


async def mark_paid(
    conn: psycopg.AsyncConnection[tuple[object, ...]], tenant: str, invoice_id: uuid.UUID, reference: str
) -> bool:
    """Lock the invoice, mark it paid with `reference` (its key kept unique per tenant by
    `ux_invoices_payment_reference`, as ours), complete the request, credit the wallet: one transaction."""
    at = datetime.now(UTC)
    async with conn.transaction():
        cursor = await conn.execute(
            "SELECT status, topup_request_id, total FROM invoices WHERE tenant_id = %s AND id = %s FOR UPDATE",
            (tenant, invoice_id),
        )
        invoice = await cursor.fetchone()
        if invoice is None or invoice[0] != "issued":
            return False
        await conn.execute(
            "UPDATE invoices SET status = 'paid', paid_at = %s, payment_reference = %s, payment_reference_key = %s"
            " WHERE tenant_id = %s AND id = %s",
            (at, reference, reference.strip().casefold(), tenant, invoice_id),
        )
        await conn.execute(
            "UPDATE topup_requests SET status = 'completed', completed_at = %s WHERE tenant_id = %s AND id = %s",
            (at, tenant, invoice[1]),
        )
        cursor = await conn.execute(
            "UPDATE wallets SET balance = balance + %s, updated_at = %s WHERE tenant_id = %s RETURNING id, balance",
            (invoice[2], at, tenant),
        )
        wallet = await cursor.fetchone()
        assert wallet is not None
        await conn.execute(
            LEDGER_INSERT,
            {
                "tenant": tenant,
                "id": uuid.uuid4(),
                "wallet": wallet[0],
                "kind": "topup",
                "signed": invoice[2],
                "balance": wallet[1],
                "ref": str(invoice[1]),
                "desc": "Wallet top-up",
                "at": at,
            },
        )
    return True
