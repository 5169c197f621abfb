"""What Meta charges the platform (contract v3 §15) and the tenant's time zone (§16).

- `wallet_settings.timezone`: an IANA name (default `UTC`); tiers count calendar months of message time in it.
- `cost_cards`: Meta's price list to the platform, platform-wide (no tenant: on the schema test's allow-list), the
  same columns as `default_rate_cards`. Apart from the price cards, so that no query for a price ever meets one.
- `cost_message_counts`: the cost tiers' counts, per tenant, month, the cost card's market and Meta's category
  (tenant_id first), as `message_counts` for prices.
- `holds` gain the message time (`message_at`: Meta's status timestamp, or the settle time) and the cost: estimated
  at hold time (`cost_estimate`), then at settlement `cost`, `cost_unit_price`, `cost_card_id`, `cost_tier`,
  `cost_market` (the cost card's market, whose tier it counted in), all
  null while uncosted (every hold made before v3 stays uncosted).
- `holds.phone_number_id` (§16): the business number that sends the message, when the caller said it.
- `message_margins`: per tenant, UTC day of message time, price market and category: messages, billed (charges less
  refunds), cost, uncosted messages and what they billed. Kept by the settlement's and the refund's units of work,
  so a month's report reads at most 31 rows per tenant, market and category however many messages there were.
  Backfilled from what v2 recorded: every settled hold (free ones too) and every message charge without a hold,
  less their refunds, each uncosted; v2 kept no message time, so a message's day is its settle (or charge) day.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(19, 4)
TENANT = sa.String(64)

# A message's refunds (v1 refunds name the charge's reference: the message id), by tenant and reference.
BACKFILL_MARGINS = sa.text(
    """
    WITH refunded AS (
        SELECT tenant_id, reference_id, sum(amount) AS amount
        FROM wallet_transactions WHERE kind = 'refund' AND reference_id IS NOT NULL
        GROUP BY tenant_id, reference_id
    ), messages AS (
        SELECT h.tenant_id, (coalesce(h.settled_at, t.created_at) AT TIME ZONE 'UTC')::date AS day, h.market,
               coalesce(h.settled_category, h.category) AS category,
               coalesce(h.charged, 0) - coalesce(r.amount, 0) AS billed
        FROM holds h
        LEFT JOIN wallet_transactions t ON t.tenant_id = h.tenant_id AND t.id = h.transaction_id
        LEFT JOIN refunded r ON r.tenant_id = h.tenant_id AND r.reference_id = h.message_id
        WHERE h.status = 'settled' OR h.transaction_id IS NOT NULL
        UNION ALL
        SELECT t.tenant_id, (t.created_at AT TIME ZONE 'UTC')::date, t.price->>'market', t.price->>'category',
               -t.amount - coalesce(r.amount, 0)
        FROM wallet_transactions t
        LEFT JOIN refunded r ON r.tenant_id = t.tenant_id AND r.reference_id = t.reference_id
        WHERE t.kind = 'charge' AND t.price IS NOT NULL AND t.price->>'hold_id' IS NULL
    )
    INSERT INTO message_margins (tenant_id, day, market, category, messages, billed, cost, uncosted, uncosted_billed)
    SELECT tenant_id, day, market, category, count(*), sum(billed), 0, count(*), sum(billed)
    FROM messages GROUP BY tenant_id, day, market, category
    """
)


def _ts(name: str, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.add_column(
        "wallet_settings", sa.Column("timezone", sa.String(64), nullable=False, server_default=sa.text("'UTC'"))
    )

    op.create_table(
        "cost_cards",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("currency", sa.CHAR(3), nullable=False),
        _ts("effective_from", False),
        sa.Column("free_in_service_window", JSONB, nullable=False),
        sa.Column("markets", JSONB, nullable=False),
        sa.Column("rates", JSONB, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        _ts("created_at", False),
    )
    op.create_index("ix_cost_cards_effective_from", "cost_cards", [sa.text("effective_from DESC")])

    op.create_table(
        "cost_message_counts",
        sa.Column("tenant_id", TENANT, primary_key=True),
        sa.Column("month", sa.CHAR(7), primary_key=True),
        sa.Column("market", sa.String(100), primary_key=True),
        sa.Column("category", sa.String(32), primary_key=True),
        sa.Column("settled", sa.BigInteger, nullable=False),
    )

    op.add_column("holds", _ts("message_at"))
    op.add_column("holds", sa.Column("cost_estimate", MONEY))
    op.add_column("holds", sa.Column("cost", MONEY))
    op.add_column("holds", sa.Column("cost_unit_price", MONEY))
    op.add_column("holds", sa.Column("cost_card_id", sa.Uuid))
    op.add_column("holds", sa.Column("cost_tier", sa.Integer))
    op.add_column("holds", sa.Column("cost_market", sa.String(100)))
    op.add_column("holds", sa.Column("phone_number_id", sa.String(64)))
    op.create_check_constraint(
        "ck_holds_cost_non_negative", "holds", "coalesce(cost, 0) >= 0 AND coalesce(cost_estimate, 0) >= 0"
    )

    op.create_table(
        "message_margins",
        sa.Column("tenant_id", TENANT, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("market", sa.String(100), primary_key=True),
        sa.Column("category", sa.String(32), primary_key=True),
        sa.Column("messages", sa.BigInteger, nullable=False),
        sa.Column("billed", MONEY, nullable=False),
        sa.Column("cost", MONEY, nullable=False),
        sa.Column("uncosted", sa.BigInteger, nullable=False),
        sa.Column("uncosted_billed", MONEY, nullable=False),
        sa.CheckConstraint("messages >= 0 AND uncosted >= 0 AND uncosted <= messages", name="ck_margins_counts"),
        sa.CheckConstraint("cost >= 0", name="ck_margins_cost_non_negative"),
    )
    # The report reads a range of days across tenants (root's view): by day first.
    op.create_index("ix_message_margins_day", "message_margins", ["day"])
    op.execute(BACKFILL_MARGINS)


def downgrade() -> None:
    op.drop_table("message_margins")
    op.drop_constraint("ck_holds_cost_non_negative", "holds", type_="check")
    for column in (
        "phone_number_id",
        "cost_market",
        "cost_tier",
        "cost_card_id",
        "cost_unit_price",
        "cost",
        "cost_estimate",
        "message_at",
    ):
        op.drop_column("holds", column)
    op.drop_table("cost_message_counts")
    op.drop_table("cost_cards")
    op.drop_column("wallet_settings", "timezone")
