"""Hold scenarios (contract v2 §9), in-process through the facade, against a raw-psycopg floor doing the same work.

- `hold-settle-100`: each operation holds one message and then settles it (two units of work), over 100 wallets
  and 8 tasks, the way the messaging module sends a message and hears it delivered. Issue 27: with a cost card in
  force (contract v3 §15: the same markets as the price card, each rate at 80% of its price) and every wallet's time
  zone set to Asia/Kolkata (§16: tiers count the tenant's months), so each message is also costed at hold
  (`cost_estimate`) and at settlement (the cost's tier counted and bumped, the margin row moved). The issue also
  names an allowance; allowances are not built yet, and the scenario gains one on its cards when they are.
- `hold-batch-1000`: `hold_batch` of 1,000 messages (a campaign), each batch a new tenant's, one caller at a time
  (no cost card, no time zone: as in v2).

The floor reads the same rows and writes the same rows under the same rules, in as many statements as ours. Since
issue 27 that includes the cost and the margin: a floor is what the same job costs on raw psycopg, and costing a
message and keeping the margin aggregate are now part of the job (a floor without them would charge ours for work
that any implementation must do, and the ratio would fall for no fault of the layers it measures):

- hold: the price card and the cost card in force (one statement), the month's count of the message's market (its
  tier) and the cost card's count of its cost market, each in the tenant's month (its time zone read inside the
  statement, as ours); the number parsed with `phonenumbers`, priced and costed by the tier rule; then one statement
  moves `held` on an active wallet whose `available` covers the hold (and the marketing reserve), when the message
  id was never charged, and inserts the hold (with its cost estimate) from the moved row.
- settle: the hold's row locked (and the cost card in force found); the cost tier's count read; then one statement
  closes the hold with its cost and message time, moves the message's margin row, moves the wallet's `balance` and
  `held` and inserts the `charge` ledger row with its price snapshot (cost included); then the cost's and the
  price's tier counters are bumped, each in the tenant's month.
- batch: the card, the counts of the markets involved, 1,000 numbers parsed and priced; then one statement moves
  `held` by the total under the same rules and inserts every hold from one array per column.

What the floor leaves out is what ours adds around the same SQL: the unit of work, SQLAlchemy, the domain's
objects and checks, events, the answers' reads of a repeat (a batch's earlier holds, its charged ids).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import phonenumbers
import psycopg
from sqlalchemy.ext.asyncio import AsyncEngine

from benchmarks.inprocess import CONCURRENCY, _run_concurrently
from benchmarks.progress import Progress
from benchmarks.quotes import _meta_card, recipients
from benchmarks.size import Size
from billing.adapters.sqlalchemy.engine import create_engine
from billing.application.service import BillingService
from billing.config import Settings
from billing.container import postgres_container

CATEGORY = "marketing"  # a campaign's category: the lane rule (the marketing reserve) is checked too
WALLETS = 100
BATCH = 1000
TTL = timedelta(days=30)  # BILLING_HOLD_TTL_SECONDS' default
TARGET_HOLDS_PER_SECOND = 4000.0  # the absolute target for batches
TIME_ZONE = "Asia/Kolkata"  # hold-settle-100's wallets' (contract v3 §16): a month that is not UTC's
COST_SHARE = Decimal("0.8")  # the cost card's rates: 80% of the price card's

Conn = psycopg.AsyncConnection[tuple[Any, ...]]

CARD_IN_FORCE = """
    SELECT id, markets, rates, free_in_service_window FROM (
        (SELECT 0 AS preference, id, markets, rates, free_in_service_window FROM rate_cards
         WHERE tenant_id = %(tenant)s AND effective_from <= %(now)s
         ORDER BY effective_from DESC, created_at DESC LIMIT 1)
        UNION ALL
        (SELECT 1, id, markets, rates, free_in_service_window FROM default_rate_cards
         WHERE effective_from <= %(now)s ORDER BY effective_from DESC, created_at DESC LIMIT 1)
    ) AS cards ORDER BY preference LIMIT 1
"""
COUNTS = (
    "SELECT market, settled FROM message_counts"
    " WHERE tenant_id = %s AND month = %s AND category = %s AND market = ANY(%s)"
)

# hold-settle-100 (issue 27): the price card and the cost card in force (contract v3 §15) in one statement.
_COST_CARD = """
    LEFT JOIN LATERAL (
        SELECT id, markets, rates FROM cost_cards WHERE effective_from <= %(now)s
        ORDER BY effective_from DESC, created_at DESC, id DESC LIMIT 1
    ) AS cost ON true
