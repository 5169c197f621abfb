"""Statements (contract v2 §12): a tenant's ledger rows over whole UTC days, read in chunks so that a year of a
busy clinic is never held in memory. Each chunk is its own short read; the ledger is append-only, so the chunks
together are the statement read at once."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta

import attrs

from billing.application.caller import Caller
from billing.application.ports import StatementLine, UnitOfWork
from billing.application.runtime import Runner, Runtime, requires, viewer
from billing.domain.errors import ValidationError
from billing.domain.ledger import LedgerEntry

MAX_DAYS = 366
CHUNK = 1000


@attrs.frozen
class StatementPeriod:
    first_day: date
    last_day: date  # inclusive

    @classmethod
    def of(cls, first_day: date | None, last_day: date | None, today: date) -> StatementPeriod:
        """`from` and `to` inclusive UTC days; each defaults to the current UTC month's first and last day."""
        month_start = today.replace(day=1)
        next_month = (month_start + timedelta(days=32)).replace(day=1)
        first = first_day or month_start
        last = last_day or next_month - timedelta(days=1)
        if first > last:
            raise ValidationError.of("from", f"must not be after to ({first.isoformat()} > {last.isoformat()})")
        if (last - first).days + 1 > MAX_DAYS:
            raise ValidationError.of("to", f"a statement covers at most {MAX_DAYS} days")
        return cls(first, last)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time.min, UTC)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight after the last day (the year 9999's last day ends at its last microsecond)."""
        if self.last_day == date.max:
            return datetime.max.replace(tzinfo=UTC)
        return datetime.combine(self.last_day + timedelta(days=1), time.min, UTC)


@attrs.frozen
class ReadStatement:
    period: StatementPeriod
    tenant_id: str | None = None  # None: the caller's own wallet
    after: object | None = None
    limit: int = CHUNK


@requires(viewer)
async def read_statement(query: ReadStatement, caller: Caller, uow: UnitOfWork, rt: Runtime) -> list[StatementLine]:
    """One chunk: `/wallet/me/statement.csv` (View) or `/wallets/{tenant_id}/statement.csv` (root + View)."""
    tenant_id = rt.auth.tenant_of(caller, query.tenant_id, "wallet", operators_view=True)
    period = query.period
    return await uow.wallets.statement(tenant_id, period.start, period.end, query.after, query.limit)


@attrs.frozen
class Statement:
    """A statement whose first chunk was read (so a refused caller or a bad period failed already); iterating
    reads the rest, chunk by chunk."""

    period: StatementPeriod
    first: list[StatementLine]
    read_after: Callable[[object], Awaitable[list[StatementLine]]]
    chunk: int = CHUNK

    async def entries(self) -> AsyncIterator[LedgerEntry]:
        lines = self.first
        while lines:
            for line in lines:
                yield line.entry
            if len(lines) < self.chunk:
                return
            lines = await self.read_after(lines[-1].cursor)


async def open_statement(
    runner: Runner, period: StatementPeriod, tenant_id: str | None, chunk: int = CHUNK
) -> Statement:
    """Read the first chunk now (a refused caller or a bad period fails here); the rest when iterated, each chunk
    its own unit of work."""

    async def read_after(after: object) -> list[StatementLine]:
        return await runner.run(read_statement, ReadStatement(period, tenant_id, after, chunk))

    first = await runner.run(read_statement, ReadStatement(period, tenant_id, None, chunk))
    return Statement(period, first, read_after, chunk)
