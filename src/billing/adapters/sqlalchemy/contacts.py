"""Tenants' billing contacts (`billing_contacts`)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert

from billing.adapters.sqlalchemy import rows
from billing.adapters.sqlalchemy.base import SqlAlchemyRepository
from billing.adapters.sqlalchemy.tables import billing_contacts
from billing.domain.contact import BillingContact

# Read by every approval and payment (the email's recipient): on the driver connection, as the charge.
CONTACT = (
    f"SELECT {', '.join(c.name for c in billing_contacts.c)} FROM billing_contacts WHERE tenant_id = %(tenant_id)s"
)


class SqlAlchemyContactRepository(SqlAlchemyRepository):
    async def get(self, tenant_id: str) -> BillingContact | None:
        row = await self._fetch_one_on_driver(CONTACT, {"tenant_id": tenant_id})
        return None if row is None else rows.contact_from_row(row)

    async def save(self, contact: BillingContact) -> None:
        values = rows.contact_to_row(contact)
        statement = pg_insert(billing_contacts).values(values)
        await self._execute(
            statement.on_conflict_do_update(
                index_elements=[billing_contacts.c.tenant_id],
                set_={name: statement.excluded[name] for name in values if name != "tenant_id"},
            )
        )