"""
CARDS_IN_FORCE = f"""
    SELECT cards.id, cards.markets, cards.rates, cost.id, cost.markets, cost.rates
    FROM ({CARD_IN_FORCE}) AS cards {_COST_CARD}
"""
# The tenant's month of `now` in its time zone (contract v3 §16), read inside the statement that needs it.
_TENANT_MONTH = """CAST(to_char(%(now)s AT TIME ZONE coalesce(
    (SELECT timezone FROM wallet_settings WHERE tenant_id = %(tenant)s), 'UTC'), 'YYYY-MM') AS CHAR(7))"""


def _counts_in_month(table: str) -> str:
    return f"""
        SELECT market, settled FROM {table}
        WHERE tenant_id = %(tenant)s AND month = {_TENANT_MONTH} AND category = %(category)s
          AND market = ANY(%(markets)s)
    """


def _count_in_month(table: str) -> str:
    return f"""
        INSERT INTO {table} (tenant_id, month, market, category, settled)
        VALUES (CAST(%(tenant)s AS VARCHAR), {_TENANT_MONTH}, %(market)s, %(category)s, 1)
        ON CONFLICT (tenant_id, month, market, category) DO UPDATE SET settled = {table}.settled + 1
    """


PRICE_COUNTS, COST_COUNTS = _counts_in_month("message_counts"), _counts_in_month("cost_message_counts")
COUNT_PRICE, COUNT_COST = _count_in_month("message_counts"), _count_in_month("cost_message_counts")

# The funds, freeze and lane rules of a hold (or of a batch's total), and the message ids never charged.
_COVERED = """
    tenant_id = %(tenant)s AND currency = 'USD' AND status = 'active' AND balance - held >= %(total)s
    AND balance - held - %(total)s >= COALESCE(
        (SELECT marketing_reserve FROM wallet_settings WHERE tenant_id = %(tenant)s), 0)
    AND NOT EXISTS (SELECT FROM wallet_transactions
                    WHERE tenant_id = %(tenant)s AND kind = 'charge' AND reference_id = ANY(%(ids)s))
"""
_HOLD_COLUMNS = (
    "id, message_id, status, recipient, country, market, category, tier, rate_card_id, unit_price, amount,"
    " free_reason, message_window, currency, created_at, expires_at"
)
HOLD = f"""
    WITH moved AS (
        UPDATE wallets SET held = held + %(total)s WHERE {_COVERED} RETURNING tenant_id
    )
    INSERT INTO holds (tenant_id, {_HOLD_COLUMNS}, cost_estimate)
    SELECT moved.tenant_id, %(id)s, %(message_id)s, 'held', %(recipient)s, %(country)s, %(market)s, %(category)s,
           %(tier)s, %(card)s, %(unit_price)s, %(total)s, NULL, 'none', 'USD', %(at)s, %(expires_at)s,
           %(cost_estimate)s
    FROM moved
    RETURNING id
"""
HOLD_BATCH = f"""
    WITH moved AS (
        UPDATE wallets SET held = held + %(total)s WHERE {_COVERED} RETURNING tenant_id
    )
    INSERT INTO holds (tenant_id, {_HOLD_COLUMNS})
    SELECT moved.tenant_id, batch.id, batch.message_id, 'held', batch.recipient, batch.country, batch.market,
           %(category)s, batch.tier, %(card)s, batch.unit_price, batch.amount, NULL, 'none', 'USD', %(at)s,
           %(expires_at)s
    FROM moved, unnest(%(hold_ids)s::uuid[], %(ids)s::text[], %(recipients)s::text[], %(countries)s::text[],
                       %(markets)s::text[], %(tiers)s::integer[], %(unit_prices)s::numeric[], %(amounts)s::numeric[])
         AS batch(id, message_id, recipient, country, market, tier, unit_price, amount)
"""
# v2's settle, without the cost or the margin (the webhook scenario's floor).
LOCK_HOLD = """
    SELECT id, status, expires_at, recipient, country, market, category, tier, rate_card_id, unit_price, amount,
           free_reason
    FROM holds WHERE tenant_id = %s AND message_id = %s FOR NO KEY UPDATE
