"""Money that goes wrong after the fact (contract v3 §19) and the audit trail (§20).

- `wallets.debt`: what a reversed payment took back beyond `available` (>= 0, `ck_wallets_debt_non_negative`).
  A column with a constant default is added without rewriting the table.
- `invoices` gain who marked them paid (`paid_by`, null before v3) and the reversal (`reversed_at`, `reversed_by`,
  `reversal_reason`, `reversed_amount`, `debt_added`), and the status `payment_reversed`
  (`ck_invoices_reversed_has_reversal`: a reversed invoice says when, by whom, why and how much).
  `ux_invoices_payment_reference` (0007) is unchanged: it is partial on the reference key being set, the key is set
  when an invoice is paid and kept when its payment is reversed, so the reference of a reversed invoice stays used
  (v3 §24); `ck_invoices_reference_key_when_paid` says that only paid and payment_reversed invoices hold a key.
- `topup_requests` gain the status `reversed` and `reversed_at`.
- The ledger gains the kinds `payment_reversal` and `debt_repayment` (both debits, with a reference), and
  `ux_wallet_transactions_payment_reversal_reference`: one reversal per top-up request, as one credit per request.
  The kind and sign CHECKs are replaced NOT VALID: each accepts every row the one it replaces accepted, and
  validating would scan the whole ledger under an exclusive lock (`ALTER TABLE wallet_transactions VALIDATE
  CONSTRAINT …` can run later without blocking writes). The spend trigger (0008) still counts charges and refunds
  only, and the append-only triggers (0001) are untouched. On a large ledger, build the unique index first with
  `CREATE UNIQUE INDEX CONCURRENTLY ux_wallet_transactions_payment_reversal_reference ON wallet_transactions
  (tenant_id, reference_id) WHERE kind = 'payment_reversal'`: the migration then skips it (IF NOT EXISTS).
- `adjustments`: an operator's correction and its decision, tenant_id first in every key (v1 §6);
  `ux_adjustments_reference` makes a reference unique per tenant (a racer's twin re-runs and finds the first);
  newest first per tenant. v1's ledger rows of kind `adjustment` are copied in as `applied` adjustments (the same
  id, no proposer, the row's description as the reason). v1 never made an adjustment's reference unique: in each
  group of a tenant's rows with one reference only the oldest keeps it, the others are copied without one (their
  ledger rows keep theirs) and are listed as warnings on the `billing.migrations` logger.
- `audit_events` (a tenant's rows, tenant_id first) and `platform_audit_events` (platform-wide rows, no tenant: on
  the schema test's allow-list): append-only, the database refuses UPDATE, DELETE and TRUNCATE as on the ledger.
  `seq` comes from one sequence for both, so rows written in one instant keep the order they were written in, also
  when the two are read together. Indexes keep the first page flat: a tenant's rows newest first, a tenant's rows
  of one action, every tenant's rows, one actor's rows, and one target's (a few rows, however many the trail has).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

log = logging.getLogger("billing.migrations")

MONEY = sa.Numeric(19, 4)
TENANT = sa.String(64)
AUDIT_SEQ = "audit_events_seq"

KINDS_V1 = "kind IN ('topup', 'charge', 'refund', 'adjustment')"
KINDS = "kind IN ('topup', 'charge', 'refund', 'adjustment', 'payment_reversal', 'debt_repayment')"
SIGNS_V1 = (
    "(kind IN ('topup', 'refund') AND amount > 0) OR (kind = 'charge' AND amount < 0)"
    " OR (kind = 'adjustment' AND amount <> 0)"
)
SIGNS = (
    "(kind IN ('topup', 'refund') AND amount > 0)"
    " OR (kind IN ('charge', 'payment_reversal', 'debt_repayment') AND amount < 0)"
    " OR (kind = 'adjustment' AND amount <> 0)"
)
INVOICE_STATUSES_V1 = "status IN ('draft', 'issued', 'paid', 'void')"
INVOICE_STATUSES = "status IN ('draft', 'issued', 'paid', 'void', 'payment_reversed')"
REQUEST_STATUSES_V1 = "status IN ('pending', 'invoiced', 'completed', 'rejected', 'cancelled')"
REQUEST_STATUSES = "status IN ('pending', 'invoiced', 'completed', 'rejected', 'cancelled', 'reversed')"

# v1's adjustments, each as an applied adjustment; the oldest row of a (tenant, reference) keeps the reference.
BACKFILL = sa.text(
    """
    INSERT INTO adjustments (tenant_id, id, amount, currency, reason, reference_id, status, proposed_by,
                             proposed_at, decided_by, decided_at, transaction_id)
    SELECT tenant_id, id, amount, currency, coalesce(description, ''),
           CASE WHEN first_of_reference THEN reference_id END,
           'applied', NULL, created_at, NULL, created_at, id
    FROM (
        SELECT *, reference_id IS NOT NULL
                  AND row_number() OVER (PARTITION BY tenant_id, reference_id ORDER BY seq) = 1 AS first_of_reference
        FROM wallet_transactions WHERE kind = 'adjustment'
    ) AS v1
    """
)
UNREFERENCED = sa.text(
    """
    SELECT a.tenant_id, t.reference_id, count(*) AS copies
    FROM adjustments a JOIN wallet_transactions t ON t.tenant_id = a.tenant_id AND t.id = a.transaction_id
    WHERE a.reference_id IS NULL AND t.reference_id IS NOT NULL
    GROUP BY a.tenant_id, t.reference_id
    ORDER BY a.tenant_id, t.reference_id
    """
)

APPEND_ONLY = """
    CREATE FUNCTION billing_audit_is_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$
