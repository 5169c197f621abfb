"""Wallets and their append-only ledger (`wallets`, `wallet_transactions`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import String, any_, bindparam, func, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from billing.adapters.sqlalchemy import ledger
from billing.adapters.sqlalchemy.base import Row, SqlAlchemyRepository
from billing.adapters.sqlalchemy.ledger import append_entry
from billing.adapters.sqlalchemy.tables import wallet_settings, wallet_spend, wallet_transactions, wallets
from billing.application.pagination import Page, PageRequest
from billing.application.ports import ChargeAttempt, StatementLine
from billing.domain.errors import InsufficientFundsError
from billing.domain.events import DebtRepaid
from billing.domain.hold import Funds
from billing.domain.ledger import EntryKind, LedgerEntry, Posting
from billing.domain.money import Money
from billing.domain.wallet import Wallet, WalletStatus

# The hot path of every charge, credit and refund: one round trip. The conditional UPDATE locks
# the wallet row, so postings of one tenant are serialized and `balance_after` chains; a debit
# that would take the balance below what is held matches no row and inserts nothing (a credit
# always matches: `balance >= held` already).
POST_TO_LEDGER = text(
    f"""
    WITH moved AS (
        UPDATE wallets SET balance = balance + :amount, updated_at = :at
        WHERE tenant_id = :tenant_id AND currency = :currency AND balance + :amount >= held
        RETURNING id, balance
    )
    {append_entry("moved", "text")}
    """
)

# A charge in one round trip: the earlier charge of the reference if there is one; else the
# conditional debit and its ledger row. Two concurrent first charges of one reference both miss
# `earlier`; the unique index refuses the second, whose retry then finds the first.
# The debit needs a wallet whose `available` (balance - held) covers it, and an active one unless `despite_freeze`
# (Meta's webhook charging what it delivered). A held message's id
# is its hold's to charge (contract v2 §9: 409 duplicate): then nothing is charged and no earlier row
# is answered, and the caller explains. A hold of the id committed while this statement waited for the
# wallet's row is seen by `billing_message_held` (a fresh snapshot: migration 0005 says why).
# It runs on the driver connection (same transaction): the hottest statement skips SQLAlchemy's
# per-execution work, which measured 30-40% of an in-process charge (docs/performance.md).
CHARGE_ONCE = f"""
    WITH held AS (
        SELECT FROM holds WHERE tenant_id = %(tenant_id)s AND message_id = %(reference_id)s
    ), earlier AS (
        SELECT {", ".join(ledger.COLUMNS)} FROM wallet_transactions
        WHERE tenant_id = %(tenant_id)s AND kind = 'charge' AND reference_id = %(reference_id)s
          AND NOT EXISTS (SELECT FROM held)
    ), moved AS (
        UPDATE wallets SET balance = balance + %(amount)s, updated_at = %(at)s
        WHERE tenant_id = %(tenant_id)s AND currency = %(currency)s AND (status = 'active' OR %(despite_freeze)s)
          AND balance + %(amount)s >= held
          AND NOT EXISTS (SELECT FROM earlier) AND NOT EXISTS (SELECT FROM held)
          AND NOT billing_message_held(%(tenant_id)s, %(reference_id)s)
        RETURNING id, balance, balance - held AS available_after,
                  (SELECT watch_below FROM wallet_settings WHERE tenant_id = %(tenant_id)s) AS watch_below
    ), inserted AS (
        {append_entry("moved", "driver", kind=EntryKind.CHARGE.value, returning=ledger.COLUMNS)}
    )
    SELECT true AS is_new, inserted.*, moved.available_after, moved.watch_below FROM inserted, moved
    UNION ALL
    SELECT false AS is_new, earlier.*, NULL, NULL FROM earlier
"""

# A debt's repayment (contract v3 §19) in one round trip: when the wallet owes and `available` > 0, min(available,
# debt) leaves its balance and its debt, and the ledger row records it. The amount is read first, under the row's
# lock (`owing`; the unit holds it already after any credit or release), because the update's RETURNING sees only
# the new row and the ledger row needs what was repaid. A wallet that owes nothing matches no row: nothing is
# written, and the cost is one primary-key read.
_REPAYMENT_ROW = append_entry(
    "repaid",
    "driver",
    kind=EntryKind.DEBT_REPAYMENT.value,
    price=False,
    computed={"amount": "-repaid.amount", "currency": "repaid.currency"},
)
REPAY_DEBT = f"""
    WITH owing AS MATERIALIZED (
        SELECT least(balance - held, debt) AS amount FROM wallets
        WHERE tenant_id = %(tenant_id)s AND debt > 0 AND balance > held
        FOR NO KEY UPDATE
    ), repaid AS (
        UPDATE wallets SET balance = balance - owing.amount, debt = debt - owing.amount, updated_at = %(at)s
        FROM owing WHERE wallets.tenant_id = %(tenant_id)s
        RETURNING wallets.id, wallets.balance, wallets.currency, wallets.debt, owing.amount
    ), appended AS (
        {_REPAYMENT_ROW}
    )
    SELECT appended.wallet_id, appended.balance_after, repaid.amount, repaid.currency, repaid.debt
    FROM appended, repaid