"""
SETTLE = """
    WITH closed AS (
        UPDATE holds SET status = 'settled', settled_at = %(at)s, charged = %(amount)s, shortfall = 0,
                         transaction_id = %(entry)s, settled_category = %(category)s
        WHERE tenant_id = %(tenant)s AND id = %(hold)s AND status = 'held'
        RETURNING amount
    ), moved AS (
        UPDATE wallets SET held = held - closed.amount, balance = balance - %(amount)s, updated_at = %(at)s
        FROM closed WHERE wallets.tenant_id = %(tenant)s
        RETURNING wallets.id, wallets.balance
    )
    INSERT INTO wallet_transactions (tenant_id, id, wallet_id, kind, amount, currency, balance_after, reference_id,
                                     description, created_at, price)
    SELECT %(tenant)s, %(entry)s, moved.id, 'charge', -%(amount)s, 'USD', moved.balance, %(message_id)s,
           %(description)s, %(at)s, %(price)s::jsonb
    FROM moved
    RETURNING balance_after
"""
COUNT_SETTLED = """
    INSERT INTO message_counts (tenant_id, month, market, category, settled) VALUES (%s, %s, %s, %s, 1)
    ON CONFLICT (tenant_id, month, market, category) DO UPDATE SET settled = message_counts.settled + 1
"""

# hold-settle-100's (issue 27): as v2's, with the cost card in force, the cost and the margin row.
COSTED_LOCK_HOLD = f"""
    SELECT holds.id, status, expires_at, recipient, country, market, category, tier, rate_card_id, unit_price,
           amount, free_reason, cost.id, cost.markets, cost.rates
    FROM holds {_COST_CARD}
    WHERE tenant_id = %(tenant)s AND message_id = %(message_id)s FOR NO KEY UPDATE OF holds
"""
_MARGIN_FIGURES = ("messages", "billed", "cost", "uncosted", "uncosted_billed")
COSTED_SETTLE = f"""
    WITH closed AS (
        UPDATE holds SET status = 'settled', settled_at = %(at)s, charged = %(amount)s, shortfall = 0,
                         transaction_id = %(entry)s, settled_category = %(category)s, message_at = %(at)s,
                         cost = %(cost)s, cost_unit_price = %(cost_unit_price)s, cost_card_id = %(cost_card)s,
                         cost_tier = %(cost_tier)s, cost_market = %(cost_market)s
        WHERE tenant_id = %(tenant)s AND id = %(hold)s AND status = 'held'
        RETURNING amount
    ), margin AS (
        INSERT INTO message_margins AS m (tenant_id, day, market, category, {", ".join(_MARGIN_FIGURES)})
        SELECT %(tenant)s, %(day)s, %(market)s, %(category)s, 1, %(amount)s, %(margin_cost)s, %(uncosted)s,
               %(uncosted_billed)s
        FROM closed
        ON CONFLICT (tenant_id, day, market, category) DO UPDATE
        SET {", ".join(f"{name} = m.{name} + EXCLUDED.{name}" for name in _MARGIN_FIGURES)}
    ), moved AS (
        UPDATE wallets SET held = held - closed.amount, balance = balance - %(amount)s, updated_at = %(at)s
        FROM closed WHERE wallets.tenant_id = %(tenant)s
        RETURNING wallets.id, wallets.balance
    )
    INSERT INTO wallet_transactions (tenant_id, id, wallet_id, kind, amount, currency, balance_after, reference_id,
                                     description, created_at, price)
    SELECT %(tenant)s, %(entry)s, moved.id, 'charge', -%(amount)s, 'USD', moved.balance, %(message_id)s,
           %(description)s, %(at)s, %(price)s::jsonb
    FROM moved
    RETURNING balance_after
"""


def billing_on(url: str, engine: AsyncEngine) -> BillingService:
    """The service as `postgres_container` wires it (the runtime prices real phone numbers), on `engine`."""
    service: BillingService = postgres_container(Settings(database_url=url), engine=engine).service()
    return service


async def _priced(billing: BillingService, tenants: list[str], *, costed: bool = False) -> None:
    """Meta's USD card as the default card, in force since yesterday; each tenant funded. `costed`: a cost card in
    force too (the same markets, each rate at 80% of its price) and every tenant's time zone Asia/Kolkata."""
    card = _meta_card()
    platform = billing.as_platform("bench")
    await platform.create_rate_card(
        card["name"],
        datetime.fromisoformat(card["effective_from"]),
        card["markets"],
        card["rates"],
        free_in_service_window=card["free_in_service_window"],
    )
    if costed:
        cost_rates = [
            {**rate, "unit_price": str(_quantized(Decimal(rate["unit_price"]) * COST_SHARE))} for rate in card["rates"]
        ]
        await platform.create_rate_card(
            "Meta's price list to the platform (benchmark)",
            datetime.fromisoformat(card["effective_from"]),
            card["markets"],
            cost_rates,
            free_in_service_window=card["free_in_service_window"],
            kind="cost",
        )
    for tenant in tenants:
        await platform.adjust(tenant, "1000000.00", "benchmark funds")
        if costed:
            await platform.set_settings(tenant_id=tenant, timezone=TIME_ZONE)
    # Allowances (contract v3 §16) are not built yet: when they are, the cards gain one here (issue 27).


