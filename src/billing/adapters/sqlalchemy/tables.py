"""The schema, as SQLAlchemy Core tables. Alembic migrations create it; these are for queries.

Every primary key and unique index includes tenant_id, so the tables can be distributed by tenant
(Citus) without a redesign; the platform-wide tables (contract v2 §13: the default rate cards, the WhatsApp
number map, and webhook events of unknown numbers; v3 §23: the platform's audit rows) are reference tables instead.
"""

from __future__ import annotations

from sqlalchemy import (
    CHAR,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Identity,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    # Check constraints are named in full where they are declared (ck_<table>_<rule>); prefixing
    # them again doubled the names, and errors.py could no longer find them.
    "ck": "%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Exact money: 15 integer digits and up to 4 minor digits, never float.
MONEY = Numeric(19, 4)
TENANT = String(64)


def _timestamp(name: str, *, nullable: bool = True) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


wallets = Table(
    "wallets",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("id", Uuid, nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("balance", MONEY, nullable=False),
    _timestamp("created_at", nullable=False),
    _timestamp("updated_at", nullable=False),
    Column("held", MONEY, nullable=False, server_default=text("0")),  # the sum of its open holds
    Column("status", String(16), nullable=False, server_default="active"),
    Column("frozen_reason", String(512)),
    Column("debt", MONEY, nullable=False, server_default=text("0")),  # what a reversed payment left owed (v3 §19)
)

wallet_transactions = Table(
    "wallet_transactions",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("id", Uuid, primary_key=True),
    Column("seq", BigInteger, Identity(always=True), nullable=False),
    Column("wallet_id", Uuid, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("balance_after", MONEY, nullable=False),
    Column("reference_id", String(200)),
    Column("description", String(512)),
    _timestamp("created_at", nullable=False),
    Column("price", JSONB),  # a message charge's price snapshot; null on every other row
)

topup_requests = Table(
    "topup_requests",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("id", Uuid, primary_key=True),
    Column("amount", MONEY, nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("note", String(512)),
    Column("status", String(16), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requester_email", String(320)),
    _timestamp("requested_at", nullable=False),
    Column("decided_by", String(200)),
    _timestamp("decided_at"),
    Column("decision_note", String(512)),
    Column("rejection_reason", String(512)),
    Column("invoice_id", Uuid),
    Column("invoice_number", String(64)),
    _timestamp("completed_at"),
    _timestamp("cancelled_at"),
    _timestamp("reversed_at"),
)

invoices = Table(
    "invoices",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("id", Uuid, primary_key=True),
    Column("number", String(64), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("currency", CHAR(3), nullable=False),
    Column("total", MONEY, nullable=False),
    Column("period", CHAR(7), nullable=False),
    Column("topup_request_id", Uuid),
    _timestamp("issued_at"),
    Column("due_date", Date),
    _timestamp("paid_at"),
    Column("payment_reference", String(200)),
    Column("payment_reference_key", Text),  # unique per tenant where set: ux_invoices_payment_reference
    _timestamp("voided_at"),
    Column("void_reason", String(512)),
    _timestamp("created_at", nullable=False),
    Column("paid_by", String(200)),  # null for invoices paid before v3
    _timestamp("reversed_at"),
    Column("reversed_by", String(200)),
    Column("reversal_reason", String(512)),
    Column("reversed_amount", MONEY),  # what the reversal's ledger row took back
    Column("debt_added", MONEY),  # the rest, owed as the wallet's debt
)

invoice_lines = Table(
    "invoice_lines",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("invoice_id", Uuid, primary_key=True),
    Column("line_no", SmallInteger, primary_key=True),
    Column("description", String(200), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", MONEY, nullable=False),
    Column("amount", MONEY, nullable=False),
)

billing_contacts = Table(
    "billing_contacts",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("email", String(320), nullable=False),
    Column("name", String(200)),
    Column("updated_by", String(200), nullable=False),
    _timestamp("updated_at", nullable=False),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", CHAR(64), nullable=False),
    Column("status_code", SmallInteger, nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("content_type", Text, nullable=False),
    _timestamp("created_at", nullable=False),
    _timestamp("expires_at", nullable=False),
)

outbox_messages = Table(
    "outbox_messages",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("id", Uuid, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("recipient", String(320)),
    Column("subject", String(500), nullable=False),
    Column("text_body", Text, nullable=False),
    Column("html_body", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    _timestamp("next_attempt_at", nullable=False),
    Column("last_error", Text),
    _timestamp("created_at", nullable=False),
    _timestamp("sent_at"),
)


def _card_columns() -> list[Column[object]]:
    return [
        Column("id", Uuid, primary_key=True),
        Column("name", String(200), nullable=False),
        Column("currency", CHAR(3), nullable=False),
        _timestamp("effective_from", nullable=False),
        Column("free_in_service_window", JSONB, nullable=False),
        Column("markets", JSONB, nullable=False),
        Column("rates", JSONB, nullable=False),
        Column("created_by", String(200), nullable=False),
        _timestamp("created_at", nullable=False),
    ]


# A clinic's own cards (negotiated prices) and the platform's default cards (no tenant: a reference table).
rate_cards = Table("rate_cards", metadata, Column("tenant_id", TENANT, primary_key=True), *_card_columns())
default_rate_cards = Table("default_rate_cards", metadata, *_card_columns())
# Meta's price list to the platform (contract v3 §15): platform-wide, never a card in force for prices.
cost_cards = Table("cost_cards", metadata, *_card_columns())


def _count_columns() -> list[Column[object]]:
    """A tier's counts: per tenant, month (of message time, in the tenant's time zone), market and category."""
    return [
        Column("tenant_id", TENANT, primary_key=True),
        Column("month", CHAR(7), primary_key=True),
        Column("market", String(100), primary_key=True),
        Column("category", String(32), primary_key=True),
        Column("settled", BigInteger, nullable=False),
    ]


message_counts = Table("message_counts", metadata, *_count_columns())
# The cost tiers' counts (v3 §15): in the cost card's markets.
cost_message_counts = Table("cost_message_counts", metadata, *_count_columns())

holds = Table(
    "holds",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("id", Uuid, primary_key=True),
    Column("message_id", String(200), nullable=False),
    Column("status", String(16), nullable=False),
    # The quote the hold was placed at: a hold is settled at its own price, whatever card is in force by then.
    Column("recipient", String(32), nullable=False),
    Column("country", CHAR(2), nullable=False),
    Column("market", String(100), nullable=False),
    Column("category", String(32), nullable=False),
    Column("tier", Integer, nullable=False),
    Column("rate_card_id", Uuid, nullable=False),
    Column("unit_price", MONEY, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("free_reason", String(32)),
    Column("message_window", String(32), nullable=False),  # `window` is a reserved word in SQL
    Column("currency", CHAR(3), nullable=False),
    _timestamp("created_at", nullable=False),
    _timestamp("expires_at", nullable=False),
    _timestamp("settled_at"),
    _timestamp("voided_at"),
    Column("charged", MONEY),
    Column("shortfall", MONEY),
    Column("transaction_id", Uuid),
    Column("settled_category", String(32)),
    _timestamp("message_at"),  # Meta's status timestamp, or the settle time (v3's message time)
    Column("cost_estimate", MONEY),  # at hold time, on the cost card in force (null: uncosted)
    Column("cost", MONEY),  # at settlement; with its rate's unit price, card and tier (all null: uncosted)
    Column("cost_unit_price", MONEY),
    Column("cost_card_id", Uuid),
    Column("cost_tier", Integer),
    Column("cost_market", String(100)),
    Column("phone_number_id", String(64)),  # the business number that sends it (v3 §16), when said
)

# What messages billed and cost (v3 §15) per tenant, UTC day of message time, price market and category, kept by
# the settlement's and the refund's units of work: the margin report reads these, never the holds.
message_margins = Table(
    "message_margins",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("market", String(100), primary_key=True),
    Column("category", String(32), primary_key=True),
    Column("messages", BigInteger, nullable=False),
    Column("billed", MONEY, nullable=False),
    Column("cost", MONEY, nullable=False),
    Column("uncosted", BigInteger, nullable=False),
    Column("uncosted_billed", MONEY, nullable=False),
)

wallet_settings = Table(
    "wallet_settings",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("currency", CHAR(3), nullable=False),
    Column("marketing_reserve", MONEY, nullable=False),
    Column("updated_by", String(200), nullable=False),
    _timestamp("updated_at", nullable=False),
    Column("low_balance_levels", ARRAY(MONEY), nullable=False, server_default=text("'{}'")),
    Column("auto_topup_enabled", Boolean, nullable=False, server_default=text("false")),
    Column("auto_topup_threshold", MONEY),
    Column("auto_topup_target", MONEY),
    Column("auto_topup_monthly_cap", MONEY),
    Column("watch_below", MONEY),  # the highest `available` at which a protection may act
    Column("timezone", String(64), nullable=False, server_default=text("'UTC'")),  # tiers' months (v3 §16)
)

# Low-balance alerts (contract v2 §10): one row per crossing of a level.
low_balance_alerts = Table(
    "low_balance_alerts",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("id", Uuid, primary_key=True),
    Column("level", MONEY, nullable=False),
    Column("available", MONEY, nullable=False),
    Column("currency", CHAR(3), nullable=False),
    _timestamp("created_at", nullable=False),
)

# Message charges less refunds per tenant and UTC hour, kept by a trigger on the ledger (migration 0008).
wallet_spend = Table(
    "wallet_spend",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("hour", DateTime(timezone=True), primary_key=True),
    Column("amount", MONEY, nullable=False),
)

# Meta's status webhook (contract v2 §11). The number map and the events of numbers nobody mapped are platform-wide
# (v2 §13: reference tables on Citus, exempt from the tenant-key rule); a tenant's events follow §6.
whatsapp_numbers = Table(
    "whatsapp_numbers",
    metadata,
    Column("phone_number_id", String(64), primary_key=True),
    Column("tenant_id", TENANT, nullable=False),
    Column("created_by", String(200), nullable=False),
    _timestamp("created_at", nullable=False),
)

webhook_events = Table(
    "webhook_events",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("id", Uuid, primary_key=True),
    Column("phone_number_id", String(64), nullable=False),
    Column("message_id", String(200)),
    Column("status", String(64)),  # as Meta wrote it (an unknown status is kept)
    Column("outcome", String(16), nullable=False),
    Column("reason", String(64)),
    _timestamp("received_at", nullable=False),
    Column("hold_id", Uuid),
    Column("transaction_id", Uuid),
)

webhook_unknown_events = Table(
    "webhook_unknown_events",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("phone_number_id", String(64)),  # null when Meta's change did not say it
    Column("message_id", String(200)),
    Column("status", String(64)),
    Column("outcome", String(16), nullable=False),
    Column("reason", String(64)),
    _timestamp("received_at", nullable=False),
)

# Operators' adjustments (contract v3 §19); v1's ledger rows of kind `adjustment` were copied in by migration 0009.
adjustments = Table(
    "adjustments",
    metadata,
    Column("tenant_id", TENANT, primary_key=True),
    Column("id", Uuid, primary_key=True),
    Column("amount", MONEY, nullable=False),  # signed, never zero
    Column("currency", CHAR(3), nullable=False),
    Column("reason", String(512), nullable=False),
    Column("reference_id", String(200)),  # unique per tenant where set: ux_adjustments_reference
    Column("status", String(16), nullable=False),
    Column("proposed_by", String(200)),  # null only for v1's rows
    _timestamp("proposed_at", nullable=False),
    Column("decided_by", String(200)),
    _timestamp("decided_at"),
    Column("transaction_id", Uuid),
    Column("rejection_reason", String(512)),
)


def _audit_columns() -> list[Column[object]]:
    return [
        Column("id", Uuid, primary_key=True),
        # One sequence for both tables: rows of one instant keep the order they were written in, read together.
        Column("seq", BigInteger, nullable=False, server_default=text("nextval('audit_events_seq')")),
        _timestamp("at", nullable=False),
        Column("actor_kind", String(16), nullable=False),
        Column("actor_sub", String(200)),
        Column("actor_tenant", TENANT),
        Column("action", String(100), nullable=False),
        Column("target_type", String(32), nullable=False),
        Column("target_id", String(200), nullable=False),
        Column("request_id", String(128)),
        Column("ip", Text),
        Column("details", JSONB, nullable=False),
    ]


# The audit trail (contract v3 §20), append-only like the ledger: a tenant's rows, and the platform's (no tenant:
# on the schema test's allow-list, a reference table on Citus).
audit_events = Table("audit_events", metadata, Column("tenant_id", TENANT, primary_key=True), *_audit_columns())
platform_audit_events = Table("platform_audit_events", metadata, *_audit_columns())
