"""The console's routes through Litestar's test client: sign-in cookie, CSRF, 403 page, messages, no 500s."""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from http.cookies import SimpleCookie
from typing import Any

import attrs
import pytest
from console_support import (
    API,
    CLINIC_USER,
    OPERATOR,
    REPO,
    chromium_path,
    console_client,
    csrf_field,
    error_detail,
    expired_token,
    field_error,
    token,
)
from litestar.testing import AsyncTestClient

from billing.config import ConfigError, Settings
from billing.container import in_memory_container
from billing.entrypoints.console.session import CSRF_COOKIE, SESSION_COOKIE
from billing.entrypoints.console.views import STATIC, TEMPLATES
from billing.entrypoints.http.app import create_app

Client = AsyncTestClient[Any]


async def sign_in(client: Client, who: tuple[str, ...], user: str = "user-1") -> str:
    """Sign in through the form; returns the CSRF token the pages carry."""
    csrf = csrf_field((await client.get("/console/sign-in")).text)
    response = await client.post("/console/sign-in", data={"token": token(*who, user=user), "_csrf_token": csrf})
    assert response.status_code == 303, response.text
    return csrf_field((await client.get(response.headers["location"])).text)  # the session's own, once signed in


def set_cookie(response: Any, name: str) -> SimpleCookie:
    for header in response.headers.get_list("set-cookie"):
        cookie = SimpleCookie(header)
        if name in cookie:
            return cookie
    raise AssertionError(f"no {name} cookie set")


async def request_topup(client: Client, csrf: str, amount: str = "150.00") -> None:
    response = await client.post("/console/wallet/topup-requests", data={"amount": amount, "_csrf_token": csrf})
    assert response.status_code == 303, response.text


# Signing in --------------------------------------------------------------------------------------


async def test_sign_in_keeps_the_token_in_a_secure_http_only_strict_cookie_for_the_console(client: Client) -> None:
    csrf = csrf_field((await client.get("/console/sign-in")).text)

    response = await client.post("/console/sign-in", data={"token": token(*CLINIC_USER), "_csrf_token": csrf})

    assert response.status_code == 303
    assert response.headers["location"] == "/console/wallet"
    morsel = set_cookie(response, SESSION_COOKIE)[SESSION_COOKIE]
    assert morsel["secure"] is True
    assert morsel["httponly"] is True
    assert morsel["samesite"].lower() == "strict"
    assert morsel["path"] == "/console"


async def test_the_csrf_cookie_is_just_as_strict(client: Client) -> None:
    response = await client.get("/console/sign-in")

    morsel = set_cookie(response, CSRF_COOKIE)[CSRF_COOKIE]
    assert (morsel["secure"], morsel["httponly"], morsel["samesite"].lower(), morsel["path"]) == (
        True,
        True,
        "strict",
        "/console",
    )


async def test_an_operator_lands_on_the_top_up_queue(client: Client) -> None:
    csrf = csrf_field((await client.get("/console/sign-in")).text)

    response = await client.post("/console/sign-in", data={"token": token(*OPERATOR), "_csrf_token": csrf})

    assert response.headers["location"] == "/console/topups"


@pytest.mark.parametrize(
    ("pasted", "message"),
    [
        ("not-a-jwt", "This token was not accepted: the token is malformed"),
        (expired_token(*CLINIC_USER), "This token was not accepted: the token has expired"),
        ("", "Paste your token"),
    ],
)
async def test_a_refused_token_is_explained_and_sets_no_cookie(client: Client, pasted: str, message: str) -> None:
    csrf = csrf_field((await client.get("/console/sign-in")).text)

    response = await client.post("/console/sign-in", data={"token": pasted, "_csrf_token": csrf})

    assert response.status_code in (400, 401)
    assert message in response.text
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")


async def test_a_page_without_sign_in_goes_to_the_sign_in_page(client: Client) -> None:
    response = await client.get("/console/wallet")

    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?reason=required"


async def test_an_expired_session_returns_to_sign_in_with_a_note_and_drops_the_cookie(client: Client) -> None:
    await sign_in(client, CLINIC_USER)
    client.cookies.set(SESSION_COOKIE, expired_token(*CLINIC_USER), domain="testserver.local", path="/console")

    response = await client.get("/console/wallet")

    assert response.status_code == 303
    assert response.headers["location"] == "/console/sign-in?reason=expired"
    assert set_cookie(response, SESSION_COOKIE)[SESSION_COOKIE]["max-age"] == "0"
    assert "Your sign-in has expired" in (await client.get(response.headers["location"])).text


async def test_sign_out_clears_the_cookie(client: Client) -> None:
    csrf = await sign_in(client, CLINIC_USER)

    response = await client.post("/console/sign-out", data={"_csrf_token": csrf})

    assert response.headers["location"] == "/console/sign-in?reason=signed-out"
    assert set_cookie(response, SESSION_COOKIE)[SESSION_COOKIE]["max-age"] == "0"
    assert (await client.get("/console/wallet")).headers["location"] == "/console/sign-in?reason=required"


