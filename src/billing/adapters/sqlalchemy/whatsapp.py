"""Meta's phone numbers (`whatsapp_numbers`) and the webhook's record of each status (`webhook_events`, and
`webhook_unknown_events` for numbers nobody mapped): contract v2 §11, migration 0006.

Exactly once is the database's: `ux_webhook_events_status` keeps one event per (tenant, message id, status), and
`record` inserts with ON CONFLICT DO NOTHING, so a second webhook worker that applied the same status records
nothing: the hold's row lock made it wait for the first and find nothing left to do, or the ledger's unique charge
reference made it re-run its unit and find the status recorded. What a body reads and writes on every delivery
(`tenants_of`, `seen`, `record`) runs on the driver connection, one statement each, whatever the number of statuses
(holds.py does so for the same reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, Uuid, cast, null, select, union_all
from sqlalchemy.dialects.postgresql import insert as pg_insert

from billing.adapters.sqlalchemy.base import Row, SqlAlchemyRepository
from billing.adapters.sqlalchemy.tables import TENANT, webhook_events, webhook_unknown_events, whatsapp_numbers
from billing.application.pagination import Page, PageRequest
from billing.application.ports import ConcurrencyConflictError, WebhookEventFilter
from billing.domain.webhook_events import Outcome, WebhookEvent, WhatsAppNumber

# The body's numbers and their tenants: one read, whatever their number.
TENANTS_OF = """
    SELECT phone_number_id, tenant_id FROM whatsapp_numbers WHERE phone_number_id = ANY (%(phone_number_ids)s::text[])
"""

# Which of a tenant's (message id, status) pairs are recorded: one read by the unique index.
SEEN = """
    SELECT message_id, status FROM webhook_events
    WHERE tenant_id = %(tenant_id)s
      AND (message_id, status) IN (SELECT * FROM unnest(%(message_ids)s::text[], %(statuses)s::text[]))
"""

# How each column's array is typed when the events are sent as one array per column (text by default).
_ARRAY_TYPES = {"id": "uuid", "received_at": "timestamptz", "hold_id": "uuid", "transaction_id": "uuid"}


def _insert_many(table: str, columns: Sequence[str]) -> str:
    """Every event in one statement, one array per column. A (tenant or number, message id, status) recorded
    already, by this statement's earlier row or by another unit (whose commit it waits for), is left out."""
    arrays = ", ".join(f"%({name})s::{_ARRAY_TYPES.get(name, 'text')}[]" for name in columns)
    return f"""
        INSERT INTO {table} ({", ".join(columns)})
        SELECT * FROM unnest({arrays})
        ON CONFLICT DO NOTHING
    """


_TENANT_COLUMNS = [column.name for column in webhook_events.c]
_UNKNOWN_COLUMNS = [column.name for column in webhook_unknown_events.c]
RECORD_EVENTS = _insert_many("webhook_events", _TENANT_COLUMNS)
RECORD_UNKNOWN_EVENTS = _insert_many("webhook_unknown_events", _UNKNOWN_COLUMNS)


class SqlAlchemyWhatsAppNumberRepository(SqlAlchemyRepository):
    async def add(self, number: WhatsAppNumber) -> tuple[WhatsAppNumber, bool]:
        table = whatsapp_numbers
        inserted = await self._execute(
            pg_insert(table)
            .values(whatsapp_number_to_row(number))
            .on_conflict_do_nothing(index_elements=[table.c.phone_number_id])
            .returning(table)
        )
        row = inserted.mappings().first()
        if row is not None:
            return whatsapp_number_from_row(row), True
        # Mapped already, maybe by a unit that committed while the insert waited: a new statement (a new snapshot
        # under READ COMMITTED) sees it.
        found = (await self._execute(select(table).where(table.c.phone_number_id == number.phone_number_id))).first()
        if found is None:  # unmapped between the two statements
            raise ConcurrencyConflictError(f"phone number {number.phone_number_id} was unmapped meanwhile")
        return whatsapp_number_from_row(found._mapping), False

    async def tenants_of(self, phone_number_ids: Sequence[str]) -> dict[str, str]:
        if not phone_number_ids:
            return {}
        found = await self._fetch_all_on_driver(TENANTS_OF, {"phone_number_ids": list(phone_number_ids)})
        return {row["phone_number_id"]: row["tenant_id"] for row in found}

    async def list(self, tenant_id: str | None, page: PageRequest) -> Page[WhatsAppNumber]:
        table = whatsapp_numbers
        query = select(table)
        if tenant_id is not None:
            query = query.where(table.c.tenant_id == tenant_id)
        found, total = await self._page(query, [table.c.created_at.desc(), table.c.phone_number_id.desc()], page)
        return Page(tuple(whatsapp_number_from_row(row) for row in found), page.page, page.page_size, total)

    async def remove(self, phone_number_id: str) -> bool:
        table = whatsapp_numbers
        deleted = await self._execute(
            table.delete().where(table.c.phone_number_id == phone_number_id).returning(table.c.phone_number_id)
        )
        return deleted.first() is not None


