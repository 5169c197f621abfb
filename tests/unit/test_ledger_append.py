"""Every statement that moves a balance appends its ledger row through one fragment (adapters/sqlalchemy/ledger.py),
and each renders the append it sent before the fragment existed: same columns, same values, same RETURNING."""

from __future__ import annotations

import pytest

from billing.adapters.sqlalchemy import holds, topup_requests, wallets

_COLUMNS = "tenant_id, id, wallet_id, kind, amount, currency, balance_after, reference_id, description, created_at"

POSTING = (
    f"INSERT INTO wallet_transactions ({_COLUMNS}, price)"
    " SELECT :tenant_id, :id, moved.id, :kind, :amount, :currency,"
    " moved.balance, :reference_id, :description, :at, CAST(:price AS JSONB)"
    " FROM moved RETURNING wallet_id, balance_after"
)
CHARGE = (
    f"INSERT INTO wallet_transactions ({_COLUMNS}, price)"
    " SELECT %(tenant_id)s, %(id)s, moved.id, 'charge', %(amount)s, %(currency)s,"
    " moved.balance, %(reference_id)s, %(description)s, %(at)s, %(price)s::jsonb"
    f" FROM moved RETURNING {_COLUMNS}, price"
)
HOLD_CHARGE = (
    f"INSERT INTO wallet_transactions ({_COLUMNS}, price)"
    " SELECT %(tenant_id)s, %(id)s, moved.id, %(kind)s, %(amount)s, %(currency)s,"
    " moved.balance, %(reference_id)s, %(description)s, %(at)s, %(price)s::jsonb"
    " FROM moved RETURNING wallet_id, balance_after"
)
TOPUP = (
    f"INSERT INTO wallet_transactions ({_COLUMNS})"
    " SELECT %(tenant_id)s, %(id)s, credited.id, %(kind)s, %(amount)s, %(currency)s,"
    " credited.balance, %(reference_id)s, %(description)s, %(at)s"
    " FROM credited RETURNING wallet_id, balance_after"
)


def _normalized(sql: str) -> str:
    return " ".join(sql.split()).replace("( ", "(").replace(" )", ")")


@pytest.mark.parametrize(
    ("statement", "append"),
    [
        (wallets.POST_TO_LEDGER.text, POSTING),
        (wallets.CHARGE_ONCE, CHARGE),
        (holds.SETTLE_WITH_CHARGE, HOLD_CHARGE),
        (holds.CHARGE_RELEASED, HOLD_CHARGE),
        (topup_requests.PAY_TOPUP, TOPUP),
    ],
    ids=["post", "charge_once", "settle_with_charge", "charge_released", "pay_topup"],
)
def test_each_posting_statement_appends_the_same_ledger_row_as_before(statement: str, append: str) -> None:
    sql = _normalized(statement)
    assert sql.count("INSERT INTO wallet_transactions") == 1
    assert _normalized(append) in sql