"""

# Built once: a refund's statements skip building and hashing a new construct.
FIND_CHARGE = select(wallet_transactions).where(
    wallet_transactions.c.tenant_id == bindparam("tenant_id"),
    wallet_transactions.c.kind == EntryKind.CHARGE.value,
    wallet_transactions.c.reference_id == bindparam("reference_id"),
)

# The lock a balance's UPDATE takes (FOR NO KEY UPDATE), taken ahead by a read-then-post such as a
# refund; named by the tenant, so Citus routes it to one shard. It needs UPDATE on `wallets` only:
# the production role may not lock ledger rows (docs/operations.md).
LOCK_WALLET = select(wallets).where(wallets.c.tenant_id == bindparam("tenant_id")).with_for_update(key_share=True)

# Which of a batch's message ids were charged: one query, whatever their number.
CHARGED = select(wallet_transactions.c.reference_id).where(
    wallet_transactions.c.tenant_id == bindparam("tenant_id"),
    wallet_transactions.c.kind == EntryKind.CHARGE.value,
    wallet_transactions.c.reference_id == any_(bindparam("reference_ids", type_=ARRAY(String))),
)

# The money the hold rules see, the marketing reserve included (none until the tenant saves settings).
FUNDS = (
    select(
        wallets.c.currency,
        wallets.c.balance,
        wallets.c.held,
        wallets.c.status,
        wallets.c.debt,
        wallet_settings.c.marketing_reserve,
    )
    .select_from(wallets.outerjoin(wallet_settings, wallet_settings.c.tenant_id == wallets.c.tenant_id))
    .where(wallets.c.tenant_id == bindparam("tenant_id"))
)


# The runway's spend (contract v2 §10): the hourly buckets of the window, by primary key; at most 336 rows.
SPENT_SINCE = select(
    wallets.c.currency,
    select(func.sum(wallet_spend.c.amount))
    .where(wallet_spend.c.tenant_id == wallets.c.tenant_id, wallet_spend.c.hour >= bindparam("since"))
    .scalar_subquery()
    .label("spent"),
).where(wallets.c.tenant_id == bindparam("tenant_id"))


class SqlAlchemyWalletRepository(SqlAlchemyRepository):
    async def _find(self, tenant_id: str) -> Wallet | None:
        row = (await self._execute(select(wallets).where(wallets.c.tenant_id == tenant_id))).mappings().first()
        return None if row is None else wallet_from_row(row)

    async def get_or_open(self, tenant_id: str, currency: str, at: datetime) -> Wallet:
        """A read in the common case; the first use inserts. Race-safe: after losing the insert race,
        a new statement (a new snapshot under READ COMMITTED) sees the winner's row."""
        wallet = await self._find(tenant_id)
        if wallet is not None:
            return wallet
        opened = Wallet.open(uuid4(), tenant_id, currency, at)
        inserted = await self._execute(
            pg_insert(wallets)
            .values(wallet_to_row(opened))
            .on_conflict_do_nothing(index_elements=[wallets.c.tenant_id])
            .returning(wallets)
        )
        row = inserted.mappings().first()
        if row is not None:
            return wallet_from_row(row)
        wallet = await self._find(tenant_id)
        assert wallet is not None
        return wallet

    async def post(self, posting: Posting) -> LedgerEntry:
        result = await self._execute(POST_TO_LEDGER, ledger.posting_params(posting))
        row = result.mappings().first()
        if row is None:
            raise InsufficientFundsError(
                f"the wallet of {posting.tenant_id} cannot cover {-posting.amount} {posting.amount.currency}"
            )
        return ledger.entry_from_posting(posting, row)

    async def charge_once(self, posting: Posting, *, despite_freeze: bool = False) -> ChargeAttempt:
        params = {**ledger.posting_params(posting), "despite_freeze": despite_freeze}
        row = await self._fetch_one_on_driver(CHARGE_ONCE, params)
        if row is None:
            return ChargeAttempt(entry=None, earlier=None)
        entry = ledger.entry_from_row(row)
        if not row["is_new"]:
            return ChargeAttempt(entry=None, earlier=entry)
        return ChargeAttempt(entry=entry, earlier=None, movement=ledger.movement_from_row(row, -entry.amount))

    async def lock(self, tenant_id: str) -> Wallet | None:
        row = (await self._execute(LOCK_WALLET, {"tenant_id": tenant_id})).mappings().first()
        return None if row is None else wallet_from_row(row)

    async def find_charge(self, tenant_id: str, reference_id: str) -> LedgerEntry | None:
        params = {"tenant_id": tenant_id, "reference_id": reference_id}
        row = (await self._execute(FIND_CHARGE, params)).mappings().first()
        return None if row is None else ledger.entry_from_row(row)

    async def refunded_total(self, tenant_id: str, reference_id: str, currency: str) -> Money:
        total = (
            await self._execute(
                select(func.sum(wallet_transactions.c.amount)).where(
                    wallet_transactions.c.tenant_id == tenant_id,
                    wallet_transactions.c.kind == EntryKind.REFUND.value,
                    wallet_transactions.c.reference_id == reference_id,
                )
            )
        ).scalar_one()
        return Money(decimal_or_zero(total), currency)

    async def list_entries(self, tenant_id: str, page: PageRequest) -> Page[LedgerEntry]:
        query = select(wallet_transactions).where(wallet_transactions.c.tenant_id == tenant_id)
        found, total = await self._page(query, [wallet_transactions.c.seq.desc()], page)
        return Page(tuple(ledger.entry_from_row(r) for r in found), page.page, page.page_size, total)

    async def charged(self, tenant_id: str, reference_ids: Sequence[str]) -> set[str]:
        if not reference_ids:
            return set()
        found = await self._execute(CHARGED, {"tenant_id": tenant_id, "reference_ids": list(reference_ids)})
        return set(found.scalars())

    async def funds(self, tenant_id: str) -> Funds | None:
        row = (await self._execute(FUNDS, {"tenant_id": tenant_id})).mappings().first()
        return None if row is None else funds_from_row(row)

    async def spent_since(self, tenant_id: str, since: datetime) -> Money | None:
        row = (await self._execute(SPENT_SINCE, {"tenant_id": tenant_id, "since": since})).first()
        return None if row is None else Money(decimal_or_zero(row.spent), row.currency)

    async def save_status(self, wallet: Wallet) -> None:
        await self._execute(
            update(wallets)
            .where(wallets.c.tenant_id == wallet.tenant_id)
            .values(status=wallet.status.value, frozen_reason=wallet.frozen_reason, updated_at=wallet.updated_at)
        )

    async def repay_debt(
        self, tenant_id: str, entry_id: UUID, reference_id: str, description: str, at: datetime
    ) -> LedgerEntry | None:
        params = {"tenant_id": tenant_id, "id": entry_id, "reference_id": reference_id, "description": description}
        row = await self._fetch_one_on_driver(REPAY_DEBT, {**params, "at": at})
        if row is None:
            return None
        currency = row["currency"]
        amount = Money(row["amount"], currency)
        posting = Posting.debt_repayment(entry_id, tenant_id, amount, reference_id, description, at)
        entry = ledger.entry_from_posting(posting, row)
        self._record(DebtRepaid(tenant_id, amount, Money(row["debt"], currency), reference_id, entry.id, at))
        return entry

    async def statement(
        self, tenant_id: str, start: datetime, end: datetime, after: object | None, limit: int
    ) -> list[StatementLine]:
        """Keyset pages on (created_at, seq), the statement index's order: each chunk is one index range scan,
        however deep into the year it starts. The cursor is the last line's (created_at, seq)."""
        columns = wallet_transactions.c
        query = select(wallet_transactions).where(columns.tenant_id == tenant_id, columns.created_at >= start)
        query = query.where(columns.created_at < end)
        if after is not None:
            if not (isinstance(after, tuple) and len(after) == 2):
                raise ValueError(f"not a statement cursor: {after!r}")
            query = query.where(tuple_(columns.created_at, columns.seq) > tuple_(*after))
        found = await self._execute(query.order_by(columns.created_at, columns.seq).limit(limit))
        return [StatementLine(ledger.entry_from_row(row), (row["created_at"], row["seq"])) for row in found.mappings()]