class SqlAlchemyWebhookEventRepository(SqlAlchemyRepository):
    async def seen(self, tenant_id: str, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        if not keys:
            return set()
        params = {
            "tenant_id": tenant_id,
            "message_ids": [message_id for message_id, _ in keys],
            "statuses": [status for _, status in keys],
        }
        found = await self._fetch_all_on_driver(SEEN, params)
        return {(row["message_id"], row["status"]) for row in found}

    async def record(self, events: Sequence[WebhookEvent]) -> None:
        """At most two statements: a tenant's events, and those of numbers nobody mapped (a body's statuses are
        applied one tenant per unit of work, so one of the two in practice)."""
        tenants = [webhook_event_to_row(event) for event in events if event.tenant_id is not None]
        unknown = [webhook_event_to_row(event) for event in events if event.tenant_id is None]
        if tenants:
            await self._execute_on_driver(RECORD_EVENTS, _columns(tenants, _TENANT_COLUMNS))
        if unknown:
            await self._execute_on_driver(RECORD_UNKNOWN_EVENTS, _columns(unknown, _UNKNOWN_COLUMNS))

    async def list(self, filters: WebhookEventFilter, page: PageRequest) -> Page[WebhookEvent]:
        query = _events_query(filters)
        columns = query.selected_columns
        found, total = await self._page(query, [columns.received_at.desc(), columns.id.desc()], page)
        return Page(tuple(webhook_event_from_row(row) for row in found), page.page, page.page_size, total)


def _columns(values: Sequence[dict[str, Any]], columns: Sequence[str]) -> dict[str, list[Any]]:
    return {name: [value[name] for value in values] for name in columns}


def _events_query(filters: WebhookEventFilter) -> Select[Any]:
    """A tenant's events; or, without a tenant, every tenant's and those of unknown numbers together."""
    tenants = select(webhook_events)
    if filters.outcome is not None:
        tenants = tenants.where(webhook_events.c.outcome == filters.outcome.value)
    if filters.tenant_id is not None:
        return tenants.where(webhook_events.c.tenant_id == filters.tenant_id)
    columns = webhook_unknown_events.c
    unknown = select(
        cast(null(), TENANT).label("tenant_id"),
        columns.id,
        columns.phone_number_id,
        columns.message_id,
        columns.status,
        columns.outcome,
        columns.reason,
        columns.received_at,
        cast(null(), Uuid).label("hold_id"),
        cast(null(), Uuid).label("transaction_id"),
    )
    if filters.outcome is not None:
        unknown = unknown.where(columns.outcome == filters.outcome.value)
    both = union_all(tenants, unknown).subquery("events")
    return select(both)


# Rows <-> domain: every field written and read back (tests/integration/test_reloading.py reloads them).


def whatsapp_number_to_row(number: WhatsAppNumber) -> dict[str, Any]:
    return {
        "phone_number_id": number.phone_number_id,
        "tenant_id": number.tenant_id,
        "created_by": number.created_by,
        "created_at": number.created_at,
    }


def whatsapp_number_from_row(row: Row) -> WhatsAppNumber:
    return WhatsAppNumber(
        phone_number_id=row["phone_number_id"],
        tenant_id=row["tenant_id"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


def webhook_event_to_row(event: WebhookEvent) -> dict[str, Any]:
    """A tenant's event (`webhook_events`); an unknown number's (no tenant) leaves out the three columns
    `webhook_unknown_events` does not have, which are always null for it."""
    row = {
        "id": event.id,
        "phone_number_id": event.phone_number_id,
        "message_id": event.message_id,
        "status": event.status,
        "outcome": event.outcome.value,
        "reason": event.reason,
        "received_at": event.received_at,
    }
    if event.tenant_id is None:
        if event.hold_id is not None or event.transaction_id is not None:
            raise ValueError("a status of no tenant touches no hold and no ledger")
        return row
    return {"tenant_id": event.tenant_id, **row, "hold_id": event.hold_id, "transaction_id": event.transaction_id}


def webhook_event_from_row(row: Row) -> WebhookEvent:
    """From either table (an unknown number's rows are read with null tenant, hold and transaction)."""
    return WebhookEvent(
        id=row["id"],
        tenant_id=row["tenant_id"],
        phone_number_id=row["phone_number_id"],
        message_id=row["message_id"],
        status=row["status"],
        outcome=Outcome(row["outcome"]),
        reason=row["reason"],
        received_at=row["received_at"],
        hold_id=row["hold_id"],
        transaction_id=row["transaction_id"],
    )
