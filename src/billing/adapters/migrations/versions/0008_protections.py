"""The clinic's protections (contract v2 §10): alert levels and the automatic top-up in the settings, the alerts,
the hourly spend behind the runway, and one open automatic top-up request per tenant.

- `wallet_settings` gains `low_balance_levels` (at most 5, each > 0), the automatic top-up (`auto_topup_*`; when
  enabled every amount is set and `target > threshold >= 0`), and `watch_below`: the highest `available` at which
  a protection may act, written with the settings. The hot money statements read only `watch_below` (one index
  lookup in the same statement), so a wallet far above its levels pays nothing more.
- `low_balance_alerts`: one row per crossing, tenant_id first in every key (§6), newest first per tenant.
- `wallet_spend`: message charges less their refunds per tenant and UTC hour, kept by a trigger on the ledger's
  INSERT (every path that writes a charge or a refund counts, none can forget), so `daily_spend` reads at most 336
  rows by primary key whatever the ledger's size. Filled from the ledger's last 15 days at upgrade (older hours
  are never read). On Citus it is distributed by tenant_id, co-located with the ledger, so the trigger touches
  the same shard (`citus.enable_unsafe_triggers`, docs/operations.md).
- `ux_topup_requests_open_automatic`: at most one `pending` or `invoiced` automatic request per tenant. A burst
  of holds below the threshold makes one request, whatever the races.
- `ix_topup_requests_automatic`: the automatic requests of a tenant by time, for the monthly cap.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(19, 4)
TENANT = sa.String(64)
AUTO = "'auto'"


def upgrade() -> None:
    op.add_column(
        "wallet_settings",
        sa.Column("low_balance_levels", ARRAY(MONEY), nullable=False, server_default=sa.text("'{}'")),
    )
    op.add_column(
        "wallet_settings", sa.Column("auto_topup_enabled", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.add_column("wallet_settings", sa.Column("auto_topup_threshold", MONEY))
    op.add_column("wallet_settings", sa.Column("auto_topup_target", MONEY))
    op.add_column("wallet_settings", sa.Column("auto_topup_monthly_cap", MONEY))
    op.add_column("wallet_settings", sa.Column("watch_below", MONEY))
    op.create_check_constraint(
        "ck_wallet_settings_levels",
        "wallet_settings",
        "cardinality(low_balance_levels) <= 5 AND 0 < ALL (low_balance_levels)",
    )
    op.create_check_constraint(
        "ck_wallet_settings_auto_topup",
        "wallet_settings",
        "NOT auto_topup_enabled OR (auto_topup_threshold >= 0 AND auto_topup_target > auto_topup_threshold"
        " AND auto_topup_monthly_cap > 0)",
    )

    op.create_table(
        "low_balance_alerts",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("level", MONEY, nullable=False),
        sa.Column("available", MONEY, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_low_balance_alerts"),
        sa.CheckConstraint("level > 0 AND available >= 0 AND available < level", name="ck_low_balance_alerts_below"),
    )
    op.create_index(
        "ix_low_balance_alerts_tenant_id_created_at",
        "low_balance_alerts",
        ["tenant_id", sa.text("created_at DESC"), sa.text("id DESC")],
    )

    op.create_table(
        "wallet_spend",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "hour", name="pk_wallet_spend"),
    )
    op.execute(
        """
        CREATE FUNCTION billing_count_spend() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO wallet_spend AS spend (tenant_id, hour, amount)
            VALUES (NEW.tenant_id, date_trunc('hour', NEW.created_at, 'UTC'), -NEW.amount)
            ON CONFLICT (tenant_id, hour) DO UPDATE SET amount = spend.amount + EXCLUDED.amount;
            RETURN NULL;
        END
        $$
        """
    )
    op.execute(
        """
        CREATE TRIGGER wallet_transactions_count_spend AFTER INSERT ON wallet_transactions
        FOR EACH ROW WHEN (NEW.kind IN ('charge', 'refund')) EXECUTE FUNCTION billing_count_spend()
        """
    )
    op.execute(
        """
        INSERT INTO wallet_spend (tenant_id, hour, amount)
        SELECT tenant_id, date_trunc('hour', created_at, 'UTC'), -sum(amount)
        FROM wallet_transactions
        WHERE kind IN ('charge', 'refund') AND created_at >= now() - interval '15 days'
        GROUP BY 1, 2
        """
    )

    op.create_index(
        "ux_topup_requests_open_automatic",
        "topup_requests",
        ["tenant_id"],
        unique=True,
        postgresql_where=sa.text(f"requested_by = {AUTO} AND status IN ('pending', 'invoiced')"),
    )
    op.create_index(
        "ix_topup_requests_automatic",
        "topup_requests",
        ["tenant_id", "requested_at"],
        postgresql_where=sa.text(f"requested_by = {AUTO}"),
    )


def downgrade() -> None:
    op.drop_index("ix_topup_requests_automatic", table_name="topup_requests")
    op.drop_index("ux_topup_requests_open_automatic", table_name="topup_requests")
    op.execute("DROP TRIGGER wallet_transactions_count_spend ON wallet_transactions")
    op.execute("DROP FUNCTION billing_count_spend()")
    op.drop_table("wallet_spend")
    op.drop_table("low_balance_alerts")
    op.drop_constraint("ck_wallet_settings_auto_topup", "wallet_settings", type_="check")
    op.drop_constraint("ck_wallet_settings_levels", "wallet_settings", type_="check")
    for column in (
        "watch_below",
        "auto_topup_monthly_cap",
        "auto_topup_target",
        "auto_topup_threshold",
        "auto_topup_enabled",
        "low_balance_levels",
    ):
        op.drop_column("wallet_settings", column)