"""


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _audit_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("seq", sa.BigInteger, server_default=sa.text(f"nextval('{AUDIT_SEQ}')"), nullable=False),
        _ts("at", False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_sub", sa.String(200)),
        sa.Column("actor_tenant", TENANT),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target_type", sa.String(32), nullable=False),
        sa.Column("target_id", sa.String(200), nullable=False),
        sa.Column("request_id", sa.String(128)),
        sa.Column("ip", sa.Text),  # what the server saw of the client: an address, or a name
        sa.Column("details", JSONB, nullable=False),
    ]


def _append_only(table: str) -> None:
    op.execute(
        f"CREATE TRIGGER {table}_no_update_delete BEFORE UPDATE OR DELETE ON {table}"
        " FOR EACH ROW EXECUTE FUNCTION billing_audit_is_append_only()"
    )
    op.execute(
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
        " FOR EACH STATEMENT EXECUTE FUNCTION billing_audit_is_append_only()"
    )


def _newest_first(*columns: str) -> list[str | sa.TextClause]:
    return [*columns, sa.text("at DESC"), sa.text("seq DESC")]


def upgrade() -> None:
    op.add_column("wallets", sa.Column("debt", MONEY, nullable=False, server_default=sa.text("0")))
    op.create_check_constraint("ck_wallets_debt_non_negative", "wallets", "debt >= 0")

    for column in (
        sa.Column("paid_by", sa.String(200)),
        _ts("reversed_at"),
        sa.Column("reversed_by", sa.String(200)),
        sa.Column("reversal_reason", sa.String(512)),
        sa.Column("reversed_amount", MONEY),
        sa.Column("debt_added", MONEY),
    ):
        op.add_column("invoices", column)
    op.drop_constraint("ck_invoices_status", "invoices", type_="check")
    op.create_check_constraint("ck_invoices_status", "invoices", INVOICE_STATUSES)
    op.create_check_constraint(
        "ck_invoices_reversed_has_reversal",
        "invoices",
        "status <> 'payment_reversed' OR (paid_at IS NOT NULL AND payment_reference IS NOT NULL"
        " AND reversed_at IS NOT NULL AND reversed_by IS NOT NULL AND reversal_reason IS NOT NULL"
        " AND reversed_amount >= 0 AND debt_added >= 0 AND reversed_amount + debt_added = total)",
    )
    op.create_check_constraint(
        "ck_invoices_reference_key_when_paid",
        "invoices",
        "payment_reference_key IS NULL OR status IN ('paid', 'payment_reversed')",
    )

    op.add_column("topup_requests", _ts("reversed_at"))
    op.drop_constraint("ck_topup_requests_status", "topup_requests", type_="check")
    op.create_check_constraint("ck_topup_requests_status", "topup_requests", REQUEST_STATUSES)

    op.drop_constraint("ck_wallet_transactions_kind", "wallet_transactions", type_="check")
    op.create_check_constraint("ck_wallet_transactions_kind", "wallet_transactions", KINDS, postgresql_not_valid=True)
    op.drop_constraint("ck_wallet_transactions_amount_sign", "wallet_transactions", type_="check")
    op.create_check_constraint(
        "ck_wallet_transactions_amount_sign", "wallet_transactions", SIGNS, postgresql_not_valid=True
    )
    # Exactly-once, as the top-up's credit: one reversal per top-up request.
    op.create_index(
        "ux_wallet_transactions_payment_reversal_reference",
        "wallet_transactions",
        ["tenant_id", "reference_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'payment_reversal'"),
        if_not_exists=True,
    )

    op.create_table(
        "adjustments",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("reason", sa.String(512), nullable=False),
        sa.Column("reference_id", sa.String(200)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("proposed_by", sa.String(200)),  # null only for v1's rows
        _ts("proposed_at", False),
        sa.Column("decided_by", sa.String(200)),
        _ts("decided_at"),
        sa.Column("transaction_id", sa.Uuid),  # its ledger row, once applied
        sa.Column("rejection_reason", sa.String(512)),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_adjustments"),
        sa.CheckConstraint("amount <> 0", name="ck_adjustments_amount_not_zero"),
        sa.CheckConstraint("status IN ('proposed', 'applied', 'rejected')", name="ck_adjustments_status"),
        sa.CheckConstraint(
            "status <> 'applied' OR (transaction_id IS NOT NULL AND decided_at IS NOT NULL)",
            name="ck_adjustments_applied_has_transaction",
        ),
        sa.CheckConstraint(
            "status <> 'rejected' OR (rejection_reason IS NOT NULL AND decided_at IS NOT NULL)",
            name="ck_adjustments_rejected_has_reason",
        ),
    )
    op.create_index(
        "ux_adjustments_reference",
        "adjustments",
        ["tenant_id", "reference_id"],
        unique=True,
        postgresql_where=sa.text("reference_id IS NOT NULL"),
    )
    op.create_index(
        "ix_adjustments_tenant_id_proposed_at",
        "adjustments",
        ["tenant_id", sa.text("proposed_at DESC"), sa.text("id DESC")],
    )
    op.create_index("ix_adjustments_id", "adjustments", ["id"])  # approve and reject find the tenant by the id
    connection = op.get_bind()
    connection.execute(BACKFILL)
    for row in connection.execute(UNREFERENCED).mappings():
        log.warning(
            "tenant %s: %d adjustments made before v3 with the reference %r are listed without it: only the oldest"
            " holds it (their ledger rows keep it)",
            row["tenant_id"],
            row["copies"],
            row["reference_id"],
        )

    op.execute(f"CREATE SEQUENCE {AUDIT_SEQ}")
    op.execute(APPEND_ONLY)
    op.create_table(
        "audit_events",
        sa.Column("tenant_id", TENANT, nullable=False),
        *_audit_columns(),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_audit_events"),
        sa.CheckConstraint("actor_kind IN ('user', 'system')", name="ck_audit_events_actor_kind"),
    )
    op.create_table(
        "platform_audit_events",
        *_audit_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_platform_audit_events"),
        sa.CheckConstraint("actor_kind IN ('user', 'system')", name="ck_platform_audit_events_actor_kind"),
    )
    for table in ("audit_events", "platform_audit_events"):
        _append_only(table)
    op.create_index("ix_audit_events_tenant_id_at", "audit_events", _newest_first("tenant_id"))
    op.create_index("ix_audit_events_tenant_id_action_at", "audit_events", _newest_first("tenant_id", "action"))
    op.create_index("ix_audit_events_at", "audit_events", _newest_first())
    op.create_index("ix_audit_events_actor_sub_at", "audit_events", _newest_first("actor_sub"))
    op.create_index("ix_audit_events_target_id", "audit_events", ["target_id"])
    op.create_index("ix_platform_audit_events_at", "platform_audit_events", _newest_first())
    op.create_index("ix_platform_audit_events_action_at", "platform_audit_events", _newest_first("action"))
    op.create_index("ix_platform_audit_events_actor_sub_at", "platform_audit_events", _newest_first("actor_sub"))
    op.create_index("ix_platform_audit_events_target_id", "platform_audit_events", ["target_id"])


def downgrade() -> None:
    op.drop_table("platform_audit_events")
    op.drop_table("audit_events")
    op.execute("DROP FUNCTION billing_audit_is_append_only()")
    op.execute(f"DROP SEQUENCE {AUDIT_SEQ}")
    op.drop_table("adjustments")

    op.drop_index("ux_wallet_transactions_payment_reversal_reference", table_name="wallet_transactions")
    op.drop_constraint("ck_wallet_transactions_amount_sign", "wallet_transactions", type_="check")
    op.create_check_constraint("ck_wallet_transactions_amount_sign", "wallet_transactions", SIGNS_V1)
    op.drop_constraint("ck_wallet_transactions_kind", "wallet_transactions", type_="check")
    op.create_check_constraint("ck_wallet_transactions_kind", "wallet_transactions", KINDS_V1)

    op.drop_constraint("ck_topup_requests_status", "topup_requests", type_="check")
    op.create_check_constraint("ck_topup_requests_status", "topup_requests", REQUEST_STATUSES_V1)
    op.drop_column("topup_requests", "reversed_at")

    op.drop_constraint("ck_invoices_reference_key_when_paid", "invoices", type_="check")
    op.drop_constraint("ck_invoices_reversed_has_reversal", "invoices", type_="check")
    op.drop_constraint("ck_invoices_status", "invoices", type_="check")
    op.create_check_constraint("ck_invoices_status", "invoices", INVOICE_STATUSES_V1)
    for column in ("debt_added", "reversed_amount", "reversal_reason", "reversed_by", "reversed_at", "paid_by"):
        op.drop_column("invoices", column)

    op.drop_constraint("ck_wallets_debt_non_negative", "wallets", type_="check")
    op.drop_column("wallets", "debt")
