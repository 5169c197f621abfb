"""The console's protections: the security headers on every kind of answer (HSTS when published over https), the
CSRF token bound to the signed-in session, an expired sign-in told apart by the token port, and the operators'
Wallet page, which never asks the platform to top itself up."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
from console_support import (
    API,
    CLINIC,
    CLINIC_USER,
    OPERATOR,
    ROOT,
    bearer,
    console_client,
    csrf_field,
    error_detail,
    sign_in,
)
from litestar.testing import AsyncTestClient

import billing.entrypoints
from billing.adapters.auth.jwt import issue_token
from billing.application import queries
from billing.application.caller import VIEW, Caller
from billing.application.pagination import PageRequest
from billing.application.service import BillingService
from billing.config import Settings
from billing.container import in_memory_container
from billing.entrypoints.console.headers import CONTENT_SECURITY_POLICY, STRICT_TRANSPORT_SECURITY
from billing.entrypoints.console.session import CSRF_COOKIE, SESSION_COOKIE
from billing.entrypoints.http.app import create_app

Client = AsyncTestClient[Any]

SECURITY_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
ROOT_VIEWER = (ROOT, VIEW)
CSRF = object()  # stands for the session's own token in a form below


@attrs.frozen
class Ask:
    """One kind of console answer: who asks (None: nobody signed in), what, and the status it gets."""

    method: str
    path: str
    status: int
    who: tuple[str, ...] | None = CLINIC_USER
    form: dict[str, object] | None = None


ANSWERS = {
    "page": Ask("GET", "/console/wallet", 200),
    "sign-in page": Ask("GET", "/console/sign-in", 200, who=None),
    "redirect to sign in": Ask("GET", "/console/wallet", 303, who=None),
    "redirect after a form": Ask(
        "POST", "/console/wallet/topup-requests", 303, form={"amount": "50", "_csrf_token": CSRF}
    ),
    "refused form": Ask("POST", "/console/wallet/topup-requests", 400, form={"amount": "x", "_csrf_token": CSRF}),
    "forbidden page": Ask("GET", "/console/wallets", 403),
    "missing invoice": Ask("GET", "/console/invoices/not-a-uuid", 404),
    "CSRF refusal": Ask("POST", "/console/wallet/topup-requests", 403, form={"amount": "50"}),
    "CSRF refusal before sign in": Ask("POST", "/console/sign-in", 403, who=None, form={"token": "x"}),
    "static file": Ask("GET", "/console/static/console.css", 200),
    "missing static file": Ask("GET", "/console/static/missing.css", 404),
    "HEAD of a page": Ask("HEAD", "/console/wallet", 200),
}
# Litestar answers these before any route (and so any of the console's layers) is reached: the app's exception
# handler stamps them (entrypoints/http/app.py).
UNROUTED = {
    "method not allowed": Ask("DELETE", "/console/wallet", 405),
    "unknown page": Ask("GET", "/console/no-such-page", 404),
}


async def answer(client: Client, ask: Ask) -> httpx.Response:
    csrf = await sign_in(client, ask.who) if ask.who is not None else ""
    form = None if ask.form is None else {key: csrf if value is CSRF else value for key, value in ask.form.items()}
    return await client.request(ask.method, ask.path, data=form)


def missing_headers(response: httpx.Response) -> dict[str, str | None]:
    return {
        name: response.headers.get(name)
        for name, value in SECURITY_HEADERS.items()
        if response.headers.get(name) != value
    }


@pytest.fixture
def published(settings: Settings) -> Any:
    """An app whose settings say where it is published (`BILLING_PUBLIC_URL`)."""

    @asynccontextmanager
    async def client(public_url: str | None) -> AsyncIterator[Client]:
        container = in_memory_container(attrs.evolve(settings, public_url=public_url))
        async with console_client(create_app(container, deliver_email=False, expire_holds=False)) as test_client:
            yield test_client

    return client


# Every answer carries the headers --------------------------------------------------------------------------------


@pytest.mark.parametrize("ask", ANSWERS.values(), ids=ANSWERS.keys())
async def test_every_kind_of_console_answer_carries_the_security_headers(client: Client, ask: Ask) -> None:
    response = await answer(client, ask)

    assert response.status_code == ask.status, response.text
    assert missing_headers(response) == {}
    assert "strict-transport-security" not in response.headers  # not published over https


@pytest.mark.parametrize("ask", UNROUTED.values(), ids=UNROUTED.keys())
async def test_an_unrouted_console_answer_carries_the_security_headers(client: Client, ask: Ask) -> None:
    response = await answer(client, ask)

    assert response.status_code == ask.status
    assert missing_headers(response) == {}


async def test_the_error_page_of_a_csrf_refusal_is_still_the_consoles_html(client: Client) -> None:
    response = await answer(client, ANSWERS["CSRF refusal"])

    assert response.headers["content-type"].startswith("text/html")
    assert "could not be verified" in error_detail(response.text)


@pytest.mark.parametrize(
    ("public_url", "hsts"),
    [
        (None, None),
        ("http://localhost:8000", None),
        ("https://billing.example.com", STRICT_TRANSPORT_SECURITY),
    ],
)
@pytest.mark.parametrize("kind", ["page", "redirect to sign in", "CSRF refusal", "static file"])
async def test_strict_transport_security_only_when_published_over_https(
    published: Any, public_url: str | None, hsts: str | None, kind: str
) -> None:
    async with published(public_url) as client:
        response = await answer(client, ANSWERS[kind])

    assert response.headers.get("strict-transport-security") == hsts
    assert missing_headers(response) == {}


async def test_the_json_api_leaves_strict_transport_security_to_the_proxy(published: Any) -> None:
    async with published("https://billing.example.com") as client:
        response = await client.get(f"{API}/wallet/me", headers=bearer(CLINIC_USER))

    assert response.status_code == 200
    assert "strict-transport-security" not in response.headers


# The CSRF token is the session's own -----------------------------------------------------------------------------


def plant(client: Client, name: str, value: str) -> None:
    client.cookies.set(name, value, domain="testserver.local", path="/console")


async def requests_of(service: BillingService, tenant: str) -> list[str]:
    clinic = Caller("api-user", tenant, frozenset({VIEW}))
    page = await service.execute(
        queries.list_topup_requests, queries.ListTopupRequests(tenant, None, PageRequest(1, 50)), clinic
    )
    return [str(r.amount) for r in page.items]


async def test_a_csrf_pair_from_another_session_is_refused_while_the_sessions_own_is_taken(
    client: Client, service: BillingService
) -> None:
    theirs = await sign_in(client, CLINIC_USER, user="mallory")
    their_cookie = client.cookies.get(CSRF_COOKIE)
    assert their_cookie is not None
    client.cookies.clear()
    ours = await sign_in(client, CLINIC_USER, user="dr-ana")
    plant(client, CSRF_COOKIE, their_cookie)  # the whole pair: their cookie and the token their pages carried

    refused = await client.post("/console/wallet/topup-requests", data={"amount": "50.00", "_csrf_token": theirs})
    taken = await client.post("/console/wallet/topup-requests", data={"amount": "60.00", "_csrf_token": ours})

    assert theirs != ours
    assert refused.status_code == 403
    assert "could not be verified" in error_detail(refused.text)
    assert taken.status_code == 303
    assert await requests_of(service, CLINIC) == ["60.00"]


async def test_a_pair_minted_before_sign_in_and_planted_in_a_session_is_refused(
    client: Client, service: BillingService
) -> None:
    """Whoever can set cookies for the console can mint a valid signed-out pair of their own and plant it."""
    minted = csrf_field((await client.get("/console/sign-in")).text)
    minted_cookie = client.cookies.get(CSRF_COOKIE)
    assert minted_cookie is not None
    client.cookies.clear()
    await sign_in(client, CLINIC_USER)
    plant(client, CSRF_COOKIE, minted_cookie)

    response = await client.post("/console/wallet/topup-requests", data={"amount": "50.00", "_csrf_token": minted})

    assert response.status_code == 403
    assert await requests_of(service, CLINIC) == []


async def test_signing_in_changes_the_token_the_forms_carry(client: Client) -> None:
    before = csrf_field((await client.get("/console/sign-in")).text)

    after = await sign_in(client, CLINIC_USER)

    assert after != before
    assert csrf_field((await client.get("/console/holds")).text) == after  # one token for the session's pages


async def test_the_sessions_token_is_taken_from_the_header_too(client: Client) -> None:
    csrf = await sign_in(client, CLINIC_USER)

    response = await client.post(
        "/console/wallet/topup-requests", data={"amount": "50.00"}, headers={"X-CSRFToken": csrf}
    )

    assert response.status_code == 303


# Expired or invalid: the token port tells ----------------------------------------------------------------------


def old_token(secret: str) -> str:
    now = datetime.now(UTC) - timedelta(hours=2)
    return issue_token(secret, tenant=CLINIC, user="user-1", permissions=[VIEW], now=now, ttl=timedelta(hours=1))


async def test_an_expired_token_that_is_not_ours_is_invalid_not_expired(client: Client) -> None:
    await sign_in(client, CLINIC_USER)
    plant(client, SESSION_COOKIE, old_token("another-secret-of-at-least-thirty-two-bytes"))

    response = await client.get("/console/wallet")

    assert response.headers["location"] == "/console/sign-in?reason=invalid"


def test_the_entry_points_read_tokens_through_the_port_not_jwt() -> None:
    imported: set[str] = set()
    for module in Path(billing.entrypoints.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module)

    assert {name for name in imported if name.split(".")[0] == "jwt"} == set()


# The operators' Wallet page ------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", [OPERATOR, ROOT_VIEWER], ids=["operator", "operator viewer"])
async def test_an_operators_wallet_page_sends_it_to_the_clients_wallets(client: Client, who: tuple[str, ...]) -> None:
    await sign_in(client, who, user="operator-1")

    response = await client.get("/console/wallet")
    wallets = (await client.get(response.headers["location"])).text

    assert (response.status_code, response.headers["location"]) == (303, "/console/wallets")
    assert "Request a top-up" not in wallets
    assert 'href="/console/wallet"' not in wallets  # no Wallet in the navigation: Wallets and Top-ups instead
    assert 'href="/console/wallets"' in wallets
    assert 'href="/console/topups"' in wallets


async def test_a_clinic_keeps_its_wallet_page_and_its_link(client: Client) -> None:
    await sign_in(client, CLINIC_USER)

    page = (await client.get("/console/wallet")).text

    assert "Request a top-up" in page
    assert 'href="/console/wallet"' in page
