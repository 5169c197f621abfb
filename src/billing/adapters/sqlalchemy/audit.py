"""`billing audit`: every wallet's cached balance against its ledger, its `held` against its open holds, and its
`debt` against its reversed payments and repayments (contract v3 §23), in one pass over each."""

from __future__ import annotations

import attrs
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.sqlalchemy.errors import reachable

# A wallet drifts when its cached balance differs from the ledger's sum or from its newest row's
# balance_after, or when a row's balance_after does not follow from the previous row's (from 0);
# or when its `held` is not the sum of its open holds, or its balance does not cover what it holds; or when its
# `debt` is not what its reversed payments left owed (their `debt_added`) less its `debt_repayment` rows.
DRIFTING_WALLETS = text(
    """
    WITH rows AS (
        SELECT tenant_id, kind, amount, balance_after, seq,
               lag(balance_after, 1, 0) OVER (PARTITION BY tenant_id ORDER BY seq) AS before
        FROM wallet_transactions
    ), ledgers AS (
        SELECT tenant_id,
               sum(amount) AS total,
               (array_agg(balance_after ORDER BY seq DESC))[1] AS newest,
               bool_and(before + amount = balance_after) AS chained,
               -sum(amount) FILTER (WHERE kind = 'debt_repayment') AS repaid
        FROM rows
        GROUP BY tenant_id
    ), open_holds AS (
        SELECT tenant_id, sum(amount) AS held FROM holds WHERE status = 'held' GROUP BY tenant_id
    ), owed AS (
        SELECT tenant_id, sum(debt_added) AS added FROM invoices WHERE status = 'payment_reversed' GROUP BY tenant_id
    )
    SELECT coalesce(w.tenant_id, l.tenant_id, h.tenant_id, o.tenant_id) AS tenant_id
    FROM wallets w
    FULL JOIN ledgers l ON l.tenant_id = w.tenant_id
    FULL JOIN open_holds h ON h.tenant_id = coalesce(w.tenant_id, l.tenant_id)
    FULL JOIN owed o ON o.tenant_id = coalesce(w.tenant_id, l.tenant_id, h.tenant_id)
    WHERE w.tenant_id IS NULL
       OR w.balance <> coalesce(l.total, 0)
       OR w.balance <> coalesce(l.newest, 0)
       OR NOT coalesce(l.chained, true)
       OR w.held <> coalesce(h.held, 0)
       OR w.balance < w.held
       OR w.debt <> coalesce(o.added, 0) - coalesce(l.repaid, 0)
    ORDER BY 1
    """
)


async def audit_wallets(engine: AsyncEngine) -> list[str]:
    """The tenant ids of drifting wallets (empty when every wallet agrees with its ledger)."""
    with reachable(engine.url):
        async with engine.connect() as connection:
            result = await connection.execute(DRIFTING_WALLETS)
            return [str(tenant_id) for tenant_id in result.scalars()]


@attrs.frozen
class WalletAudit:
    """`billing audit` on the container's engine."""

    engine: AsyncEngine

    async def drifting(self) -> list[str]:
        return await audit_wallets(self.engine)
