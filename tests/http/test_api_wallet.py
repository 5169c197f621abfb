"""The caller's own wallet and ledger."""

from __future__ import annotations

import re

from api_support import CLINIC, CLINIC_USER, OPERATOR, Api, assert_problem, bearer

ISO_WITH_OFFSET = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


async def test_a_new_clinic_sees_an_empty_wallet_in_the_deployment_currency(api: Api) -> None:
    response = await api.get("/wallet/me", CLINIC_USER)

    assert response.status_code == 200
    wallet = response.json()
    assert wallet["tenant_id"] == CLINIC
    assert wallet["currency"] == "USD"
    assert wallet["balance"] == "0.00"
    assert ISO_WITH_OFFSET.fullmatch(wallet["updated_at"])


async def test_a_paid_topup_shows_in_the_balance_and_the_ledger(api: Api) -> None:
    await api.fund("150.00")
    await api.fund("25.50")

    wallet = (await api.get("/wallet/me", CLINIC_USER)).json()
    ledger = (await api.get("/wallet/me/transactions", CLINIC_USER)).json()

    assert wallet["balance"] == "175.50"
    assert ledger["page"] == 1
    assert ledger["page_size"] == 20
    assert ledger["total"] == 2
    newest, oldest = ledger["items"]
    assert (newest["kind"], newest["amount"], newest["balance_after"]) == ("topup", "25.50", "175.50")
    assert (oldest["kind"], oldest["amount"], oldest["balance_after"]) == ("topup", "150.00", "150.00")
    assert ISO_WITH_OFFSET.fullmatch(newest["created_at"])


async def test_the_ledger_pages_newest_first(api: Api) -> None:
    for amount in ("1.00", "2.00", "3.00"):
        await api.fund(amount)

    second = (await api.get("/wallet/me/transactions", CLINIC_USER, params={"page": 2, "page_size": 2})).json()

    assert second["total"] == 3
    assert second["page"] == 2
    assert second["page_size"] == 2
    assert [row["amount"] for row in second["items"]] == ["1.00"]


async def test_the_wallet_needs_the_view_permission(api: Api) -> None:
    response = await api.get("/wallet/me", bearer(CLINIC, "Billing.Manage"))

    assert_problem(response, 403, "forbidden")


async def test_an_operator_sees_its_own_root_wallet_at_me(api: Api) -> None:
    response = await api.get("/wallet/me", OPERATOR)

    assert response.status_code == 200
    assert response.json()["tenant_id"] == "root"
