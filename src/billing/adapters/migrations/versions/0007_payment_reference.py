"""Money safety (contract v2 §12): one paid invoice per tenant and payment reference.

- `invoices.payment_reference_key`: the payment reference as compared, trimmed and case-folded (the domain's
  `reference_key`), set when an invoice is marked paid. `ux_invoices_payment_reference` is the rule: unique per
  (tenant, key) where a key is set, so two operators marking two invoices paid at once with `" Ref-1 "` and
  `"ref-1"` end with one paid invoice and one `duplicate` (errors.py maps the index by its name). Tenant first in
  the key (§6).
- Invoices already paid with equal references before this rule keep them: in each group of a tenant's paid
  invoices whose references are equal once compared, only the earliest paid (then the earliest created) holds
  the key; the others keep a NULL key and are listed as warnings on the `billing.migrations` logger (stderr
  under `billing db upgrade`), each naming the tenant, the invoices and their references.

The keys are computed here in Python, not with SQL's `lower(btrim(...))`: PostgreSQL's `btrim` trims spaces
only and its `lower` follows the database's locale, and a key computed otherwise than the application's would
let a duplicate through. The function is copied, not imported: a migration stays what it was when it ran.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-15
"""

from __future__ import annotations

import logging
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

log = logging.getLogger("billing.migrations")

BATCH = 1000
PAID = sa.text(
    "SELECT tenant_id, id, number, payment_reference FROM invoices"
    " WHERE status = 'paid' AND payment_reference IS NOT NULL"
    " ORDER BY tenant_id, paid_at, created_at, id"
)
SET_KEY = sa.text("UPDATE invoices SET payment_reference_key = :key WHERE tenant_id = :tenant_id AND id = :id")


def _key(reference: str) -> str:
    """billing.domain.invoice.reference_key as of this revision."""
    return reference.strip().casefold()


def _shown(row: dict[str, Any]) -> str:
    return f"{row['number']} ({row['payment_reference']!r})"


def upgrade() -> None:
    op.add_column("invoices", sa.Column("payment_reference_key", sa.Text))
    connection = op.get_bind()
    paid = [{**row, "key": _key(row["payment_reference"])} for row in connection.execute(PAID).mappings()]
    paid.sort(key=lambda row: (row["tenant_id"], row["key"]))  # stable: the earliest paid stays first in a group
    holders: list[dict[str, Any]] = []
    for (tenant_id, key), grouped in groupby(paid, key=lambda row: (row["tenant_id"], row["key"])):
        first, *others = grouped
        holders.append({"tenant_id": tenant_id, "id": first["id"], "key": key})
        if others:
            log.warning(
                "tenant %s: invoices paid with the same payment reference before it had to be unique: %s holds it;"
                " %s keep their reference without holding it",
                tenant_id,
                _shown(first),
                ", ".join(_shown(row) for row in others),
            )
    for start in range(0, len(holders), BATCH):
        connection.execute(SET_KEY, holders[start : start + BATCH])
    # One paid invoice per tenant and payment reference (compared trimmed and case-insensitively).
    op.create_index(
        "ux_invoices_payment_reference",
        "invoices",
        ["tenant_id", "payment_reference_key"],
        unique=True,
        postgresql_where=sa.text("payment_reference_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ux_invoices_payment_reference", table_name="invoices")
    op.drop_column("invoices", "payment_reference_key")
