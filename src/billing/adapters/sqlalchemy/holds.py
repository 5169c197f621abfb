"""Holds (`holds`) and the `held` they keep on their wallet's row (contract v2 §9).

Whatever opens or closes a hold changes `held` in the same statement, so `held` is always the sum of the open
holds. Locks follow the package's one lock order (docs/decisions.md, "The lock order"): the wallet's row first,
then its hold rows (by message id when a unit takes several), then the tenant's counters, then platform rows.
Settle, void and a webhook body lock the wallet before the hold (LOCK); placing a hold locks the wallet's row,
then inserts the hold; the sweeper locks the wallets of the holds due (in tenant order) before it touches a hold.
A unit that holds a hold's lock therefore holds its wallet's, so two units never wait for each other in a
circle. The hot paths run on the driver connection, as the charge does (wallets.CHARGE_ONCE).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import String, any_, bindparam, select
from sqlalchemy.dialects.postgresql import ARRAY

from billing.adapters.sqlalchemy import ledger, margins, tables
from billing.adapters.sqlalchemy.base import Row, SqlAlchemyRepository
from billing.adapters.sqlalchemy.ledger import append_entry
from billing.adapters.sqlalchemy.rate_cards import COST_CARD_IN_FORCE
from billing.application.pagination import Page, PageRequest
from billing.application.ports import (
    ConcurrencyConflictError,
    HoldFilter,
    HoldPlacement,
    LockedHold,
    Movement,
    Sweep,
)
from billing.domain.costs import Cost
from billing.domain.hold import Funds, Hold, HoldStatus
from billing.domain.ledger import LedgerEntry, Posting
from billing.domain.margins import MarginLine
from billing.domain.money import Money
from billing.domain.pricing import Category, FreeReason, Quote, Window
from billing.domain.wallet import WalletStatus

_TABLE = tables.holds

_COLUMNS = [column.name for column in _TABLE.c]
_ALL = ", ".join(_COLUMNS)
_COST = ["cost", "cost_unit_price", "cost_card_id", "cost_tier", "cost_market"]
_STATE = [
    "status",
    "settled_at",
    "voided_at",
    "charged",
    "shortfall",
    "transaction_id",
    "settled_category",
    "message_at",
    *_COST,
]
_SET_STATE = ", ".join(f"{name} = %({name})s" for name in _STATE)

# The lane rule (contract v2 §10): a marketing hold leaves `available` at or above the tenant's marketing reserve.
# `lane` is false for anything else and for a free hold, which only a freeze refuses. A wallet in debt (v3 §19)
# takes free holds only.
_FUNDS_COVER = """
    tenant_id = %(tenant_id)s AND currency = %(wallet_currency)s AND status = 'active'
    AND balance - held >= %(total)s AND (debt = 0 OR %(total)s = 0)
    AND (NOT %(lane)s OR balance - held - %(lane_amount)s >= COALESCE(
        (SELECT marketing_reserve FROM wallet_settings WHERE tenant_id = %(tenant_id)s), 0))
"""

# What a move answers besides its own rows (application/protections.py): `available` after it, read from the row
# it updated under the row's lock, and the settings' `watch_below` (one index lookup), so a wallet far above its
# levels is protected without another round trip.
_MOVED = """balance - held AS available_after,
        (SELECT watch_below FROM wallet_settings WHERE tenant_id = %(tenant_id)s) AS watch_below"""

# A hold in one round trip: the message id's earlier hold if there is one; else `held` grows on an active wallet
# whose `available` covers the hold (and the lane, for marketing) and whose message id was never charged, and the
# hold is inserted from the moved row. The UPDATE's row lock serializes a tenant's money moves: a racer waits,
# then re-checks the funds on the row the winner wrote. Twin holds of one message id both miss `earlier`; the
# unique index refuses the second, whose re-run answers the first. `billing_messages_charged` reads a fresh
# snapshot, so a direct charge of the id committed while this waited is seen too (migration 0005).
PLACE = f"""
    WITH earlier AS (
        SELECT {_ALL} FROM holds WHERE tenant_id = %(tenant_id)s AND message_id = %(message_id)s
    ), moved AS (
        UPDATE wallets SET held = held + %(total)s
        WHERE {_FUNDS_COVER}
          AND NOT EXISTS (SELECT FROM earlier)
          AND NOT billing_messages_charged(%(tenant_id)s, ARRAY[%(message_id)s::text])
        RETURNING tenant_id, {_MOVED}
    ), inserted AS (
        INSERT INTO holds ({_ALL})
        SELECT {", ".join(f"%({name})s" for name in _COLUMNS)} FROM moved
        RETURNING {_ALL}
    )
    SELECT true AS is_new, inserted.*, moved.available_after, moved.watch_below FROM inserted, moved
    UNION ALL
    SELECT false AS is_new, earlier.*, NULL, NULL FROM earlier
