"""Readiness (`GET /ready`): the database answers and its schema is at the latest migration."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol, runtime_checkable

import attrs
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.sqlalchemy.migrations import is_at_head

log = logging.getLogger("billing.http.readiness")


@runtime_checkable
class Readiness(Protocol):
    async def problem(self) -> str | None:
        """None when ready; otherwise what is wrong, in words an operator can act on."""
        ...


class AlwaysReady:
    """The in-memory adapters have nothing to wait for."""

    async def problem(self) -> str | None:
        return None


@attrs.frozen
class DatabaseReadiness:
    engine: AsyncEngine
    url: str = attrs.field(repr=False)
    timeout_seconds: float = 5.0

    async def problem(self) -> str | None:
        try:
            async with asyncio.timeout(self.timeout_seconds):
                async with self.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
                at_head = await asyncio.to_thread(is_at_head, self.url)
        except Exception:
            log.warning("readiness check: the database does not answer", exc_info=True)
            return "the database does not answer"
        if not at_head:
            return "the database schema is not at the latest migration; run `billing db upgrade`"
        return None