# Rows <-> domain: every field written and read back (tests/integration/test_reloading.py reloads them).


def wallet_to_row(wallet: Wallet) -> dict[str, Any]:
    return {
        "tenant_id": wallet.tenant_id,
        "id": wallet.id,
        "currency": wallet.currency,
        "balance": wallet.balance.amount,
        "created_at": wallet.created_at,
        "updated_at": wallet.updated_at,
        "held": wallet.held.amount,
        "status": wallet.status.value,
        "frozen_reason": wallet.frozen_reason,
        "debt": wallet.debt.amount,
    }


def wallet_from_row(row: Row) -> Wallet:
    return Wallet(
        id=row["id"],
        tenant_id=row["tenant_id"],
        currency=row["currency"],
        balance=Money(row["balance"], row["currency"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        held=Money(row["held"], row["currency"]),
        status=WalletStatus(row["status"]),
        frozen_reason=row["frozen_reason"],
        debt=Money(row["debt"], row["currency"]),
    )


def funds_from_row(row: Row) -> Funds:
    """A wallet's funds from its row and its settings' reserve (null: never set, so none)."""
    currency = row["currency"]
    return Funds(
        Money(row["balance"], currency),
        Money(row["held"], currency),
        WalletStatus(row["status"]),
        Money(decimal_or_zero(row["marketing_reserve"]), currency),
        Money(row["debt"], currency),
    )


def decimal_or_zero(value: Decimal | None) -> Decimal:
    return value if value is not None else Decimal(0)