"""

# How each column's array is typed when a batch is sent as one array per column (text by default).
_ARRAY_TYPES = {
    "id": "uuid",
    "rate_card_id": "uuid",
    "tier": "integer",
    "unit_price": "numeric",
    "amount": "numeric",
    "created_at": "timestamptz",
    "expires_at": "timestamptz",
    "cost_estimate": "numeric",
}
# A new hold's columns besides its tenant (what settling or voiding sets is null until then).
_BATCH_COLUMNS = [name for name in _COLUMNS if name == "status" or name not in ("tenant_id", *_STATE)]

# A batch in one round trip, all or nothing: `held` grows by the total when the freeze, funds and lane rules
# accept the total (the lane on the batch's marketing part) and none of its message ids was charged; then every
# hold is inserted from one array per column. Nothing moved: no hold is inserted. A message id held meanwhile
# trips the unique index (the unit re-runs).
PLACE_BATCH = f"""
    WITH moved AS (
        UPDATE wallets SET held = held + %(total)s
        WHERE {_FUNDS_COVER}
          AND NOT billing_messages_charged(%(tenant_id)s, %(message_id)s::text[])
        RETURNING tenant_id, {_MOVED}
    ), inserted AS (
        INSERT INTO holds (tenant_id, {", ".join(_BATCH_COLUMNS)})
        SELECT moved.tenant_id, {", ".join(f"batch.{name}" for name in _BATCH_COLUMNS)}
        FROM moved, unnest({", ".join(f"%({name})s::{_ARRAY_TYPES.get(name, 'text')}[]" for name in _BATCH_COLUMNS)})
             AS batch({", ".join(_BATCH_COLUMNS)})
        RETURNING 1
    ), outcome AS (
        SELECT (SELECT count(*) FROM inserted) AS placed, EXISTS (SELECT FROM moved) AS moved
    )
    SELECT placed, NOT moved AND billing_messages_charged(%(tenant_id)s, %(message_id)s::text[]) AS charged,
           (SELECT available_after FROM moved), (SELECT watch_below FROM moved)
    FROM outcome
"""

# The wallet's row, then the hold's (the lock order): the hold's scan waits on its one-time gate, so it starts
# only once the wallet is locked, hold or no hold; both stay locked until the unit of work ends. Waiting for
# either answers its newest version (READ COMMITTED).
LOCK = f"""
    WITH wallet AS MATERIALIZED (
        SELECT balance, held, status, debt FROM wallets WHERE tenant_id = %(tenant_id)s FOR NO KEY UPDATE
    ), hold AS MATERIALIZED (
        SELECT {_ALL} FROM holds
        WHERE tenant_id = %(tenant_id)s AND message_id = %(message_id)s AND EXISTS (SELECT FROM wallet)
        FOR NO KEY UPDATE
    )
    SELECT hold.*, wallet.balance AS wallet_balance, wallet.held AS wallet_held, wallet.status AS wallet_status,
           wallet.debt AS wallet_debt,
           (SELECT watch_below FROM wallet_settings WHERE tenant_id = hold.tenant_id) AS watch_below,
           {COST_CARD_IN_FORCE} AS cost_card_id
    FROM hold, wallet
