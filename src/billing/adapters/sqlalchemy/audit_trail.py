"""The audit trail (`audit_events`, `platform_audit_events`; contract v3 §20): a tenant's rows key by tenant_id
first, platform-wide rows live apart; both are append-only (the database refuses UPDATE, DELETE and TRUNCATE).

Reads are newest first, by (`at`, `seq`): `seq` comes from one sequence for both tables, so rows written in one
instant keep the order they were written in, as in memory. Without a tenant the two tables are read together (a
UNION ALL), each side cut to the page's end first, so the first page reads a page's worth of each index, however
long the trail (migration 0009 lists the indexes)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import ColumnElement, Select, Table, cast, func, literal_column, null, select, union_all

from billing.adapters.sqlalchemy.base import Row, SqlAlchemyRepository
from billing.adapters.sqlalchemy.tables import TENANT, audit_events, platform_audit_events
from billing.application.pagination import Page, PageRequest
from billing.application.ports import AuditFilter
from billing.domain.audit import Actor, ActorKind, AuditEntry, Target

# What a page shows of a row, in both tables (a platform row's tenant_id is null).
_SHOWN = (
    "id",
    "seq",
    "at",
    "actor_kind",
    "actor_sub",
    "actor_tenant",
    "action",
    "target_type",
    "target_id",
    "request_id",
    "ip",
    "details",
)


def _start_of(day: Any) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _conditions(table: Table, filters: AuditFilter) -> list[ColumnElement[bool]]:
    """The filters on one table; `from_day` and `to_day` are UTC days, both included."""
    c = table.c
    conditions: list[ColumnElement[bool]] = []
    if filters.actor is not None:
        conditions.append(c.actor_sub == filters.actor)
        if filters.hidden_actor_tenant is not None:  # a clinic's view never finds an operator by name
            conditions.append(c.actor_tenant.is_distinct_from(filters.hidden_actor_tenant))
    if filters.action is not None:
        conditions.append(c.action == filters.action)
    if filters.target_id is not None:
        conditions.append(c.target_id == filters.target_id)
    if filters.from_day is not None:
        conditions.append(c.at >= _start_of(filters.from_day))
    if filters.to_day is not None:
        conditions.append(c.at < _start_of(filters.to_day + timedelta(days=1)))
    return conditions


def _rows(table: Table, filters: AuditFilter) -> Select[Any]:
    tenant = table.c.tenant_id if "tenant_id" in table.c else cast(null(), TENANT)
    return select(tenant.label("tenant_id"), *(table.c[name] for name in _SHOWN)).where(*_conditions(table, filters))


def _insert(table: Table) -> str:
    """A row's INSERT, on the driver connection: every audited use case writes one, mark paid's among them."""
    columns = [column.name for column in table.c if column.name != "seq"]  # `seq` is the shared sequence's
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(f'%({c})s' for c in columns)})"


_INSERT_TENANT_ROW = _insert(audit_events)
_INSERT_PLATFORM_ROW = _insert(platform_audit_events)


class SqlAlchemyAuditTrail(SqlAlchemyRepository):
    async def append(self, entry: AuditEntry) -> None:
        row = audit_entry_to_row(entry)
        row["details"] = Jsonb(row["details"])
        if entry.tenant_id is None:
            del row["tenant_id"]
            await self._execute_on_driver(_INSERT_PLATFORM_ROW, row)
        else:
            await self._execute_on_driver(_INSERT_TENANT_ROW, row)

    async def list(self, filters: AuditFilter, page: PageRequest) -> Page[AuditEntry]:
        if filters.tenant_id is not None:
            tenants = _rows(audit_events, filters).where(audit_events.c.tenant_id == filters.tenant_id)
            found, total = await self._page(tenants, [audit_events.c.at.desc(), audit_events.c.seq.desc()], page)
            return Page(tuple(audit_entry_from_row(row) for row in found), page.page, page.page_size, total)
        sides = [_rows(audit_events, filters), _rows(platform_audit_events, filters)]
        total = 0
        for side in sides:
            total += int((await self._execute(select(func.count()).select_from(side.subquery()))).scalar_one())
        newest: list[ColumnElement[Any]] = [literal_column("at").desc(), literal_column("seq").desc()]
        page_end = page.offset + page.page_size
        both = union_all(*(side.order_by(*newest).limit(page_end) for side in sides)).subquery()
        query = select(both).order_by(both.c.at.desc(), both.c.seq.desc()).limit(page.page_size).offset(page.offset)
        rows = (await self._execute(query)).mappings()
        return Page(tuple(audit_entry_from_row(row) for row in rows), page.page, page.page_size, total)


# Rows <-> domain: every field written and read back (tests/integration/test_reloading.py reloads them). `seq` is
# the database's (the shared sequence).


def audit_entry_to_row(entry: AuditEntry) -> dict[str, Any]:
    return {
        "tenant_id": entry.tenant_id,
        "id": entry.id,
        "at": entry.at,
        "actor_kind": entry.actor.kind.value,
        "actor_sub": entry.actor.sub,
        "actor_tenant": entry.actor.tenant,
        "action": entry.action,
        "target_type": entry.target.type,
        "target_id": entry.target.id,
        "request_id": entry.request_id,
        "ip": entry.ip,
        "details": dict(entry.details),
    }


def audit_entry_from_row(row: Row) -> AuditEntry:
    return AuditEntry(
        id=row["id"],
        at=row["at"],
        tenant_id=row["tenant_id"],
        actor=Actor(ActorKind(row["actor_kind"]), row["actor_sub"], row["actor_tenant"]),
        action=row["action"],
        target=Target(row["target_type"], row["target_id"]),
        request_id=row["request_id"],
        ip=row["ip"],
        details=row["details"],
    )
