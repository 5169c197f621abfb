"""Holds (contract v2 §9), the wallet's status and marketing reserve (§10), and statements (§12).

- `wallets` gains `held` (the sum of its open holds, kept by whatever opens or closes a hold, in the same
  statement), `status`/`frozen_reason` (the freeze), and `CHECK (balance >= held AND held >= 0)`: whatever the
  application does, `available = balance - held` is never negative.
- `holds`: one row per message id and tenant (`ux_holds_message`: concurrent twins end with one hold), tenant_id
  first in every key (§6). The quote is copied onto the row because a hold is settled at its own price, whatever
  the card in force by then. `ix_holds_due` is the sweeper's queue (open holds only, by `expires_at`).
- `wallet_settings`: the marketing reserve a marketing hold may not eat into.
- `wallet_transactions.price`: a message charge's price snapshot, kept for disputes (null on every other row).
  Adding a nullable column rewrites no row and fires no row trigger, so the ledger stays append-only (0001's
  triggers refuse UPDATE, DELETE and TRUNCATE as before). Its CHECK is added NOT VALID: every existing row has
  a null price by construction, and validating would scan the whole ledger under an exclusive lock.
- `ix_wallet_transactions_statement` reads a statement in (created_at, seq) order by keyset. On a large ledger,
  build it first with `CREATE INDEX CONCURRENTLY ix_wallet_transactions_statement ON wallet_transactions
  (tenant_id, created_at, seq)`: the migration then skips it (IF NOT EXISTS) instead of blocking charges.
- Two functions answer "is this message id taken by the other kind?" from a fresh snapshot. A hold and a direct
  charge of one message id both update the wallet's row, so the second waits for the first and then re-checks its
  WHERE clause on the row the first wrote; a check written in plain SQL would still read the statement's old
  snapshot and let both through, whereas a VOLATILE PL/pgSQL function reads again (READ COMMITTED) and sees the
  first one committed. Nothing is locked on the ledger (the production role may not).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(19, 4)
TENANT = sa.String(64)


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column("wallets", sa.Column("held", MONEY, nullable=False, server_default=sa.text("0")))
    op.add_column("wallets", sa.Column("status", sa.String(16), nullable=False, server_default="active"))
    op.add_column("wallets", sa.Column("frozen_reason", sa.String(512)))
    op.create_check_constraint("ck_wallets_status", "wallets", "status IN ('active', 'frozen')")
    op.create_check_constraint("ck_wallets_balance_covers_held", "wallets", "balance >= held AND held >= 0")

    op.add_column("wallet_transactions", sa.Column("price", JSONB))
    op.create_check_constraint(
        "ck_wallet_transactions_price_on_charge",
        "wallet_transactions",
        "price IS NULL OR kind = 'charge'",
        postgresql_not_valid=True,
    )
    op.create_index(
        "ix_wallet_transactions_statement",
        "wallet_transactions",
        ["tenant_id", "created_at", "seq"],
        if_not_exists=True,
    )

    op.create_table(
        "holds",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("message_id", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("recipient", sa.String(32), nullable=False),
        sa.Column("country", sa.CHAR(2), nullable=False),
        sa.Column("market", sa.String(100), nullable=False),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("tier", sa.Integer, nullable=False),
        sa.Column("rate_card_id", sa.Uuid, nullable=False),
        sa.Column("unit_price", MONEY, nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("free_reason", sa.String(32)),
        sa.Column("message_window", sa.String(32), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        _ts("created_at", False),
        _ts("expires_at", False),
        _ts("settled_at"),
        _ts("voided_at"),
        sa.Column("charged", MONEY),
        sa.Column("shortfall", MONEY),
        sa.Column("transaction_id", sa.Uuid),
        sa.Column("settled_category", sa.String(32)),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_holds"),
        sa.ForeignKeyConstraint(["tenant_id"], ["wallets.tenant_id"], name="fk_holds_tenant_id_wallets"),
        sa.CheckConstraint("status IN ('held', 'settled', 'voided', 'expired')", name="ck_holds_status"),
        sa.CheckConstraint(
            "category IN ('marketing', 'utility', 'authentication', 'authentication_international', 'service')",
            name="ck_holds_category",
        ),
        sa.CheckConstraint("amount >= 0 AND unit_price >= 0", name="ck_holds_amount_non_negative"),
        sa.CheckConstraint("charged >= 0 AND shortfall >= 0", name="ck_holds_charged_non_negative"),
        sa.CheckConstraint("tier >= 1", name="ck_holds_tier_positive"),
        sa.CheckConstraint("expires_at > created_at", name="ck_holds_expires_after_created"),
        sa.CheckConstraint(
            "status <> 'settled' OR (settled_at IS NOT NULL AND charged IS NOT NULL AND shortfall IS NOT NULL)",
            name="ck_holds_settled_has_charge",
        ),
    )
    # One hold per message id: twins racing end with one row (the loser re-runs and finds it).
    op.create_index("ux_holds_message", "holds", ["tenant_id", "message_id"], unique=True)
    # The sweeper's queue: open holds by expiry, nothing else.
    op.create_index("ix_holds_due", "holds", ["expires_at"], postgresql_where=sa.text("status = 'held'"))
    op.create_index("ix_holds_tenant_id_created_at", "holds", ["tenant_id", sa.text("created_at DESC")])

    op.create_table(
        "wallet_settings",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("marketing_reserve", MONEY, nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        _ts("updated_at", False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_wallet_settings"),
        sa.CheckConstraint("marketing_reserve >= 0", name="ck_wallet_settings_marketing_reserve_non_negative"),
    )

    op.execute(
        """
        CREATE FUNCTION billing_message_held(p_tenant_id text, p_message_id text) RETURNS boolean
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            RETURN EXISTS (SELECT FROM holds WHERE tenant_id = p_tenant_id AND message_id = p_message_id);
        END
        $$
        """
    )
    op.execute(
        """
        CREATE FUNCTION billing_messages_charged(p_tenant_id text, p_message_ids text[]) RETURNS boolean
        LANGUAGE plpgsql VOLATILE AS $$
        BEGIN
            RETURN EXISTS (
                SELECT FROM wallet_transactions
                WHERE tenant_id = p_tenant_id AND kind = 'charge' AND reference_id = ANY (p_message_ids)
            );
        END
        $$
        """
    )


def downgrade() -> None:
    op.execute("DROP FUNCTION billing_messages_charged(text, text[])")
    op.execute("DROP FUNCTION billing_message_held(text, text)")
    op.drop_table("wallet_settings")
    op.drop_table("holds")
    op.drop_index("ix_wallet_transactions_statement", table_name="wallet_transactions")
    op.drop_constraint("ck_wallet_transactions_price_on_charge", "wallet_transactions", type_="check")
    op.drop_column("wallet_transactions", "price")
    op.drop_constraint("ck_wallets_balance_covers_held", "wallets", type_="check")
    op.drop_constraint("ck_wallets_status", "wallets", type_="check")
    op.drop_column("wallets", "frozen_reason")
    op.drop_column("wallets", "status")
    op.drop_column("wallets", "held")
