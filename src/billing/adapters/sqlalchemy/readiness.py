"""Readiness (`GET /ready`) on PostgreSQL: the database answers and its schema is at the latest migration.

One query per probe, on a pooled connection of the service's own engine; the revision the shipped
migrations end at is read from them once, on the first probe.
"""

from __future__ import annotations

import asyncio
import logging

import attrs
from psycopg.errors import UndefinedTable
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.sqlalchemy.migrations import head_revision

log = logging.getLogger("billing.http.readiness")

NOT_ANSWERING = "the database does not answer"
BEHIND = "the database schema is not at the latest migration; run `billing db upgrade`"
CURRENT_REVISION = text("SELECT version_num FROM alembic_version")


class MultipleHeadsError(Exception):
    """alembic_version holds several rows: Alembic itself refuses to name one current revision."""


@attrs.define
class SqlAlchemyReadiness:
    engine: AsyncEngine
    timeout_seconds: float = 5.0
    _expected: str | None = attrs.field(default=None, init=False, repr=False)

    async def problem(self) -> str | None:
        try:
            async with asyncio.timeout(self.timeout_seconds):
                expected = await self._expected_revision()
                current = await self._current_revision()
        except Exception:
            log.warning("readiness check: the database does not answer", exc_info=True)
            return NOT_ANSWERING
        if current != expected:
            return BEHIND
        return None

    async def _expected_revision(self) -> str:
        if self._expected is None:
            self._expected = await asyncio.to_thread(head_revision)  # reads the migrations' files
        return self._expected

    async def _current_revision(self) -> str | None:
        """What Alembic's MigrationContext.get_current_revision answers: None without the table or a row."""
        async with self.engine.connect() as connection:
            try:
                rows = (await connection.execute(CURRENT_REVISION)).scalars().all()
            except ProgrammingError as error:
                if isinstance(error.orig, UndefinedTable):  # never migrated
                    return None
                raise
        if len(rows) > 1:
            raise MultipleHeadsError(f"alembic_version holds {len(rows)} revisions")
        return rows[0] if rows else None