"""

# Only a hold still open is closed, and `held` falls by the amount its row holds: `held` stays the sum of the
# open holds whatever the caller computed.
_CLOSE = f"""
    UPDATE holds SET {_SET_STATE}
    WHERE tenant_id = %(tenant_id)s AND id = %(hold_id)s AND status = 'held'
    RETURNING amount
"""

# Settled with a charge: the hold closed, `held` less its amount and `balance` less the charge (one UPDATE of the
# wallet's row, which the caller locked), the ledger row with its price snapshot and the message's margin row (v3
# §15, last: pg_stat_activity shows a statement's first 1 KB, where the ledger's insert should stay); one round trip.
SETTLE_WITH_CHARGE = f"""
    WITH closed AS ({_CLOSE}
    ), moved AS (
        UPDATE wallets SET held = held - closed.amount, balance = balance + %(amount)s, updated_at = %(at)s
        FROM closed WHERE wallets.tenant_id = %(tenant_id)s
        RETURNING wallets.id, wallets.balance
    ), appended AS (
        {append_entry("moved", "driver")}
    ), margin AS ({margins.upsert("closed")}
    )
    SELECT * FROM appended
"""

# A voided or expired hold charged after all (Meta's webhook, contract v2 §11), one round trip: the hold keeps its
# status and gains `charged`, `shortfall` and `transaction_id` (only a released hold not charged yet: a racer that
# charged it first leaves no row, and the caller re-runs), `balance` falls by the charge while `held` stays (the
# hold holds nothing), and the ledger row with its price snapshot, as a settle's. The wallet's CHECK (balance >=
# held) refuses a charge `available` cannot cover; the ledger's unique charge reference refuses a second charge of
# the message.
CHARGE_RELEASED = f"""
    WITH charged AS (
        UPDATE holds SET charged = %(charged)s, shortfall = %(shortfall)s, transaction_id = %(transaction_id)s,
                         message_at = %(message_at)s, {", ".join(f"{name} = %({name})s" for name in _COST)}
        WHERE tenant_id = %(tenant_id)s AND id = %(hold_id)s AND status IN ('voided', 'expired') AND charged IS NULL
        RETURNING id
    ), moved AS (
        UPDATE wallets SET balance = balance + %(amount)s, updated_at = %(at)s
        FROM charged WHERE wallets.tenant_id = %(tenant_id)s
        RETURNING wallets.id, wallets.balance
    )
    {append_entry("moved", "driver")}
"""

# Settled free, voided or expired: the hold closed and `held` less its amount.
RELEASE = f"""
    WITH closed AS ({_CLOSE}
    )
    UPDATE wallets SET held = held - closed.amount
    FROM closed WHERE wallets.tenant_id = %(tenant_id)s
    RETURNING 1
"""

# Settled free: released as above, and the message counted in its margin (v3 §15), in the same round trip.
SETTLE_FREE = f"""
    WITH closed AS ({_CLOSE}
    ), margin AS ({margins.upsert("closed")}
    )
    UPDATE wallets SET held = held - closed.amount
    FROM closed WHERE wallets.tenant_id = %(tenant_id)s
    RETURNING 1
