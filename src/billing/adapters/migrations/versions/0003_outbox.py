"""The email outbox: messages written with the change they announce, delivered by a dispatcher.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_messages",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("recipient", sa.String(320)),
        sa.Column("subject", sa.String(500), nullable=False),
        sa.Column("text_body", sa.Text, nullable=False),
        sa.Column("html_body", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_outbox_messages"),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'failed', 'undeliverable')", name="ck_outbox_messages_status"
        ),
        sa.CheckConstraint("status = 'undeliverable' OR recipient IS NOT NULL", name="ck_outbox_messages_recipient"),
    )
    # The dispatcher's queue: only pending rows, in due order.
    op.create_index(
        "ix_outbox_messages_due",
        "outbox_messages",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index("ix_outbox_messages_status_created_at", "outbox_messages", ["status", "created_at"])


def downgrade() -> None:
    op.drop_table("outbox_messages")
