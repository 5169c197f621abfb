"""Meta's status webhook (contract v2 §11): the phone-number map and the record of every status received.

- `whatsapp_numbers`: Meta's business phone number id -> the tenant whose messages it sends. Platform-wide by
  nature (§13): the webhook reads it before it knows any tenant, so the number alone is the key
  (`pk_whatsapp_numbers`: one tenant per number; a second mapping of a number is refused, never moved). On Citus a
  reference table, exempt from the tenant-key rule by the schema test's allow-list. `ix_whatsapp_numbers_tenant_id`
  lists a tenant's numbers.
- `webhook_events`: each status of a mapped number and what became of it (`outcome`, `reason`, the hold and ledger
  row it touched), tenant_id first in every key (§6). `ux_webhook_events_status` is the exactly-once rule: each
  (tenant, message id, status) is recorded at most once, so a redelivered body or a second webhook worker finds it
  recorded and skips it (the application also reads it first: `seen`); a status too malformed to name its message
  or status is recorded each time it comes (the index is partial). `status` is the text Meta wrote, bounded to 64
  characters by the parser (an unknown status such as `played` is kept as written), so it is wider than ours.
  Newest first: per tenant (`ix_webhook_events_tenant_id_received_at`), platform-wide
  (`ix_webhook_events_received_at`) and by outcome (`ix_webhook_events_outcome_received_at`: an operator's list
  of what was `unmatched` reads and counts only those).
- `webhook_unknown_events`: statuses of numbers nobody mapped (or whose number Meta did not say), which belong to
  no tenant: platform-wide (§13), exempt like the map. Recorded once per (number, message id, status); the number
  is compared through COALESCE so that statuses without a number are deduplicated too (a unique index treats
  NULLs as distinct) on every PostgreSQL version Citus runs on.

Both event tables are append-only in use: the production role may SELECT and INSERT them, nothing else
(docs/operations.md).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TENANT = sa.String(64)
PHONE_NUMBER_ID = sa.String(64)
MESSAGE_ID = sa.String(200)
RAW_STATUS = sa.String(64)
OUTCOMES = "outcome IN ('applied', 'ignored', 'unmatched')"
KEYED = sa.text("message_id IS NOT NULL AND status IS NOT NULL")


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "whatsapp_numbers",
        sa.Column("phone_number_id", PHONE_NUMBER_ID, nullable=False),
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        _ts("created_at", False),
        sa.PrimaryKeyConstraint("phone_number_id", name="pk_whatsapp_numbers"),
    )
    op.create_index("ix_whatsapp_numbers_tenant_id", "whatsapp_numbers", ["tenant_id"])

    op.create_table(
        "webhook_events",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("phone_number_id", PHONE_NUMBER_ID, nullable=False),  # the tenant is found through it
        sa.Column("message_id", MESSAGE_ID),
        sa.Column("status", RAW_STATUS),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64)),
        _ts("received_at", False),
        sa.Column("hold_id", sa.Uuid),
        sa.Column("transaction_id", sa.Uuid),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_webhook_events"),
        sa.CheckConstraint(OUTCOMES, name="ck_webhook_events_outcome"),
    )
    # Each status of a message at most once per tenant: racing workers and redelivered bodies record it once.
    op.create_index(
        "ux_webhook_events_status",
        "webhook_events",
        ["tenant_id", "message_id", "status"],
        unique=True,
        postgresql_where=KEYED,
    )
    op.create_index(
        "ix_webhook_events_tenant_id_received_at", "webhook_events", ["tenant_id", sa.text("received_at DESC")]
    )
    op.create_index("ix_webhook_events_received_at", "webhook_events", [sa.text("received_at DESC")])
    op.create_index("ix_webhook_events_outcome_received_at", "webhook_events", ["outcome", sa.text("received_at DESC")])

    op.create_table(
        "webhook_unknown_events",
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("phone_number_id", PHONE_NUMBER_ID),  # null when Meta's change did not say it
        sa.Column("message_id", MESSAGE_ID),
        sa.Column("status", RAW_STATUS),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(64)),
        _ts("received_at", False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_unknown_events"),
        sa.CheckConstraint(OUTCOMES, name="ck_webhook_unknown_events_outcome"),
    )
    op.create_index(
        "ux_webhook_unknown_events_status",
        "webhook_unknown_events",
        [sa.text("COALESCE(phone_number_id, '')"), "message_id", "status"],
        unique=True,
        postgresql_where=KEYED,
    )
    op.create_index("ix_webhook_unknown_events_received_at", "webhook_unknown_events", [sa.text("received_at DESC")])


def downgrade() -> None:
    op.drop_table("webhook_unknown_events")
    op.drop_table("webhook_events")
    op.drop_table("whatsapp_numbers")