# CSRF --------------------------------------------------------------------------------------------


async def test_a_form_post_without_the_csrf_token_is_refused_with_a_403_page(client: Client) -> None:
    await sign_in(client, CLINIC_USER)

    response = await client.post("/console/wallet/topup-requests", data={"amount": "50.00"})

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "could not be verified" in error_detail(response.text)
    wallet_page = (await client.get("/console/wallet")).text
    assert "No top-up requests yet." in wallet_page  # nothing was requested


async def test_a_forged_csrf_token_is_refused(client: Client) -> None:
    await sign_in(client, CLINIC_USER)

    response = await client.post("/console/wallet/topup-requests", data={"amount": "50.00", "_csrf_token": "f" * 128})

    assert response.status_code == 403


async def test_the_json_api_needs_no_csrf_token(client: Client) -> None:
    await client.get("/console/sign-in")  # a CSRF cookie in the jar changes nothing for the API

    response = await client.post(
        f"{API}/wallet/topup-requests",
        json={"amount": "20.00"},
        headers={"Authorization": f"Bearer {token(*CLINIC_USER)}"},
    )

    assert response.status_code == 201, response.text


async def test_the_api_ignores_the_console_cookie(client: Client) -> None:
    await sign_in(client, CLINIC_USER)

    response = await client.get(f"{API}/wallet/me")

    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_the_console_is_not_in_the_openapi_schema(client: Client) -> None:
    paths = (await client.get("/schema/openapi.json")).json()["paths"]

    assert not [path for path in paths if path.startswith("/console")]


# Pages, messages and errors ----------------------------------------------------------------------


async def test_a_clinic_opening_the_operator_page_gets_a_403_page(client: Client) -> None:
    await sign_in(client, CLINIC_USER)

    response = await client.get("/console/topups")

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "operators of the platform" in error_detail(response.text)


async def test_a_clinic_cannot_approve_even_with_a_valid_csrf_token(client: Client) -> None:
    csrf = await sign_in(client, CLINIC_USER)
    await request_topup(client, csrf)
    request_id = (
        await client.get(f"{API}/wallet/topup-requests/me", headers={"Authorization": f"Bearer {token(*CLINIC_USER)}"})
    ).json()["items"][0]["id"]

    response = await client.post(f"/console/topups/{request_id}/approve", data={"_csrf_token": csrf})

    assert response.status_code == 403
    assert "pending" in (await client.get("/console/wallet")).text


async def test_an_invalid_amount_shows_the_apis_message_beside_the_field(client: Client) -> None:
    csrf = await sign_in(client, CLINIC_USER)
    api = await client.post(
        f"{API}/wallet/topup-requests",
        json={"amount": "12.345"},
        headers={"Authorization": f"Bearer {token(*CLINIC_USER)}"},
    )

    response = await client.post("/console/wallet/topup-requests", data={"amount": "12.345", "_csrf_token": csrf})

    assert response.status_code == 400
    assert field_error(response.text, "topup", "amount") == api.json()["errors"][0]["message"]
    assert 'value="12.345"' in response.text  # what was typed stays in the field


async def test_a_root_viewer_sees_the_queue_without_action_buttons(client: Client) -> None:
    csrf = await sign_in(client, CLINIC_USER)
    await request_topup(client, csrf)
    await sign_in(client, ("root", "Billing.View"), user="viewer")

    page = (await client.get("/console/topups")).text

    assert "150.00 USD" in page
    assert "/approve" not in page


async def test_an_operator_action_on_a_decided_request_is_a_message_not_a_500(client: Client) -> None:
    csrf = await sign_in(client, CLINIC_USER)
    await request_topup(client, csrf)
    request_id = (await client.get(f"{API}/wallet/topup-requests", headers=_bearer(OPERATOR))).json()["items"][0]["id"]
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    assert (await client.post(f"/console/topups/{request_id}/approve", data={"_csrf_token": csrf})).status_code == 303

    again = await client.post(f"/console/topups/{request_id}/reject", data={"reason": "late", "_csrf_token": csrf})

    assert again.status_code == 409
    assert "Cannot reject a top-up request that is invoiced" in again.text


async def test_a_reject_without_a_reason_names_the_field(client: Client) -> None:
    csrf = await sign_in(client, CLINIC_USER)
    await request_topup(client, csrf)
    request_id = (await client.get(f"{API}/wallet/topup-requests", headers=_bearer(OPERATOR))).json()["items"][0]["id"]
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await client.post(f"/console/topups/{request_id}/reject", data={"reason": "  ", "_csrf_token": csrf})

    assert response.status_code == 400
    assert field_error(response.text, request_id, "reason") == "must not be blank"


async def test_unknown_ids_and_bad_filters_are_pages_not_500s(client: Client) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    missing = await client.get("/console/invoices/not-a-uuid")
    bad_filter = await client.get("/console/topups", params={"status": "lost", "tenant_id": "no spaces"})
    paid = await client.post(
        "/console/invoices/00000000-0000-0000-0000-000000000000/mark-paid",
        data={"payment_reference": "x", "_csrf_token": csrf},
    )

    assert missing.status_code == 404
    assert error_detail(missing.text) == "Invoice not found."
    assert bad_filter.status_code == 400
    assert field_error(bad_filter.text, "filters", "tenant_id") or field_error(bad_filter.text, "filters", "status")
    assert paid.status_code == 404


