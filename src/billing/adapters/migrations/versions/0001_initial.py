"""Wallets, the append-only ledger, top-up requests, invoices and billing contacts.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MONEY = sa.Numeric(19, 4)
TENANT = sa.String(64)


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "wallets",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("balance", MONEY, nullable=False),
        _ts("created_at", False),
        _ts("updated_at", False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_wallets"),
        sa.UniqueConstraint("tenant_id", "id", name="uq_wallets_tenant_id_id"),
        sa.CheckConstraint("balance >= 0", name="ck_wallets_balance_non_negative"),
    )
    op.create_table(
        "wallet_transactions",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False),
        sa.Column("wallet_id", sa.Uuid, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("balance_after", MONEY, nullable=False),
        sa.Column("reference_id", sa.String(200)),
        sa.Column("description", sa.String(512)),
        _ts("created_at", False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_wallet_transactions"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "wallet_id"],
            ["wallets.tenant_id", "wallets.id"],
            name="fk_wallet_transactions_tenant_id_wallet_id_wallets",
        ),
        sa.CheckConstraint("kind IN ('topup', 'charge', 'refund', 'adjustment')", name="ck_wallet_transactions_kind"),
        sa.CheckConstraint(
            "(kind IN ('topup', 'refund') AND amount > 0) OR (kind = 'charge' AND amount < 0)"
            " OR (kind = 'adjustment' AND amount <> 0)",
            name="ck_wallet_transactions_amount_sign",
        ),
        sa.CheckConstraint("balance_after >= 0", name="ck_wallet_transactions_balance_after_non_negative"),
        sa.CheckConstraint(
            "kind = 'adjustment' OR reference_id IS NOT NULL",
            name="ck_wallet_transactions_reference_required",
        ),
    )
    # Exactly-once, whatever races or retries happen: one credit per top-up request, one charge
    # per (tenant, reference).
    op.create_index(
        "ux_wallet_transactions_topup_reference",
        "wallet_transactions",
        ["tenant_id", "reference_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'topup'"),
    )
    op.create_index(
        "ux_wallet_transactions_charge_reference",
        "wallet_transactions",
        ["tenant_id", "reference_id"],
        unique=True,
        postgresql_where=sa.text("kind = 'charge'"),
    )
    op.create_index(
        "ix_wallet_transactions_refund_reference",
        "wallet_transactions",
        ["tenant_id", "reference_id"],
        postgresql_where=sa.text("kind = 'refund'"),
    )
    op.create_index("ix_wallet_transactions_tenant_id_seq", "wallet_transactions", ["tenant_id", "seq"])
    # Append-only: the database itself refuses UPDATE, DELETE and TRUNCATE of ledger rows.
    op.execute(
        """
        CREATE FUNCTION billing_ledger_is_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'wallet_transactions is append-only: % is not allowed', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    op.execute(
        "CREATE TRIGGER wallet_transactions_no_update_delete"
        " BEFORE UPDATE OR DELETE ON wallet_transactions"
        " FOR EACH ROW EXECUTE FUNCTION billing_ledger_is_append_only()"
    )
    op.execute(
        "CREATE TRIGGER wallet_transactions_no_truncate BEFORE TRUNCATE ON wallet_transactions"
        " FOR EACH STATEMENT EXECUTE FUNCTION billing_ledger_is_append_only()"
    )

    op.create_table(
        "topup_requests",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("note", sa.String(512)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requester_email", sa.String(320)),
        _ts("requested_at", False),
        sa.Column("decided_by", sa.String(200)),
        _ts("decided_at"),
        sa.Column("decision_note", sa.String(512)),
        sa.Column("rejection_reason", sa.String(512)),
        sa.Column("invoice_id", sa.Uuid),
        sa.Column("invoice_number", sa.String(64)),
        _ts("completed_at"),
        _ts("cancelled_at"),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_topup_requests"),
        sa.CheckConstraint("amount > 0", name="ck_topup_requests_amount_positive"),
        sa.CheckConstraint(
            "status IN ('pending', 'invoiced', 'completed', 'rejected', 'cancelled')",
            name="ck_topup_requests_status",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'rejected', 'cancelled') OR invoice_id IS NOT NULL",
            name="ck_topup_requests_invoiced_has_invoice",
        ),
    )
    op.create_index("ix_topup_requests_id", "topup_requests", ["id"])
    op.create_index("ix_topup_requests_tenant_id_requested_at", "topup_requests", ["tenant_id", "requested_at"])
    op.create_index("ix_topup_requests_status_requested_at", "topup_requests", ["status", "requested_at"])

    op.create_table(
        "invoices",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("id", sa.Uuid, nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        sa.Column("total", MONEY, nullable=False),
        sa.Column("period", sa.CHAR(7), nullable=False),
        sa.Column("topup_request_id", sa.Uuid),
        _ts("issued_at"),
        sa.Column("due_date", sa.Date),
        _ts("paid_at"),
        sa.Column("payment_reference", sa.String(200)),
        _ts("voided_at"),
        sa.Column("void_reason", sa.String(512)),
        _ts("created_at", False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name="pk_invoices"),
        sa.UniqueConstraint("tenant_id", "number", name="uq_invoices_tenant_id_number"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "topup_request_id"],
            ["topup_requests.tenant_id", "topup_requests.id"],
            name="fk_invoices_tenant_id_topup_request_id_topup_requests",
        ),
        sa.CheckConstraint("purpose IN ('subscription', 'topup')", name="ck_invoices_purpose"),
        sa.CheckConstraint("status IN ('draft', 'issued', 'paid', 'void')", name="ck_invoices_status"),
        sa.CheckConstraint("total >= 0", name="ck_invoices_total_non_negative"),
        sa.CheckConstraint(
            "(purpose = 'topup') = (topup_request_id IS NOT NULL)", name="ck_invoices_topup_has_request"
        ),
        sa.CheckConstraint(
            "status <> 'paid' OR (paid_at IS NOT NULL AND payment_reference IS NOT NULL)",
            name="ck_invoices_paid_has_payment",
        ),
    )
    # One subscription invoice per tenant and period; top-ups are exempt (any number a month).
    op.create_index(
        "ux_invoices_subscription_period",
        "invoices",
        ["tenant_id", "period"],
        unique=True,
        postgresql_where=sa.text("purpose = 'subscription'"),
    )
    op.create_index("ix_invoices_id", "invoices", ["id"])
    op.create_index("ix_invoices_tenant_id_created_at", "invoices", ["tenant_id", "created_at"])
    op.create_index("ix_invoices_created_at", "invoices", ["created_at"])

    op.create_table(
        "invoice_lines",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("invoice_id", sa.Uuid, nullable=False),
        sa.Column("line_no", sa.SmallInteger, nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("quantity", sa.Integer, nullable=False),
        sa.Column("unit_price", MONEY, nullable=False),
        sa.Column("amount", MONEY, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "invoice_id", "line_no", name="pk_invoice_lines"),
        sa.ForeignKeyConstraint(
            ["tenant_id", "invoice_id"],
            ["invoices.tenant_id", "invoices.id"],
            name="fk_invoice_lines_tenant_id_invoice_id_invoices",
        ),
        sa.CheckConstraint("quantity > 0", name="ck_invoice_lines_quantity_positive"),
        sa.CheckConstraint("amount = quantity * unit_price", name="ck_invoice_lines_amount"),
    )

    op.create_table(
        "billing_contacts",
        sa.Column("tenant_id", TENANT, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("name", sa.String(200)),
        sa.Column("updated_by", sa.String(200), nullable=False),
        _ts("updated_at", False),
        sa.PrimaryKeyConstraint("tenant_id", name="pk_billing_contacts"),
    )


def downgrade() -> None:
    op.drop_table("billing_contacts")
    op.drop_table("invoice_lines")
    op.drop_table("invoices")
    op.drop_table("topup_requests")
    op.drop_table("wallet_transactions")
    op.execute("DROP FUNCTION billing_ledger_is_append_only()")
    op.drop_table("wallets")
