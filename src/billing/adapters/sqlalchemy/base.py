"""What every PostgreSQL repository shares: the unit of work's connection, and errors translated.

Each repository's module ends with its tables' explicit row <-> domain functions, one pair per table (the ledger's,
which several repositories post to, are in ledger.py): every field is written and read back (a test reloads them),
and the repositories build no domain object themselves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import psycopg
from psycopg.rows import dict_row
from sqlalchemy import CursorResult, Executable, Select, Table, func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from billing.adapters.sqlalchemy.errors import translate, translate_driver
from billing.application.pagination import PageRequest
from billing.application.ports import RecordsEvents
from billing.domain.events import DomainEvent

# A row as the mappers read it: SQLAlchemy's RowMapping or the driver's dict.
Row = Mapping[Any, Any]


class SqlAlchemyRepository:
    """A repository on one AsyncConnection, inside the unit of work's transaction (SQLAlchemy Core)."""

    def __init__(self, connection: AsyncConnection, events: list[DomainEvent] | None = None) -> None:
        self._connection = connection
        self._events = [] if events is None else events

    def _collect(self, aggregate: RecordsEvents) -> None:
        """What an aggregate recorded, heard by the unit of work once the aggregate is written."""
        self._events.extend(aggregate.pull_events())

    def _record(self, event: DomainEvent) -> None:
        """An event of a write that no aggregate records (a debt's repayment, made by one statement), heard by the
        unit of work once the write succeeded."""
        self._events.append(event)

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
        """One statement straight on the psycopg connection, inside the unit of work's transaction: the hot
        paths skip SQLAlchemy's per-execution work (docs/performance.md). Its first row, if any."""
        found = await self._fetch_on_driver(sql, params, first_only=True)
        return found[0] if found else None

    async def _fetch_all_on_driver(self, sql: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The same, every row."""
        return await self._fetch_on_driver(sql, params, first_only=False)

    async def _execute_on_driver(self, sql: str, params: Mapping[str, Any]) -> None:
        """The same, for a statement that returns no row."""
        await self._fetch_on_driver(sql, params, first_only=None)

    async def _fetch_on_driver(
        self, sql: str, params: Mapping[str, Any], first_only: bool | None
    ) -> list[dict[str, Any]]:
        # The unit holds its pooled connection from the start: read it without I/O, where `get_raw_connection()`
        # switches greenlets (once per statement) to read the same attribute.
        sync = self._connection.sync_connection
        pooled = sync.connection if sync is not None else await self._connection.get_raw_connection()
        raw = pooled.driver_connection
        assert raw is not None
        try:
            cursor = raw.cursor(row_factory=dict_row)
            await cursor.execute(sql, params)
            if first_only is None:
                return []
            if first_only:
                row: dict[str, Any] | None = await cursor.fetchone()
                return [] if row is None else [row]
            rows: list[dict[str, Any]] = await cursor.fetchall()
            return rows
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
