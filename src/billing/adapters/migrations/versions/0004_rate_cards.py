"""Rate cards (contract v2 §8) and the monthly counters their volume tiers read.

A card is immutable and always read whole, so its markets and rates are one JSONB document each.
Tenant cards follow §6 (tenant first in every key); the default cards have no tenant: they are
platform-wide (v2 §13), a reference table on Citus, exempt from the key rule by the schema test's
allow-list.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _card_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("free_in_service_window", JSONB, nullable=False),
        sa.Column("markets", JSONB, nullable=False),
        sa.Column("rates", JSONB, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "rate_cards",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        *_card_columns(),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_rate_cards"),
    )
    # The card in force: the tenant's latest effective_from <= t, ties by creation.
    op.create_index(
        "ix_rate_cards_in_force",
        "rate_cards",
        ["tenant_id", sa.text("effective_from DESC"), sa.text("created_at DESC")],
    )
    op.create_table(
        "default_rate_cards",
        *_card_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_default_rate_cards"),
    )
    op.create_index(
        "ix_default_rate_cards_in_force",
        "default_rate_cards",
        [sa.text("effective_from DESC"), sa.text("created_at DESC")],
    )
    # n of a volume tier: the tenant's settled billable messages this UTC month, per market and category.
    op.create_table(
        "message_counts",
        sa.Column("tenant_id", sa.String(64), nullable=False),
        sa.Column("month", sa.CHAR(7), nullable=False),
        sa.Column("market", sa.String(100), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("settled", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "month", "market", "category", name="pk_message_counts"),
        sa.CheckConstraint("settled >= 0", name="ck_message_counts_settled_non_negative"),
    )


def downgrade() -> None:
    op.drop_table("message_counts")
    op.drop_table("default_rate_cards")
    op.drop_table("rate_cards")