"""

# One key for every sweeper of the database ("billhold" in ASCII): a transaction-level advisory lock, released
# at commit. A second sweeper finds it taken and sweeps nothing rather than queueing behind the first; it says so
# (`another_sweeper`) when holds are due, so that `billing holds expire` does not report "nothing was due".
SWEEPER_LOCK = 0x62696C6C686F6C64

# A sweep in one round trip: up to `limit` open holds past `expires_at`, oldest first, are expired, and each
# wallet's `held` falls by the sum of its expired holds; the message ids expired are answered by tenant (in the
# order they fell due), for the tenant's audit row and the debt their release repays. The lock order: the wallets
# of the holds due are locked first, in tenant order (a settle or a webhook body holding one is waited for: it may
# close a hold due), and only then are the holds updated (the gate's count makes the UPDATE start after every
# wallet is locked); a hold closed meanwhile is re-read by the UPDATE (READ COMMITTED) and left alone.
EXPIRE_DUE = """
    WITH gate AS MATERIALIZED (
        SELECT pg_try_advisory_xact_lock(%(lock)s) AS taken
    ), due AS MATERIALIZED (
        SELECT tenant_id, id FROM holds
        WHERE status = 'held' AND expires_at <= %(now)s
        ORDER BY expires_at
        LIMIT %(limit)s
    ), locked AS MATERIALIZED (
        SELECT tenant_id FROM wallets
        WHERE tenant_id IN (SELECT tenant_id FROM due) AND (SELECT taken FROM gate)
        ORDER BY tenant_id
        FOR NO KEY UPDATE
    ), expired AS (
        UPDATE holds SET status = 'expired'
        FROM due
        WHERE holds.tenant_id = due.tenant_id AND holds.id = due.id AND holds.status = 'held'
          AND (SELECT count(*) FROM locked) > 0
        RETURNING holds.tenant_id, holds.amount, holds.message_id, holds.expires_at
    ), released AS (
        UPDATE wallets SET held = wallets.held - freed.amount
        FROM (SELECT tenant_id, sum(amount) AS amount FROM expired GROUP BY tenant_id) AS freed
        WHERE wallets.tenant_id = freed.tenant_id
        RETURNING 1
    ), by_tenant AS (
        SELECT tenant_id, min(expires_at) AS first_due,
               array_agg(message_id ORDER BY expires_at, message_id) AS message_ids
        FROM expired GROUP BY tenant_id
    )
    SELECT (SELECT count(*) FROM expired) AS expired, (SELECT count(*) FROM released) AS wallets,
           NOT (SELECT taken FROM gate) AND EXISTS (SELECT FROM due) AS another_sweeper,
           (SELECT json_agg(json_build_array(tenant_id, message_ids) ORDER BY first_due, tenant_id)
            FROM by_tenant) AS by_tenant
"""

FIND = select(_TABLE).where(
    _TABLE.c.tenant_id == bindparam("tenant_id"),
    _TABLE.c.message_id == any_(bindparam("message_ids", type_=ARRAY(String))),
)


def _place_params(hold: Hold, amount: Money, marketing: Money) -> dict[str, Any]:
    """The funds rule's parameters: `amount` to hold in all, `marketing` of it the lane rule looks at."""
    return {
        "tenant_id": hold.tenant_id,
        "wallet_currency": amount.currency,
        "total": amount.amount,
        "lane": marketing.is_positive,
        "lane_amount": marketing.amount,
    }


