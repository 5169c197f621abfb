"""The operators' view of a tenant's wallet on the console (contract v2 §10), through Litestar's test client: find
it, read its money and status, freeze it with a reason and unfreeze it (CSRF-protected forms behind a confirmation),
with the API's own messages when the use case refuses."""

from __future__ import annotations

import re
from typing import Any

import pytest
from console_support import (
    API,
    CLINIC,
    CLINIC_USER,
    OPERATOR,
    ROOT,
    bearer,
    error_detail,
    field_error,
    sign_in,
    text_of,
)
from litestar.testing import AsyncTestClient
from wallet_support import fund, hold

from billing.application.service import BillingService
from billing.domain.errors import WalletFrozenError
from billing.domain.wallet import WalletStatus

Client = AsyncTestClient[Any]
ROOT_VIEWER = (ROOT, "Billing.View")
REASON = "Chargeback on invoice TOP-2026-0007"


async def status_of(service: BillingService, tenant: str = CLINIC) -> WalletStatus:
    return (await service.as_platform("test").wallet(tenant)).status


async def freeze(client: Client, csrf: str | None, reason: str = REASON, tenant: str = CLINIC) -> Any:
    data = {"reason": reason, **({"_csrf_token": csrf} if csrf is not None else {})}
    return await client.post(f"/console/wallets/{tenant}/freeze", data=data)


# Finding and reading a tenant's wallet ------------------------------------------------------------


async def test_an_operator_finds_a_wallet_by_its_tenant(client: Client) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    found = await client.get("/console/wallets", params={"tenant_id": f" {CLINIC} "})

    assert found.status_code == 303
    assert found.headers["location"] == f"/console/wallets/{CLINIC}"
    assert 'href="/console/wallets"' in (await client.get("/console/wallets")).text  # in the operators' menu


async def test_a_malformed_tenant_is_a_message_beside_the_field(client: Client) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    response = await client.get("/console/wallets", params={"tenant_id": "no spaces, please"})

    assert response.status_code == 400
    assert field_error(response.text, "find", "tenant_id")
    assert 'value="no spaces, please"' in response.text


async def test_the_tenants_wallet_page_shows_its_money_status_and_the_freeze_form(
    client: Client, service: BillingService
) -> None:
    await fund(service, CLINIC, "3.00")
    await hold(service, CLINIC, "wamid.1")
    await sign_in(client, OPERATOR, user="operator-1")

    page = (await client.get(f"/console/wallets/{CLINIC}")).text

    assert text_of(page, "balance") == "3.00 USD"
    assert text_of(page, "held") == "0.30 USD"
    assert text_of(page, "available") == "2.70 USD"
    assert text_of(page, "wallet-status") == "active"
    assert f'href="/console/holds?tenant_id={CLINIC}"' in page
    assert f'action="/console/wallets/{CLINIC}/statement.csv"' in page
    form = re.search(rf'<form method="post" action="/console/wallets/{CLINIC}/freeze".*?</form>', page, re.S)
    assert form, "no freeze form"
    assert f"data-confirm=\"Freeze {CLINIC}'s wallet?" in form.group(0)
    assert 'name="_csrf_token"' in form.group(0)
    assert "/unfreeze" not in page


async def test_the_top_up_queue_links_each_tenant_to_its_wallet(client: Client, service: BillingService) -> None:
    await fund(service, CLINIC, "3.00")
    await sign_in(client, OPERATOR, user="operator-1")

    page = (await client.get("/console/topups", params={"status": "all"})).text

    assert f'<a href="/console/wallets/{CLINIC}">{CLINIC}</a>' in page


# Freeze and unfreeze -------------------------------------------------------------------------------


