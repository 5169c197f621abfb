"""Repositories on one AsyncConnection inside the unit of work's transaction (SQLAlchemy Core)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import attrs
import psycopg
from psycopg.rows import dict_row
from sqlalchemy import (
    CursorResult,
    Executable,
    Select,
    Table,
    bindparam,
    delete,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.adapters.sqlalchemy import rows
from billing.adapters.sqlalchemy.errors import translate, translate_driver
from billing.adapters.sqlalchemy.tables import (
    billing_contacts,
    idempotency_keys,
    invoice_lines,
    invoices,
    outbox_messages,
    topup_requests,
    wallet_transactions,
    wallets,
)
from billing.application.idempotency import IdempotencyRecord
from billing.application.outbox import EmailMessage, OutboxEntry, OutboxStatus
from billing.application.pagination import Page, PageRequest
from billing.application.ports import ChargeAttempt
from billing.domain.contact import BillingContact
from billing.domain.errors import InsufficientFundsError
from billing.domain.invoice import Invoice, InvoicePurpose, InvoiceStatus
from billing.domain.ledger import EntryKind, LedgerEntry, Posting
from billing.domain.money import Money
from billing.domain.topup import TopupRequest, TopupStatus
from billing.domain.wallet import Wallet

# The hot path of every charge, credit and refund: one round trip. The conditional UPDATE locks
# the wallet row, so postings of one tenant are serialized and `balance_after` chains; a debit
# that would overdraw matches no row and inserts nothing.
POST_TO_LEDGER = text(
    """
    WITH moved AS (
        UPDATE wallets SET balance = balance + :amount, updated_at = :at
        WHERE tenant_id = :tenant_id AND currency = :currency AND balance + :amount >= 0
        RETURNING id, balance
    )
    INSERT INTO wallet_transactions (tenant_id, id, wallet_id, kind, amount, currency,
                                     balance_after, reference_id, description, created_at)
    SELECT :tenant_id, :id, moved.id, :kind, :amount, :currency,
           moved.balance, :reference_id, :description, :at
    FROM moved
    RETURNING wallet_id, balance_after
    """
)

# A charge in one round trip: the earlier charge of the reference if there is one; else the
# conditional debit and its ledger row. Two concurrent first charges of one reference both miss
# `earlier`; the unique index refuses the second, whose retry then finds the first.
# It runs on the driver connection (same transaction): the hottest statement skips SQLAlchemy's
# per-execution work, which measured 30-40% of an in-process charge (README, Performance).
CHARGE_ONCE = """
    WITH earlier AS (
        SELECT tenant_id, id, wallet_id, kind, amount, currency, balance_after, reference_id, description, created_at
        FROM wallet_transactions
        WHERE tenant_id = %(tenant_id)s AND kind = 'charge' AND reference_id = %(reference_id)s
    ), moved AS (
        UPDATE wallets SET balance = balance + %(amount)s, updated_at = %(at)s
        WHERE tenant_id = %(tenant_id)s AND currency = %(currency)s AND balance + %(amount)s >= 0
          AND NOT EXISTS (SELECT FROM earlier)
        RETURNING id, balance
    ), inserted AS (
        INSERT INTO wallet_transactions (tenant_id, id, wallet_id, kind, amount, currency,
                                         balance_after, reference_id, description, created_at)
        SELECT %(tenant_id)s, %(id)s, moved.id, 'charge', %(amount)s, %(currency)s,
               moved.balance, %(reference_id)s, %(description)s, %(at)s
        FROM moved
        RETURNING tenant_id, id, wallet_id, kind, amount, currency, balance_after, reference_id, description,
                  created_at
    )
    SELECT true AS is_new, * FROM inserted
    UNION ALL
    SELECT false AS is_new, * FROM earlier