class SqlAlchemyHoldRepository(SqlAlchemyRepository):
    async def place(self, hold: Hold) -> HoldPlacement:
        marketing = hold.amount if hold.category is Category.MARKETING else Money.zero(hold.amount.currency)
        params = {**hold_to_row(hold), **_place_params(hold, hold.amount, marketing)}
        row = await self._fetch_one_on_driver(PLACE, params)
        if row is None:
            return HoldPlacement(hold=None, earlier=None)
        found = hold_from_row(row)
        if not row["is_new"]:
            return HoldPlacement(hold=None, earlier=found)
        self._collect(hold)
        return HoldPlacement(hold=found, earlier=None, movement=ledger.movement_from_row(row, hold.amount))

    async def place_batch(self, holds: Sequence[Hold]) -> Movement | None:
        if not holds:
            raise ValueError("a batch holds at least one message")
        first = holds[0]
        currency = first.amount.currency
        total = sum((hold.amount for hold in holds), Money.zero(currency))
        marketing = sum((hold.amount for hold in holds if hold.category is Category.MARKETING), Money.zero(currency))
        values = [hold_to_row(hold) for hold in holds]
        if any(value["tenant_id"] != first.tenant_id for value in values):
            raise ValueError("a batch of holds belongs to one tenant")
        params: dict[str, Any] = {name: [value[name] for value in values] for name in _BATCH_COLUMNS}
        params.update(_place_params(first, total, marketing))
        row = await self._fetch_one_on_driver(PLACE_BATCH, params)
        assert row is not None
        if row["charged"]:
            raise ConcurrencyConflictError("a message of the batch was charged meanwhile")
        placed = int(row["placed"])
        assert placed in (0, len(holds)), placed
        if placed == 0:
            return None
        for hold in holds:
            self._collect(hold)
        return ledger.movement_from_row({**row, "tenant_id": first.tenant_id, "currency": currency}, total)

    async def find(self, tenant_id: str, message_ids: Sequence[str]) -> list[Hold]:
        if not message_ids:
            return []
        found = await self._execute(FIND, {"tenant_id": tenant_id, "message_ids": list(message_ids)})
        return [hold_from_row(row) for row in found.mappings()]

    async def get(self, tenant_id: str, hold_id: UUID) -> Hold | None:
        row = await self._by_id(_TABLE, hold_id, for_update=False, tenant_id=tenant_id)
        return None if row is None else hold_from_row(row)

    async def lock(self, tenant_id: str, message_id: str, costs_at: datetime | None = None) -> LockedHold | None:
        params = {"tenant_id": tenant_id, "message_id": message_id, "at": costs_at}
        row = await self._fetch_one_on_driver(LOCK, params)
        if row is None:
            return None
        hold = hold_from_row(row)
        currency = row["currency"]
        funds = Funds(
            Money(row["wallet_balance"], currency),
            Money(row["wallet_held"], currency),
            WalletStatus(row["wallet_status"]),
            Money.zero(currency),  # settling and voiding never look at the lane
            Money(row["wallet_debt"], currency),  # a release repays it
        )
        watch_below = row["watch_below"]
        watch = None if watch_below is None else Money(watch_below, currency)
        return LockedHold(hold, funds, watch, row["cost_card_id"], costs_at)

    async def save_settled(self, hold: Hold, charge: Posting | None, margin: MarginLine) -> LedgerEntry | None:
        params = {
            **hold_state_to_row(hold),
            **margins.margin_params(margin),
            "tenant_id": hold.tenant_id,
            "hold_id": hold.id,
        }
        if charge is None:
            await self._closed(SETTLE_FREE, params)
            self._collect(hold)
            return None
        if charge.tenant_id != hold.tenant_id:
            raise ValueError("a hold is charged to its own tenant's wallet")
        row = await self._closed(SETTLE_WITH_CHARGE, {**params, **ledger.posting_params(charge)})
        self._collect(hold)
        return ledger.entry_from_posting(charge, row)

    async def save_released(self, hold: Hold) -> None:
        params = {**hold_state_to_row(hold), "tenant_id": hold.tenant_id, "hold_id": hold.id}
        await self._closed(RELEASE, params)
        self._collect(hold)

    async def save_released_charge(self, hold: Hold, charge: Posting) -> LedgerEntry:
        if charge.tenant_id != hold.tenant_id or charge.reference_id != hold.message_id:
            raise ValueError("a hold's late charge is its own message's, on its own tenant's wallet")
        params = {
            **hold_state_to_row(hold),
            **ledger.posting_params(charge),
            "tenant_id": hold.tenant_id,
            "hold_id": hold.id,
        }
        row = await self._fetch_one_on_driver(CHARGE_RELEASED, params)
        if row is None:  # charged (or reopened) meanwhile: its caller did not hold its lock
            raise ConcurrencyConflictError(f"hold {hold.id} is no longer a released hold to charge")
        return ledger.entry_from_posting(charge, row)

    async def _closed(self, statement: str, params: dict[str, Any]) -> dict[str, Any]:
        row = await self._fetch_one_on_driver(statement, params)
        if row is None:  # the hold was no longer open: its caller did not hold its lock
            raise ConcurrencyConflictError(f"hold {params['hold_id']} was closed meanwhile")
        return row

    async def expire_due(self, now: datetime, limit: int) -> Sweep:
        if limit < 1:
            return Sweep(expired=0)
        row = await self._fetch_one_on_driver(EXPIRE_DUE, {"lock": SWEEPER_LOCK, "now": now, "limit": limit})
        assert row is not None
        by_tenant = {tenant: tuple(message_ids) for tenant, message_ids in row["by_tenant"] or ()}
        return Sweep(int(row["expired"]), bool(row["another_sweeper"]), by_tenant)

    async def list(self, tenant_id: str, filters: HoldFilter, page: PageRequest) -> Page[Hold]:
        columns = _TABLE.c
        query = select(_TABLE).where(columns.tenant_id == tenant_id)
        if filters.status is not None:
            query = query.where(columns.status == filters.status.value)
        if filters.category is not None:
            query = query.where(columns.category == filters.category.value)
        if filters.message_id is not None:
            query = query.where(columns.message_id == filters.message_id)
        found, total = await self._page(query, [columns.created_at.desc(), columns.id.desc()], page)
        return Page(tuple(hold_from_row(row) for row in found), page.page, page.page_size, total)


