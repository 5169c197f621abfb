"""Tenants' billing contacts (`billing_contacts`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert

from billing.adapters.sqlalchemy.base import Row, SqlAlchemyRepository
from billing.adapters.sqlalchemy.tables import billing_contacts
from billing.domain.contact import BillingContact

# Read by every approval and payment (the email's recipient): on the driver connection, as the charge.
CONTACT = (
    f"SELECT {', '.join(c.name for c in billing_contacts.c)} FROM billing_contacts WHERE tenant_id = %(tenant_id)s"
)


class SqlAlchemyContactRepository(SqlAlchemyRepository):
    async def get(self, tenant_id: str) -> BillingContact | None:
        row = await self._fetch_one_on_driver(CONTACT, {"tenant_id": tenant_id})
        return None if row is None else contact_from_row(row)

    async def save(self, contact: BillingContact) -> None:
        values = contact_to_row(contact)
        statement = pg_insert(billing_contacts).values(values)
        await self._execute(
            statement.on_conflict_do_update(
                index_elements=[billing_contacts.c.tenant_id],
                set_={name: statement.excluded[name] for name in values if name != "tenant_id"},
            )
        )


# Rows <-> domain: every field written and read back (tests/integration/test_reloading.py reloads them).


def contact_to_row(contact: BillingContact) -> dict[str, Any]:
    return {
        "tenant_id": contact.tenant_id,
        "email": contact.email,
        "name": contact.name,
        "updated_by": contact.updated_by,
        "updated_at": contact.updated_at,
    }


def contact_from_row(row: Row) -> BillingContact:
    return BillingContact(
        tenant_id=row["tenant_id"],
        email=row["email"],
        name=row["name"],
        updated_by=row["updated_by"],
        updated_at=row["updated_at"],
    )
