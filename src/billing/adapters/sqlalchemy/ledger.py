"""The ledger's one append (`wallet_transactions`), shared by every statement that moves a balance: the charge,
a posting, a settle, a late charge and a paid top-up each render it after the CTE that moved the wallet's row.
Beside it, what the wallets, holds and top-ups repositories share: a posting's parameters, the ledger row <->
entry functions and a move's `Movement`."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from billing.adapters.sqlalchemy.base import Row
from billing.application.ports import Movement
from billing.domain.costs import Cost
from billing.domain.ledger import EntryKind, LedgerEntry, Posting, PriceSnapshot
from billing.domain.money import Money
from billing.domain.pricing import Category, FreeReason

# The appended row's columns (`seq` is the identity); `price` is a message charge's snapshot only.
COLUMNS = (
    "tenant_id",
    "id",
    "wallet_id",
    "kind",
    "amount",
    "currency",
    "balance_after",
    "reference_id",
    "description",
    "created_at",
    "price",
)

# How a statement names its parameters: psycopg's `%(name)s` on the driver connection (the hot paths), or
# SQLAlchemy `text()`'s `:name`, which cannot be followed by `::` (so its price is cast with CAST).
ParamStyle = Literal["driver", "text"]


def _param(name: str, style: ParamStyle) -> str:
    return f"%({name})s" if style == "driver" else f":{name}"


def _price(style: ParamStyle) -> str:
    return "%(price)s::jsonb" if style == "driver" else "CAST(:price AS JSONB)"


def append_entry(
    moved: str,
    style: ParamStyle,
    *,
    kind: str | None = None,
    price: bool = True,
    returning: Sequence[str] = ("wallet_id", "balance_after"),
    computed: Mapping[str, str] | None = None,
) -> str:
    """`INSERT INTO wallet_transactions … SELECT … FROM <moved> RETURNING …`: the ledger row of a posting
    (`posting_params`' names), its `wallet_id` and `balance_after` read from `moved`, the CTE that updated the
    wallet's row and returned its `id` and `balance`. `kind` is a literal when the statement is for one kind
    only; `price=False` leaves the column to its default (null), as a top-up's row does. `computed` gives a
    column an SQL expression instead of its parameter (a debt's repayment, whose amount `moved` computed)."""
    columns = [name for name in COLUMNS if price or name != "price"]
    values = {
        "wallet_id": f"{moved}.id",
        "kind": _param("kind", style) if kind is None else f"'{kind}'",
        "balance_after": f"{moved}.balance",
        "created_at": _param("at", style),
        "price": _price(style),
        **(computed or {}),
    }
    selected = [values.get(name, _param(name, style)) for name in columns]
    return (
        f"INSERT INTO wallet_transactions ({', '.join(columns)})\n"
        f"    SELECT {', '.join(selected)}\n"
        f"    FROM {moved}\n"
        f"    RETURNING {', '.join(returning)}"
    )


# Rows <-> ledger entries: every field written and read back (tests/integration/test_reloading.py reloads them).


def posting_params(posting: Posting) -> dict[str, Any]:
    """The posting statements' parameters: the ledger row's own values (`wallet_id` and `balance_after` come
    from the wallet's row, `at` is also the wallet's `updated_at`)."""
    return {
        "tenant_id": posting.tenant_id,
        "id": posting.entry_id,
        "kind": posting.kind.value,
        "amount": posting.amount.amount,
        "currency": posting.amount.currency,
        "reference_id": posting.reference_id,
        "description": posting.description,
        "at": posting.at,
        "price": price_to_json(posting.price),
    }


def entry_from_posting(posting: Posting, row: Row) -> LedgerEntry:
    """The entry a posting became, from what its insert returned (`wallet_id`, `balance_after`)."""
    return LedgerEntry(
        id=posting.entry_id,
        wallet_id=row["wallet_id"],
        tenant_id=posting.tenant_id,
        kind=posting.kind,
        amount=posting.amount,
        balance_after=Money(row["balance_after"], posting.amount.currency),
        reference_id=posting.reference_id,
        description=posting.description,
        created_at=posting.at,
        price=posting.price,
    )


def entry_from_row(row: Row) -> LedgerEntry:
    currency = row["currency"]
    return LedgerEntry(
        id=row["id"],
        wallet_id=row["wallet_id"],
        tenant_id=row["tenant_id"],
        kind=EntryKind(row["kind"]),
        amount=Money(row["amount"], currency),
        balance_after=Money(row["balance_after"], currency),
        reference_id=row["reference_id"],
        description=row["description"],
        created_at=row["created_at"],
        price=price_from_json(row["price"], currency),
    )


def price_to_json(price: PriceSnapshot | None) -> str | None:
    """The `price` column (JSONB) of a message's charge row, as text: the statements cast it."""
    if price is None:
        return None
    return json.dumps(
        {
            "hold_id": None if price.hold_id is None else str(price.hold_id),
            "category": price.category.value,
            "market": price.market,
            "country": price.country,
            "tier": price.tier,
            "rate_card_id": str(price.rate_card_id),
            "unit_price": str(price.unit_price.amount),
            "free_reason": None if price.free_reason is None else price.free_reason.value,
            **_cost_to_json(price.cost),
            "message_at": None if price.message_at is None else price.message_at.isoformat(),
        }
    )


def _cost_to_json(cost: Cost | None) -> dict[str, Any]:
    if cost is None:
        return {}  # uncosted: no cost keys (a charge before v3 has none either)
    return {
        "cost": str(cost.amount.amount),
        "cost_unit_price": str(cost.unit_price.amount),
        "cost_card_id": str(cost.card_id),
        "cost_tier": cost.tier,
        "cost_market": cost.market,
    }


def _cost_from_json(value: Mapping[str, Any], currency: str) -> Cost | None:
    if value.get("cost") is None:
        return None
    return Cost(
        Money(Decimal(value["cost"]), currency),
        Money(Decimal(value["cost_unit_price"]), currency),
        UUID(value["cost_card_id"]),
        value["cost_tier"],
        value["cost_market"],
    )


def price_from_json(value: Mapping[str, Any] | None, currency: str) -> PriceSnapshot | None:
    if value is None:
        return None
    return PriceSnapshot(
        hold_id=None if value["hold_id"] is None else UUID(value["hold_id"]),
        category=Category(value["category"]),
        market=value["market"],
        country=value["country"],
        tier=value["tier"],
        rate_card_id=UUID(value["rate_card_id"]),
        unit_price=Money(Decimal(value["unit_price"]), currency),
        free_reason=None if value["free_reason"] is None else FreeReason(value["free_reason"]),
        cost=_cost_from_json(value, currency),
        message_at=None if value.get("message_at") is None else datetime.fromisoformat(value["message_at"]),
    )


def movement_from_row(row: Mapping[str, Any], amount: Money) -> Movement:
    """A move's `available` after it (and so before it: after + what it took) and its settings' `watch_below`."""
    currency = row["currency"]
    after = Money(row["available_after"], currency)
    watch_below = row["watch_below"]
    return Movement(
        row["tenant_id"], after + amount, after, None if watch_below is None else Money(watch_below, currency)
    )