# Rows <-> domain: every field written and read back (tests/integration/test_reloading.py reloads them).


def hold_to_row(hold: Hold) -> dict[str, Any]:
    quote = hold.quote
    return {
        "tenant_id": hold.tenant_id,
        "id": hold.id,
        "message_id": hold.message_id,
        "recipient": quote.recipient,
        "country": quote.country,
        "market": quote.market,
        "category": quote.category.value,
        "tier": quote.tier,
        "rate_card_id": quote.rate_card_id,
        "unit_price": quote.unit_price.amount,
        "amount": quote.amount.amount,
        "free_reason": None if quote.free_reason is None else quote.free_reason.value,
        "message_window": hold.window.value,
        "currency": quote.amount.currency,
        "created_at": hold.created_at,
        "expires_at": hold.expires_at,
        "cost_estimate": None if hold.cost_estimate is None else hold.cost_estimate.amount,
        "phone_number_id": hold.phone_number_id,
        **hold_state_to_row(hold),
    }


def hold_state_to_row(hold: Hold) -> dict[str, Any]:
    """What settling, voiding, expiring or a late charge changes on a hold's row."""
    return {
        "status": hold.status.value,
        "settled_at": hold.settled_at,
        "voided_at": hold.voided_at,
        "charged": None if hold.charged is None else hold.charged.amount,
        "shortfall": None if hold.shortfall is None else hold.shortfall.amount,
        "transaction_id": hold.transaction_id,
        "settled_category": None if hold.settled_category is None else hold.settled_category.value,
        "message_at": hold.message_at,
        **cost_to_row(hold.cost),
    }


def cost_to_row(cost: Cost | None) -> dict[str, Any]:
    """A message's cost as the hold's columns (all null: uncosted)."""
    if cost is None:
        return dict.fromkeys(_COST)
    return {
        "cost": cost.amount.amount,
        "cost_unit_price": cost.unit_price.amount,
        "cost_card_id": cost.card_id,
        "cost_tier": cost.tier,
        "cost_market": cost.market,
    }


def cost_from_row(row: Row, currency: str) -> Cost | None:
    if row["cost"] is None:
        return None
    return Cost(
        Money(row["cost"], currency),
        Money(row["cost_unit_price"], currency),
        row["cost_card_id"],
        row["cost_tier"],
        row["cost_market"],
    )


def hold_from_row(row: Row) -> Hold:
    currency = row["currency"]
    return Hold(
        id=row["id"],
        tenant_id=row["tenant_id"],
        message_id=row["message_id"],
        quote=Quote(
            recipient=row["recipient"],
            country=row["country"],
            market=row["market"],
            category=Category(row["category"]),
            tier=row["tier"],
            rate_card_id=row["rate_card_id"],
            unit_price=Money(row["unit_price"], currency),
            amount=Money(row["amount"], currency),
            free_reason=None if row["free_reason"] is None else FreeReason(row["free_reason"]),
        ),
        window=Window(row["message_window"]),
        status=HoldStatus(row["status"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        settled_at=row["settled_at"],
        voided_at=row["voided_at"],
        charged=None if row["charged"] is None else Money(row["charged"], currency),
        shortfall=None if row["shortfall"] is None else Money(row["shortfall"], currency),
        transaction_id=row["transaction_id"],
        settled_category=None if row["settled_category"] is None else Category(row["settled_category"]),
        cost_estimate=None if row["cost_estimate"] is None else Money(row["cost_estimate"], currency),
        message_at=row["message_at"],
        cost=cost_from_row(row, currency),
        phone_number_id=row["phone_number_id"],
    )