async def test_an_operator_freezes_and_unfreezes_a_wallet(client: Client, service: BillingService) -> None:
    await fund(service, CLINIC, "3.00")
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    frozen = await freeze(client, csrf)

    assert frozen.status_code == 303
    assert frozen.headers["location"] == f"/console/wallets/{CLINIC}?done=frozen"
    page = (await client.get(frozen.headers["location"])).text
    assert "The wallet is frozen" in page
    assert text_of(page, "wallet-status") == "frozen"
    assert text_of(page, "frozen-reason") == f"Frozen: {REASON}"
    assert re.search(rf'action="/console/wallets/{CLINIC}/unfreeze"[^>]*data-confirm="Unfreeze {CLINIC}', page)
    api = (await client.get(f"{API}/wallets/{CLINIC}", headers=bearer(OPERATOR))).json()
    assert (api["status"], api["frozen_reason"]) == ("frozen", REASON)
    with pytest.raises(WalletFrozenError):
        await hold(service, CLINIC, "wamid.refused")

    unfrozen = await client.post(f"/console/wallets/{CLINIC}/unfreeze", data={"_csrf_token": csrf})

    assert unfrozen.status_code == 303
    assert unfrozen.headers["location"] == f"/console/wallets/{CLINIC}?done=unfrozen"
    page = (await client.get(unfrozen.headers["location"])).text
    assert "The wallet is active again." in page
    assert text_of(page, "wallet-status") == "active"
    assert await status_of(service) is WalletStatus.ACTIVE
    await hold(service, CLINIC, "wamid.allowed")


@pytest.mark.parametrize("reason", ["", "   ", "x" * 513])
async def test_a_refused_reason_shows_the_apis_message_beside_the_field(
    client: Client, service: BillingService, reason: str
) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    api = await client.post(f"{API}/wallets/{CLINIC}/freeze", json={"reason": reason}, headers=bearer(OPERATOR))
    assert api.status_code == 400

    response = await freeze(client, csrf, reason)

    assert response.status_code == 400
    assert field_error(response.text, "freeze", "reason") == api.json()["errors"][0]["message"]
    assert await status_of(service) is WalletStatus.ACTIVE


async def test_a_freeze_without_the_csrf_token_is_refused(client: Client, service: BillingService) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    response = await freeze(client, None)

    assert response.status_code == 403
    assert "could not be verified" in error_detail(response.text)
    assert await status_of(service) is WalletStatus.ACTIVE


async def test_an_unfreeze_without_the_csrf_token_is_refused(client: Client, service: BillingService) -> None:
    await service.as_platform("operations").freeze(CLINIC, REASON)
    await sign_in(client, OPERATOR, user="operator-1")

    response = await client.post(f"/console/wallets/{CLINIC}/unfreeze")

    assert response.status_code == 403
    assert await status_of(service) is WalletStatus.FROZEN


# Who may --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/console/wallets", f"/console/wallets/{CLINIC}", "/console/wallets/clinic-b"])
async def test_a_clinic_cannot_open_the_operators_wallet_pages(client: Client, path: str) -> None:
    await sign_in(client, CLINIC_USER)

    response = await client.get(path)

    assert response.status_code == 403
    assert "operators of the platform" in error_detail(response.text)


@pytest.mark.parametrize("action", ["freeze", "unfreeze"])
async def test_a_clinic_cannot_freeze_or_unfreeze_even_with_a_valid_csrf_token(
    client: Client, service: BillingService, action: str
) -> None:
    if action == "unfreeze":
        await service.as_platform("operations").freeze(CLINIC, REASON)
    before = await status_of(service)
    csrf = await sign_in(client, (CLINIC, "Billing.View", "Billing.Manage"), user="clinic-manager")

    response = await client.post(f"/console/wallets/{CLINIC}/{action}", data={"reason": "mine", "_csrf_token": csrf})

    assert response.status_code == 403
    assert "operators of the platform" in error_detail(response.text)
    assert await status_of(service) is before


async def test_a_root_viewer_sees_the_wallet_without_the_buttons_and_cannot_freeze(
    client: Client, service: BillingService
) -> None:
    csrf = await sign_in(client, ROOT_VIEWER, user="viewer")

    page = (await client.get(f"/console/wallets/{CLINIC}")).text
    response = await freeze(client, csrf)

    assert text_of(page, "wallet-status") == "active"
    assert "/freeze" not in page
    assert response.status_code == 403
    assert 'role="alert"' in response.text  # the use case's refusal, as a message on the page
    assert await status_of(service) is WalletStatus.ACTIVE