"""

# Built once: a refund's statements skip building and hashing a new construct.
FIND_CHARGE = select(wallet_transactions).where(
    wallet_transactions.c.tenant_id == bindparam("tenant_id"),
    wallet_transactions.c.kind == EntryKind.CHARGE.value,
    wallet_transactions.c.reference_id == bindparam("reference_id"),
)

# The lock a balance's UPDATE takes (FOR NO KEY UPDATE), taken ahead by a read-then-post such as a
# refund; named by the tenant, so Citus routes it to one shard. It needs UPDATE on `wallets` only:
# the production role may not lock ledger rows (README).
LOCK_WALLET = select(wallets).where(wallets.c.tenant_id == bindparam("tenant_id")).with_for_update(key_share=True)


class _Repository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def _execute(
        self, statement: Executable, params: Mapping[Any, Any] | Sequence[Mapping[Any, Any]] | None = None
    ) -> CursorResult[Any]:
        try:
            return await self._connection.execute(statement, params)
        except DBAPIError as error:
            translated = translate(error)
            if translated is error:
                raise
            raise translated from error

    async def _fetch_one_on_driver(self, sql: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """One statement straight on the psycopg connection, inside the unit of work's transaction."""
        raw = (await self._connection.get_raw_connection()).driver_connection
        assert raw is not None
        try:
            cursor = raw.cursor(row_factory=dict_row)
            await cursor.execute(sql, params)
            row: dict[str, Any] | None = await cursor.fetchone()
            return row
        except psycopg.Error as error:
            translated = translate_driver(error)
            if translated is error:
                raise
            raise translated from error

    async def _by_id(
        self, table: Table, row_id: UUID, for_update: bool, tenant_id: str | None = None
    ) -> Mapping[Any, Any] | None:
        """A row by its id. A lock is taken through the tenant (found first unless given): Citus routes
        (and locks) a query to one shard only when it names the distribution column."""
        query = select(table).where(table.c.id == row_id)
        if tenant_id is None and for_update:
            found = await self._execute(select(table.c.tenant_id).where(table.c.id == row_id))
            tenant_id = found.scalar_one_or_none()
            if tenant_id is None:
                return None
        if tenant_id is not None:
            query = query.where(table.c.tenant_id == tenant_id)
        if for_update:
            query = query.with_for_update()
        return (await self._execute(query)).mappings().first()

    async def _page(self, query: Select[Any], order: Sequence[Any], page: PageRequest) -> tuple[list[Any], int]:
        total = (await self._execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        result = await self._execute(query.order_by(*order).limit(page.page_size).offset(page.offset))
        return list(result.mappings()), int(total)


class SqlAlchemyWalletRepository(_Repository):
    async def get(self, tenant_id: str) -> Wallet | None:
        row = (await self._execute(select(wallets).where(wallets.c.tenant_id == tenant_id))).mappings().first()
        return None if row is None else rows.wallet_from_row(row)

    async def get_or_open(self, tenant_id: str, currency: str, at: datetime) -> Wallet:
        """A read in the common case; the first use inserts. Race-safe: after losing the insert race,
        a new statement (a new snapshot under READ COMMITTED) sees the winner's row."""
        wallet = await self.get(tenant_id)
        if wallet is not None:
            return wallet
        opened = Wallet.open(uuid4(), tenant_id, currency, at)
        inserted = await self._execute(
            pg_insert(wallets)
            .values(
                tenant_id=tenant_id,
                id=opened.id,
                currency=currency,
                balance=opened.balance.amount,
                created_at=at,
                updated_at=at,
            )
            .on_conflict_do_nothing(index_elements=[wallets.c.tenant_id])
            .returning(wallets)
        )
        row = inserted.mappings().first()
        if row is not None:
            return rows.wallet_from_row(row)
        wallet = await self.get(tenant_id)
        assert wallet is not None
        return wallet

    @staticmethod
    def _posting_params(posting: Posting) -> dict[str, Any]:
        return {
            "tenant_id": posting.tenant_id,
            "id": posting.entry_id,
            "kind": posting.kind.value,
            "amount": posting.amount.amount,
            "currency": posting.amount.currency,
            "reference_id": posting.reference_id,
            "description": posting.description,
            "at": posting.at,
        }

    async def post(self, posting: Posting) -> LedgerEntry:
        result = await self._execute(POST_TO_LEDGER, self._posting_params(posting))
        row = result.first()
        if row is None:
            raise InsufficientFundsError(
                f"the wallet of {posting.tenant_id} cannot cover {-posting.amount} {posting.amount.currency}"
            )
        return LedgerEntry(
            id=posting.entry_id,
            wallet_id=row.wallet_id,
            tenant_id=posting.tenant_id,
            kind=posting.kind,
            amount=posting.amount,
            balance_after=Money(row.balance_after, posting.amount.currency),
            reference_id=posting.reference_id,
            description=posting.description,
            created_at=posting.at,
        )

    async def charge_once(self, posting: Posting) -> ChargeAttempt:
        row = await self._fetch_one_on_driver(CHARGE_ONCE, self._posting_params(posting))
        if row is None:
            return ChargeAttempt(entry=None, earlier=None)
        entry = rows.entry_from_row(row)
        return ChargeAttempt(entry=entry, earlier=None) if row["is_new"] else ChargeAttempt(entry=None, earlier=entry)

    async def lock(self, tenant_id: str) -> Wallet | None:
        row = (await self._execute(LOCK_WALLET, {"tenant_id": tenant_id})).mappings().first()
        return None if row is None else rows.wallet_from_row(row)

    async def find_charge(self, tenant_id: str, reference_id: str) -> LedgerEntry | None:
        params = {"tenant_id": tenant_id, "reference_id": reference_id}
        row = (await self._execute(FIND_CHARGE, params)).mappings().first()
        return None if row is None else rows.entry_from_row(row)

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
        return Money(rows.decimal_or_zero(total), currency)

    async def list_entries(self, tenant_id: str, page: PageRequest) -> Page[LedgerEntry]:
        query = select(wallet_transactions).where(wallet_transactions.c.tenant_id == tenant_id)
        found, total = await self._page(query, [wallet_transactions.c.seq.desc()], page)
        return Page(tuple(rows.entry_from_row(r) for r in found), page.page, page.page_size, total)


class SqlAlchemyTopupRequestRepository(_Repository):
    async def get(
        self, request_id: UUID, *, for_update: bool = False, tenant_id: str | None = None
    ) -> TopupRequest | None:
        row = await self._by_id(topup_requests, request_id, for_update, tenant_id)
        return None if row is None else rows.request_from_row(row)

    async def add(self, request: TopupRequest) -> None:
        await self._execute(insert(topup_requests), [rows.request_to_row(request)])

    async def save(self, request: TopupRequest) -> None:
        values = rows.request_to_row(request)
        await self._execute(
            update(topup_requests)
            .where(topup_requests.c.tenant_id == request.tenant_id, topup_requests.c.id == request.id)
            .values(values)
        )

    async def list(self, tenant_id: str | None, status: TopupStatus | None, page: PageRequest) -> Page[TopupRequest]:
        query = select(topup_requests)
        if tenant_id is not None:
            query = query.where(topup_requests.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(topup_requests.c.status == status.value)
        order = [topup_requests.c.requested_at.desc(), topup_requests.c.id.desc()]
        found, total = await self._page(query, order, page)
        return Page(tuple(rows.request_from_row(r) for r in found), page.page, page.page_size, total)


class SqlAlchemyInvoiceRepository(_Repository):
    async def _with_lines(self, found: Sequence[Mapping[Any, Any]]) -> list[Invoice]:
        if not found:
            return []
        ids = [row["id"] for row in found]
        tenants = {row["tenant_id"] for row in found}
        lines = await self._execute(
            select(invoice_lines).where(invoice_lines.c.tenant_id.in_(tenants), invoice_lines.c.invoice_id.in_(ids))
        )
        by_invoice: dict[UUID, list[Mapping[Any, Any]]] = {}
        for line in lines.mappings():
            by_invoice.setdefault(line["invoice_id"], []).append(line)
        return [rows.invoice_from_rows(row, by_invoice.get(row["id"], [])) for row in found]

    async def get(self, invoice_id: UUID, *, for_update: bool = False) -> Invoice | None:
        row = await self._by_id(invoices, invoice_id, for_update)
        loaded = await self._with_lines([] if row is None else [row])
        return loaded[0] if loaded else None

    async def find_subscription(self, tenant_id: str, period: str) -> Invoice | None:
        query = select(invoices).where(
            invoices.c.tenant_id == tenant_id,
            invoices.c.purpose == InvoicePurpose.SUBSCRIPTION.value,
            invoices.c.period == period,
        )
        loaded = await self._with_lines(list((await self._execute(query)).mappings()))
        return loaded[0] if loaded else None

    async def add(self, invoice: Invoice) -> None:
        await self._execute(insert(invoices), [rows.invoice_to_row(invoice)])
        await self._execute(insert(invoice_lines), rows.line_rows(invoice))

    async def save(self, invoice: Invoice) -> None:
        """Lines never change after creation; the invoice row carries every state change."""
        await self._execute(
            update(invoices)
            .where(invoices.c.tenant_id == invoice.tenant_id, invoices.c.id == invoice.id)
            .values(rows.invoice_to_row(invoice))
        )

    async def list(
        self,
        tenant_id: str | None,
        status: InvoiceStatus | None,
        purpose: InvoicePurpose | None,
        page: PageRequest,
    ) -> Page[Invoice]:
        query = select(invoices)
        if tenant_id is not None:
            query = query.where(invoices.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(invoices.c.status == status.value)
        if purpose is not None:
            query = query.where(invoices.c.purpose == purpose.value)
        found, total = await self._page(query, [invoices.c.created_at.desc(), invoices.c.id.desc()], page)
        return Page(tuple(await self._with_lines(found)), page.page, page.page_size, total)


class SqlAlchemyIdempotencyKeyRepository(_Repository):
    async def claim(self, tenant_id: str, key: str) -> bool:
        """A transaction-scoped advisory lock: released by commit or rollback, never leaked."""
        claimed = await self._execute(
            text("SELECT pg_try_advisory_xact_lock(hashtextextended(:scope, 0))"),
            {"scope": f"idempotency:{tenant_id}:{key}"},
        )
        return bool(claimed.scalar_one())

    async def get(self, tenant_id: str, key: str, now: datetime) -> IdempotencyRecord | None:
        row = (
            (
                await self._execute(
                    select(idempotency_keys).where(
                        idempotency_keys.c.tenant_id == tenant_id,
                        idempotency_keys.c.key == key,
                        idempotency_keys.c.expires_at > now,
                    )
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        return IdempotencyRecord(
            tenant_id=row["tenant_id"],
            key=row["key"],
            fingerprint=row["fingerprint"],
            status_code=row["status_code"],
            body=bytes(row["body"]),
            content_type=row["content_type"],
            created_at=row["created_at"],
            expires_at=row["expires_at"],
        )

    async def add(self, record: IdempotencyRecord) -> None:
        # An expired record of the same key may still be there: the new first use replaces it.
        values = {
            "tenant_id": record.tenant_id,
            "key": record.key,
            "fingerprint": record.fingerprint,
            "status_code": record.status_code,
            "body": record.body,
            "content_type": record.content_type,
            "created_at": record.created_at,
            "expires_at": record.expires_at,
        }
        statement = pg_insert(idempotency_keys).values(values)
        await self._execute(
            statement.on_conflict_do_update(
                index_elements=[idempotency_keys.c.tenant_id, idempotency_keys.c.key],
                set_={name: statement.excluded[name] for name in values if name not in ("tenant_id", "key")},
                where=idempotency_keys.c.expires_at <= bindparam("now", record.created_at),
            )
        )

    async def purge_expired(self, now: datetime, limit: int = 1000) -> int:
        """At most `limit` keys a call, so a purge after a long pause stays a short transaction."""
        expired = (
            select(idempotency_keys.c.tenant_id, idempotency_keys.c.key)
            .where(idempotency_keys.c.expires_at <= now)
            .limit(limit)
        )
        key = tuple_(idempotency_keys.c.tenant_id, idempotency_keys.c.key)
        result = await self._execute(delete(idempotency_keys).where(key.in_(expired)))
        return int(result.rowcount)


class SqlAlchemyContactRepository(_Repository):
    async def get(self, tenant_id: str) -> BillingContact | None:
        query = select(billing_contacts).where(billing_contacts.c.tenant_id == tenant_id)
        row = (await self._execute(query)).mappings().first()
        return None if row is None else BillingContact(**row)

    async def save(self, contact: BillingContact) -> None:
        values = attrs.asdict(contact)
        statement = pg_insert(billing_contacts).values(values)
        await self._execute(
            statement.on_conflict_do_update(
                index_elements=[billing_contacts.c.tenant_id],
                set_={name: statement.excluded[name] for name in values if name != "tenant_id"},
            )
        )


def _outbox_entry(row: Mapping[Any, Any]) -> OutboxEntry:
    message = EmailMessage(
        id=row["id"],
        tenant_id=row["tenant_id"],
        kind=row["kind"],
        recipient=row["recipient"],
        subject=row["subject"],
        text=row["text_body"],
        html=row["html_body"],
        created_at=row["created_at"],
    )
    return OutboxEntry(
        message=message,
        status=OutboxStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        sent_at=row["sent_at"],
    )


class SqlAlchemyOutboxRepository(_Repository):
    async def add(self, message: EmailMessage) -> None:
        deliverable = message.recipient is not None
        await self._execute(
            insert(outbox_messages),
            [
                {
                    "tenant_id": message.tenant_id,
                    "id": message.id,
                    "kind": message.kind,
                    "recipient": message.recipient,
                    "subject": message.subject,
                    "text_body": message.text,
                    "html_body": message.html,
                    "status": (OutboxStatus.PENDING if deliverable else OutboxStatus.UNDELIVERABLE).value,
                    "attempts": 0,
                    "next_attempt_at": message.created_at,
                    "last_error": None if deliverable else "no billing contact and no requester email",
                    "created_at": message.created_at,
                    "sent_at": None,
                }
            ],
        )

    async def claim_next_due(self, now: datetime) -> OutboxEntry | None:
        query = (
            select(outbox_messages)
            .where(outbox_messages.c.status == OutboxStatus.PENDING.value, outbox_messages.c.next_attempt_at <= now)
            .order_by(outbox_messages.c.next_attempt_at, outbox_messages.c.created_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        row = (await self._execute(query)).mappings().first()
        return None if row is None else _outbox_entry(row)

    def _one(self, message: EmailMessage) -> Any:
        return (outbox_messages.c.tenant_id == message.tenant_id) & (outbox_messages.c.id == message.id)

    async def mark_sent(self, message: EmailMessage, at: datetime) -> None:
        await self._execute(
            update(outbox_messages)
            .where(self._one(message))
            .values(status=OutboxStatus.SENT.value, attempts=outbox_messages.c.attempts + 1, sent_at=at)
        )

    async def mark_attempt_failed(self, message: EmailMessage, error: str, next_attempt_at: datetime | None) -> None:
        values: dict[str, Any] = {"attempts": outbox_messages.c.attempts + 1, "last_error": error}
        if next_attempt_at is None:
            values["status"] = OutboxStatus.FAILED.value
        else:
            values["next_attempt_at"] = next_attempt_at
        await self._execute(update(outbox_messages).where(self._one(message)).values(values))

    async def mark_undeliverable(self, message: EmailMessage, reason: str) -> None:
        await self._execute(
            update(outbox_messages)
            .where(self._one(message))
            .values(status=OutboxStatus.UNDELIVERABLE.value, attempts=outbox_messages.c.attempts + 1, last_error=reason)
        )

    async def list(self, status: OutboxStatus | None, page: PageRequest) -> Page[OutboxEntry]:
        query = select(outbox_messages)
        if status is not None:
            query = query.where(outbox_messages.c.status == status.value)
        order = [outbox_messages.c.created_at.desc(), outbox_messages.c.id.desc()]
        found, total = await self._page(query, order, page)
        return Page(tuple(_outbox_entry(r) for r in found), page.page, page.page_size, total)