async def test_pages_forbid_framing_and_foreign_scripts(client: Client) -> None:
    response = await client.get("/console/sign-in")

    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(("threshold", "hinted"), [(Decimal("10.00"), True), (Decimal(0), False)])
async def test_the_low_balance_hint_follows_the_setting(settings: Settings, threshold: Decimal, hinted: bool) -> None:
    app = create_app(in_memory_container(attrs.evolve(settings, low_balance_threshold=threshold)), deliver_email=False)
    async with console_client(app) as client:
        await sign_in(client, CLINIC_USER)

        page = (await client.get("/console/wallet")).text

    assert ('data-testid="low-balance"' in page) is hinted
    assert "0.00 USD" in page


def test_the_low_balance_threshold_is_a_setting() -> None:
    assert Settings.from_env({}).low_balance_threshold == Decimal("10.00")
    assert Settings.from_env({"BILLING_LOW_BALANCE_THRESHOLD": "25.50"}).low_balance_threshold == Decimal("25.50")
    assert Settings.from_env({"BILLING_LOW_BALANCE_THRESHOLD": "0"}).low_balance_threshold == 0
    with pytest.raises(ConfigError, match="BILLING_LOW_BALANCE_THRESHOLD"):
        Settings.from_env({"BILLING_LOW_BALANCE_THRESHOLD": "1.234"})


def test_templates_and_static_files_ship_in_the_wheel() -> None:
    """Every template and static file matches a package-data pattern of pyproject.toml."""
    patterns = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["billing"]
    package = TEMPLATES.parents[3]  # src/billing
    shipped = [p for p in [*TEMPLATES.iterdir(), *STATIC.iterdir()] if p.is_file()]

    assert shipped
    for path in shipped:
        relative = path.relative_to(package)
        assert any(relative.match(pattern) for pattern in patterns), f"{relative} is not in package-data"


def test_the_readme_shows_the_committed_screenshots() -> None:
    shown = re.findall(r"\]\((docs/screenshots/[^)]+\.png)\)", (REPO / "README.md").read_text())

    assert sorted(shown) == ["docs/screenshots/console-topups.png", "docs/screenshots/console-wallet.png"]
    for path in shown:
        assert (REPO / path).read_bytes().startswith(b"\x89PNG"), path


def test_without_chromium_the_browser_tests_fail_saying_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_TEST_CHROMIUM", "/nonexistent/chromium")

    with pytest.raises(pytest.fail.Exception, match=r"apt-get install -y chromium"):
        chromium_path()


def _bearer(who: tuple[str, ...]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*who, user='api-user')}"}


# Hostile input in every form -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["a\x00b", "a\x1bb"])  # a browser cannot send a lone surrogate
@pytest.mark.parametrize("form", ["topup-note", "approve-note", "reject-reason", "mark-paid-reference"])
async def test_an_unsafe_character_in_any_form_field_is_a_message_beside_it(
    client: Client, form: str, bad: str
) -> None:
    csrf = await sign_in(client, CLINIC_USER)
    if form == "topup-note":
        response = await client.post(
            "/console/wallet/topup-requests", data={"amount": "10.00", "note": bad, "_csrf_token": csrf}
        )
        target, field = "topup", "note"
    else:
        await request_topup(client, csrf)
        request = (await client.get(f"{API}/wallet/topup-requests", headers=_bearer(OPERATOR))).json()["items"][0]
        csrf = await sign_in(client, OPERATOR, user="operator-1")
        if form == "mark-paid-reference":
            approve = await client.post(f"/console/topups/{request['id']}/approve", data={"_csrf_token": csrf})
            assert approve.status_code == 303
            invoice_id = (
                await client.get(f"{API}/wallet/topup-requests/{request['id']}", headers=_bearer(OPERATOR))
            ).json()["invoice_id"]
            response = await client.post(
                f"/console/invoices/{invoice_id}/mark-paid",
                data={"payment_reference": bad, "back": "invoice", "_csrf_token": csrf},
            )
            target, field = invoice_id, "payment_reference"
        else:
            action, field = ("approve", "note") if form == "approve-note" else ("reject", "reason")
            response = await client.post(
                f"/console/topups/{request['id']}/{action}", data={field: bad, "_csrf_token": csrf}
            )
            target = request["id"]

    assert response.status_code == 400, response.text
    assert (field_error(response.text, target, field) or "").startswith("must not contain control characters")


async def test_a_pasted_token_with_a_nul_is_refused_on_the_sign_in_page(client: Client) -> None:
    csrf = csrf_field((await client.get("/console/sign-in")).text)

    response = await client.post("/console/sign-in", data={"token": "abc\x00def", "_csrf_token": csrf})

    assert response.status_code in (400, 401)
    assert response.headers["content-type"].startswith("text/html")
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