def _country(number: str) -> str:
    parsed = phonenumbers.parse(number if number.startswith("+") else "+" + number, None)
    assert phonenumbers.is_valid_number(parsed)
    region = phonenumbers.region_code_for_number(parsed)
    assert region is not None
    return region


def _tiers(rates: list[dict[str, Any]], category: str) -> dict[str, list[tuple[int, Decimal]]]:
    tiers: dict[str, list[tuple[int, Decimal]]] = {}
    for rate in rates:
        if rate["category"] == category:
            tiers.setdefault(rate["market"], []).append((rate.get("tier_from", 1), Decimal(rate["unit_price"])))
    return tiers


def _price(tiers: dict[str, list[tuple[int, Decimal]]], market: str, settled: int) -> tuple[int, Decimal]:
    """The tier rule: the row with the largest tier_from <= n, n = 1 + settled this month."""
    n = 1 + settled
    return max((row for row in tiers[market] if row[0] <= n), key=lambda row: row[0])


def _masked(number: str) -> str:
    return "…" + "".join(char for char in number if char.isdigit())[-4:]


def _quantized(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.0001"), ROUND_HALF_UP)


async def _counted(conn: Conn, statement: str, tenant: str, market: str, now: datetime) -> int:
    """This tenant's month's count of `market` (a price or a cost tier's), its month in the tenant's time zone."""
    found = await conn.execute(statement, {"tenant": tenant, "now": now, "category": CATEGORY, "markets": [market]})
    counts: dict[str, int] = dict(await found.fetchall())
    return counts.get(market, 0)


def _cost(
    markets: dict[str, str] | None, rates: list[dict[str, Any]] | None, country: str, counted: int
) -> tuple[str, int, Decimal] | None:
    """The message's cost market, tier and unit price on the cost card (None: uncosted), by the same tier rule."""
    market = None if markets is None else markets.get(country, markets.get("*"))
    tiers = _tiers(rates or [], CATEGORY)
    if market is None or market not in tiers:
        return None
    return (market, *_price(tiers, market, counted))


async def floor_hold(conn: Conn, tenant: str, message_id: str, number: str) -> bool:
    """One message held by hand: the price and cost cards and the two tiers' counts read, the number priced and
    costed, `held` moved and the hold (with its cost estimate) inserted in one statement; one transaction."""
    now = datetime.now(UTC)
    async with conn.transaction():
        cards = await (await conn.execute(CARDS_IN_FORCE, {"tenant": tenant, "now": now})).fetchone()
        assert cards is not None
        card_id, markets, rates, _, cost_markets, cost_rates = cards
        country = _country(number)
        market = markets.get(country, markets.get("*"))
        tier, unit_price = _price(
            _tiers(rates, CATEGORY), market, await _counted(conn, PRICE_COUNTS, tenant, market, now)
        )
        cost_market = None if cost_markets is None else cost_markets.get(country, cost_markets.get("*"))
        counted = 0 if cost_market is None else await _counted(conn, COST_COUNTS, tenant, cost_market, now)
        cost = _cost(cost_markets, cost_rates, country, counted)
        placed = await conn.execute(
            HOLD,
            {
                "tenant": tenant,
                "total": _quantized(unit_price),
                "ids": [message_id],
                "id": uuid.uuid4(),
                "message_id": message_id,
                "recipient": _masked(number),
                "country": country,
                "market": market,
                "category": CATEGORY,
                "tier": tier,
                "card": card_id,
                "unit_price": unit_price,
                "at": now,
                "expires_at": now + TTL,
                "cost_estimate": None if cost is None else _quantized(cost[2]),
            },
        )
        return await placed.fetchone() is not None


async def floor_settle(conn: Conn, tenant: str, message_id: str) -> bool:
    """One held message settled at its hold's price by hand: the hold locked (and the cost card in force read); the
    cost's tier count read and the message costed; the hold closed with its cost, the margin row moved, the wallet
    moved and the charge row (with its price snapshot, cost included) inserted in one statement; the cost's and the
    price's tier counters bumped."""
    now = datetime.now(UTC)
    async with conn.transaction():
        found = await conn.execute(COSTED_LOCK_HOLD, {"tenant": tenant, "message_id": message_id, "now": now})
        hold = await found.fetchone()
        if hold is None:
            return False
        hold_id, status, expires_at, recipient, country, market, category, tier, card, unit_price, amount, free = hold[
            :12
        ]
        cost_card, cost_markets, cost_rates = hold[12:]
        if status != "held" or expires_at <= now:
            return False
        cost_market = None if cost_markets is None else cost_markets.get(country, cost_markets.get("*"))
        counted = 0 if cost_market is None else await _counted(conn, COST_COUNTS, tenant, cost_market, now)
        costed = _cost(cost_markets, cost_rates, country, counted)
        price = {
            "hold_id": str(hold_id),
            "category": category,
            "market": market,
            "country": country,
            "tier": tier,
            "rate_card_id": str(card),
            "unit_price": str(unit_price),
            "free_reason": free,
        }
        cost = None
        if costed is not None:
            cost_market, cost_tier, cost_unit_price = costed
            cost = _quantized(cost_unit_price)
            price.update(
                cost=str(cost),
                cost_unit_price=str(cost_unit_price),
                cost_card_id=str(cost_card),
                cost_tier=cost_tier,
                cost_market=cost_market,
            )
        price["message_at"] = now.isoformat()
        settled = await conn.execute(
            COSTED_SETTLE,
            {
                "tenant": tenant,
                "hold": hold_id,
                "entry": uuid.uuid4(),
                "amount": amount,
                "category": category,
                "market": market,
                "message_id": message_id,
                "description": f"WhatsApp {category} message to {recipient} ({market})",
                "price": json.dumps(price),
                "at": now,
                "cost": cost,
                "cost_unit_price": None if costed is None else costed[2],
                "cost_card": None if costed is None else cost_card,
                "cost_tier": None if costed is None else costed[1],
                "cost_market": None if costed is None else costed[0],
                "day": now.date(),
                "margin_cost": cost or 0,
                "uncosted": int(cost is None),
                "uncosted_billed": amount if cost is None else 0,
            },
        )
        if await settled.fetchone() is None:
            return False
        if cost is not None and cost > 0:  # Meta counts only charged messages in its tiers
            await conn.execute(COUNT_COST, {"tenant": tenant, "now": now, "market": cost_market, "category": category})
        await conn.execute(COUNT_PRICE, {"tenant": tenant, "now": now, "market": market, "category": category})
    return True


async def hold_settle(url: str, size: Size) -> dict[str, Any]:
    """Hold + settle per message over 100 wallets, 8 tasks: ours (two units of work) and the floor."""
    total = size.pick(2000, 300, 40)
    engine = create_engine(url, pool_size=CONCURRENCY, max_overflow=0)
    billing = billing_on(url, engine)
    ours_tenants = [f"ours-{i}" for i in range(WALLETS)]
    floor_tenants = [f"floor-{i}" for i in range(WALLETS)]
    await _priced(billing, ours_tenants + floor_tenants, costed=True)
    platform = billing.as_platform("messaging")
    numbers = recipients()

    async def ours(_: int, i: int) -> None:
        tenant, message_id = ours_tenants[i % WALLETS], f"wamid.o-{i}"
        held = await platform.hold(tenant, message_id, CATEGORY, numbers[i % len(numbers)])
        assert held.created
        settled = await platform.settle(tenant, message_id)
        assert settled.charged is not None
        assert settled.charged.is_positive

    connections = [await psycopg.AsyncConnection.connect(url) for _ in range(CONCURRENCY)]

    async def raw(worker: int, i: int) -> None:
        tenant, message_id = floor_tenants[i % WALLETS], f"wamid.f-{i}"
        assert await floor_hold(connections[worker], tenant, message_id, numbers[i % len(numbers)])
        assert await floor_settle(connections[worker], tenant, message_id)

    await _run_concurrently(min(200, total), "warm-up", lambda w, i: ours(w, total + i))
    ours_rate = await _run_concurrently(total, f"hold + settle, {WALLETS} wallets: ours", ours)
    floor_rate = await _run_concurrently(total, f"hold + settle, {WALLETS} wallets: floor", raw)
    for connection in connections:
        await connection.close()
    await engine.dispose()
    return {"ours": ours_rate, "floor": floor_rate, "messages": total, "wallets": WALLETS}


async def floor_hold_batch(conn: Conn, tenant: str, message_ids: list[str], numbers: list[str]) -> bool:
    """A batch held by hand, all or nothing: the card and the counts read, every number parsed and priced, then
    `held` moved by the total and every hold inserted in one statement; one transaction."""
    now = datetime.now(UTC)
    async with conn.transaction():
        card = await (await conn.execute(CARD_IN_FORCE, {"tenant": tenant, "now": now})).fetchone()
        assert card is not None
        card_id, markets, rates, _ = card
        countries = [_country(number) for number in numbers]
        in_market = [markets.get(country, markets.get("*")) for country in countries]
        found = await conn.execute(COUNTS, (tenant, now.strftime("%Y-%m"), CATEGORY, sorted(set(in_market))))
        counts: dict[str, int] = dict(await found.fetchall())
        tiers = _tiers(rates, CATEGORY)
        priced = [_price(tiers, market, counts.get(market, 0)) for market in in_market]
        amounts = [unit_price.quantize(Decimal("0.0001"), ROUND_HALF_UP) for _, unit_price in priced]
        placed = await conn.execute(
            HOLD_BATCH,
            {
                "tenant": tenant,
                "total": sum(amounts, Decimal(0)),
                "ids": message_ids,
                "category": CATEGORY,
                "card": card_id,
                "at": now,
                "expires_at": now + TTL,
                "hold_ids": [uuid.uuid4() for _ in message_ids],
                "recipients": [_masked(number) for number in numbers],
                "countries": countries,
                "markets": in_market,
                "tiers": [tier for tier, _ in priced],
                "unit_prices": [unit_price for _, unit_price in priced],
                "amounts": amounts,
            },
        )
        return placed.rowcount == len(message_ids)


async def hold_batches(url: str, size: Size) -> dict[str, Any]:
    """1,000-message batches, one after another, each a new tenant's: holds/s, ours and the floor."""
    batches = size.pick(30, 4, 2)
    engine = create_engine(url, pool_size=2, max_overflow=0)
    billing = billing_on(url, engine)
    warm_up = 2
    ours_tenants = [f"batch-ours-{i}" for i in range(batches + warm_up)]
    floor_tenants = [f"batch-floor-{i}" for i in range(batches + warm_up)]
    await _priced(billing, ours_tenants + floor_tenants)
    platform = billing.as_platform("messaging")
    numbers = recipients()
    assert len(numbers) == BATCH

    async def ours(tenant: str) -> None:
        messages = [
            {"message_id": f"wamid.{tenant}-{i}", "category": CATEGORY, "recipient": number}
            for i, number in enumerate(numbers)
        ]
        placed = await platform.hold_batch(tenant, messages)
        assert placed.created
        assert len(placed.items) == BATCH

    for tenant in ours_tenants[batches:]:
        await ours(tenant)
    progress = Progress(f"hold batches of {BATCH}: ours", batches)
    started = time.perf_counter()
    for tenant in ours_tenants[:batches]:
        await ours(tenant)
        progress.advance()
    ours_rate = batches * BATCH / (time.perf_counter() - started)

    conn = await psycopg.AsyncConnection.connect(url)

    async def raw(tenant: str) -> None:
        assert await floor_hold_batch(conn, tenant, [f"wamid.{tenant}-{i}" for i in range(BATCH)], numbers)

    for tenant in floor_tenants[batches:]:
        await raw(tenant)
    progress = Progress(f"hold batches of {BATCH}: floor", batches)
    started = time.perf_counter()
    for tenant in floor_tenants[:batches]:
        await raw(tenant)
        progress.advance()
    floor_rate = batches * BATCH / (time.perf_counter() - started)
    await conn.close()
    await engine.dispose()
    return {
        "ours": ours_rate,
        "floor": floor_rate,
        "batches": batches,
        "batch_size": BATCH,
        "absolute_target": f"≥ {TARGET_HOLDS_PER_SECOND:g} holds/s",
        "meets_absolute_target": ours_rate >= TARGET_HOLDS_PER_SECOND,
    }


def run_hold_settle(url: str, size: Size) -> dict[str, Any]:
    return asyncio.run(hold_settle(url, size))


def run_hold_batches(url: str, size: Size) -> dict[str, Any]:
    result = asyncio.run(hold_batches(url, size))
    print(
        f"hold-batch-1000: ours {result['ours']:,.0f} holds/s (absolute target {result['absolute_target']}:"
        f" {'met' if result['meets_absolute_target'] else 'NOT met'})"
    )
    return result
