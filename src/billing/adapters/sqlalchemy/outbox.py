"""Email waiting to be delivered, and what became of it (`outbox_messages`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update

from billing.adapters.sqlalchemy.base import Row, SqlAlchemyRepository
from billing.adapters.sqlalchemy.tables import outbox_messages
from billing.application.outbox import EmailMessage, OutboxEntry, OutboxStatus
from billing.application.pagination import Page, PageRequest

_COLUMNS = [column.name for column in outbox_messages.c]
# Queued by every approval and payment: on the driver connection, as the charge.
INSERT_MESSAGE = (
    f"INSERT INTO outbox_messages ({', '.join(_COLUMNS)}) VALUES ({', '.join(f'%({name})s' for name in _COLUMNS)})"
)


def _one(message: EmailMessage) -> ColumnElement[bool]:
    return (outbox_messages.c.tenant_id == message.tenant_id) & (outbox_messages.c.id == message.id)


class SqlAlchemyOutboxRepository(SqlAlchemyRepository):
    async def add(self, message: EmailMessage) -> None:
        deliverable = message.recipient is not None
        entry = OutboxEntry(
            message=message,
            status=OutboxStatus.PENDING if deliverable else OutboxStatus.UNDELIVERABLE,
            attempts=0,
            next_attempt_at=message.created_at,
            last_error=None if deliverable else "no billing contact and no requester email",
            sent_at=None,
        )
        await self._execute_on_driver(INSERT_MESSAGE, outbox_entry_to_row(entry))

    async def claim_next_due(self, now: datetime) -> OutboxEntry | None:
        query = (
            select(outbox_messages)
            .where(outbox_messages.c.status == OutboxStatus.PENDING.value, outbox_messages.c.next_attempt_at <= now)
            .order_by(outbox_messages.c.next_attempt_at, outbox_messages.c.created_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        row = (await self._execute(query)).mappings().first()
        return None if row is None else outbox_entry_from_row(row)

    async def mark_sent(self, message: EmailMessage, at: datetime) -> None:
        await self._execute(
            update(outbox_messages)
            .where(_one(message))
            .values(status=OutboxStatus.SENT.value, attempts=outbox_messages.c.attempts + 1, sent_at=at)
        )

    async def mark_attempt_failed(self, message: EmailMessage, error: str, next_attempt_at: datetime | None) -> None:
        values: dict[str, Any] = {"attempts": outbox_messages.c.attempts + 1, "last_error": error}
        if next_attempt_at is None:
            values["status"] = OutboxStatus.FAILED.value
        else:
            values["next_attempt_at"] = next_attempt_at
        await self._execute(update(outbox_messages).where(_one(message)).values(values))

    async def mark_undeliverable(self, message: EmailMessage, reason: str) -> None:
        await self._execute(
            update(outbox_messages)
            .where(_one(message))
            .values(status=OutboxStatus.UNDELIVERABLE.value, attempts=outbox_messages.c.attempts + 1, last_error=reason)
        )

    async def list(self, status: OutboxStatus | None, page: PageRequest) -> Page[OutboxEntry]:
        query = select(outbox_messages)
        if status is not None:
            query = query.where(outbox_messages.c.status == status.value)
        order = [outbox_messages.c.created_at.desc(), outbox_messages.c.id.desc()]
        found, total = await self._page(query, order, page)
        return Page(tuple(outbox_entry_from_row(r) for r in found), page.page, page.page_size, total)


# Rows <-> domain: every field written and read back (tests/integration/test_reloading.py reloads them).


def outbox_entry_to_row(entry: OutboxEntry) -> dict[str, Any]:
    message = entry.message
    return {
        "tenant_id": message.tenant_id,
        "id": message.id,
        "kind": message.kind,
        "recipient": message.recipient,
        "subject": message.subject,
        "text_body": message.text,
        "html_body": message.html,
        "status": entry.status.value,
        "attempts": entry.attempts,
        "next_attempt_at": entry.next_attempt_at,
        "last_error": entry.last_error,
        "created_at": message.created_at,
        "sent_at": entry.sent_at,
    }


def outbox_entry_from_row(row: Row) -> OutboxEntry:
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
