"""Stored responses of idempotency keys (`idempotency_keys`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert

from billing.adapters.sqlalchemy.base import Row, SqlAlchemyRepository
from billing.adapters.sqlalchemy.tables import idempotency_keys
from billing.application.idempotency import IdempotencyRecord

CLAIM_KEY = text("SELECT pg_try_advisory_xact_lock(hashtextextended(:scope, 0))")


class SqlAlchemyIdempotencyKeyRepository(SqlAlchemyRepository):
    async def claim(self, tenant_id: str, key: str) -> bool:
        """A transaction-scoped advisory lock: released by commit or rollback, never leaked."""
        claimed = await self._execute(CLAIM_KEY, {"scope": f"idempotency:{tenant_id}:{key}"})
        return bool(claimed.scalar_one())

    async def get(self, tenant_id: str, key: str, now: datetime) -> IdempotencyRecord | None:
        query = select(idempotency_keys).where(
            idempotency_keys.c.tenant_id == tenant_id,
            idempotency_keys.c.key == key,
            idempotency_keys.c.expires_at > now,
        )
        row = (await self._execute(query)).mappings().first()
        return None if row is None else idempotency_record_from_row(row)

    async def add(self, record: IdempotencyRecord) -> None:
        # An expired record of the same key may still be there: the new first use replaces it.
        values = idempotency_record_to_row(record)
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


# Rows <-> domain: every field written and read back (tests/integration/test_reloading.py reloads them).


def idempotency_record_to_row(record: IdempotencyRecord) -> dict[str, Any]:
    return {
        "tenant_id": record.tenant_id,
        "key": record.key,
        "fingerprint": record.fingerprint,
        "status_code": record.status_code,
        "body": record.body,
        "content_type": record.content_type,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
    }


def idempotency_record_from_row(row: Row) -> IdempotencyRecord:
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
