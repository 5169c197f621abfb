"""What the console's tests share: tokens, the CSRF field, `billing serve` as a subprocess, and Chromium."""

from __future__ import annotations

import html
import os
import re
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from tests.serving import ServeProcess, billing_free_env

from billing.adapters.auth.jwt import issue_token
from billing.adapters.embedded import free_port
from billing.application.caller import MANAGE, VIEW

SECRET = "console-test-secret-of-at-least-thirty-two-bytes"
ROOT = "root"
CLINIC = "clinic-a"
API = "/api/v1/billing"

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "test-output" / "screenshots"
DOCS_SCREENSHOTS = REPO / "docs" / "screenshots"
# Set to 1 to refresh the README's two screenshots from a run (they are committed, so not on every run).
UPDATE_DOCS = "BILLING_UPDATE_DOCS_SCREENSHOTS"

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
HOW_TO_INSTALL_CHROMIUM = (
    "The console's browser tests drive Debian's Chromium, and it is not installed. Install it (as root) with:\n"
    "    apt-get update && apt-get install -y chromium\n"
    "or point BILLING_TEST_CHROMIUM at a Chromium binary. (Playwright's own browser download is not used.)"
)


def token(
    tenant: str,
    *permissions: str,
    user: str = "user-1",
    ttl: timedelta = timedelta(minutes=30),
    now: datetime | None = None,
) -> str:
    return issue_token(
        SECRET,
        tenant=tenant,
        user=user,
        permissions=permissions,
        now=now or datetime.now(UTC),
        ttl=ttl,
        email=f"{user}@{tenant}.example",
    )


def expired_token(tenant: str, *permissions: str, user: str = "user-1") -> str:
    return token(tenant, *permissions, user=user, now=datetime.now(UTC) - timedelta(hours=2), ttl=timedelta(hours=1))


OPERATOR = (ROOT, VIEW, MANAGE)
CLINIC_USER = (CLINIC, VIEW)


def csrf_field(html: str) -> str:
    """The hidden `_csrf_token` a console form carries."""
    match = re.search(r'name="_csrf_token" value="([^"]*)"', html)
    assert match, "no CSRF field on the page"
    return match.group(1)


def field_error(html: str, target: str, field: str) -> str | None:
    """The message shown beside a field (`target` is the form or row the field belongs to)."""
    match = re.search(rf'id="{re.escape(target)}-{re.escape(field)}-error"[^>]*>([^<]*)<', html)
    return match.group(1) if match else None


def error_detail(html: str) -> str:
    match = re.search(r'data-testid="error-detail">([^<]*)<', html)
    assert match, "not the console's error page"
    return match.group(1)


@asynccontextmanager
async def console_client(app: Litestar) -> AsyncIterator[AsyncTestClient[Any]]:
    """Over https (the console's cookies are Secure), redirects not followed (tests look at them)."""
    async with AsyncTestClient(app, base_url="https://testserver.local") as client:
        client.follow_redirects = False
        yield client


# `billing serve` ----------------------------------------------------------------------------------


class ConsoleServer(ServeProcess):
    """`billing serve` on 127.0.0.1 and a free port, on an existing (migrated) database."""

    def __init__(self, database_url: str, **env: str) -> None:
        """`env`: more BILLING_* variables (`BILLING_FOUR_EYES="true"`)."""
        self.port = free_port()
        variables = {"BILLING_DATABASE_URL": database_url, "BILLING_JWT_SECRET": SECRET, **env}
        super().__init__(self.port, billing_free_env(**variables))

    def api(self, method: str, path: str, who: tuple[str, ...], **options: Any) -> httpx.Response:
        """The JSON API of the same server, with a Bearer token (and no CSRF token: it needs none)."""
        headers = {"Authorization": f"Bearer {token(who[0], *who[1:], user='api-user')}"}
        return httpx.request(method, f"{self.address}{API}{path}", headers=headers, timeout=10, **options)


# Chromium -----------------------------------------------------------------------------------------


def chromium_path() -> str:
    """Debian's Chromium, or fail (never skip) saying how to install it."""
    configured = os.environ.get("BILLING_TEST_CHROMIUM")
    found = configured or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found or not Path(found).exists():
        pytest.fail(HOW_TO_INSTALL_CHROMIUM, pytrace=False)
    return found


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


def publish_to_docs(shot: Path, name: str) -> None:
    """Copy a screenshot to docs/screenshots/ when asked to (BILLING_UPDATE_DOCS_SCREENSHOTS=1)."""
    if os.environ.get(UPDATE_DOCS) == "1":
        DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOTS / name)


# Reading pages ------------------------------------------------------------------------------------


async def sign_in(client: AsyncTestClient[Any], who: tuple[str, ...], user: str = "user-1") -> str:
    """Sign in through the form; returns the CSRF token the pages carry."""
    csrf = csrf_field((await client.get("/console/sign-in")).text)
    response = await client.post("/console/sign-in", data={"token": token(*who, user=user), "_csrf_token": csrf})
    assert response.status_code == 303, response.text
    return csrf_field((await client.get(response.headers["location"])).text)  # the session's own, once signed in


def bearer(who: tuple[str, ...]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*who, user='api-user')}"}


def text_of(page: str, testid: str) -> str:
    """The text of the element marked `data-testid=testid` (its tags dropped, blanks collapsed)."""
    match = re.search(rf'data-testid="{re.escape(testid)}"[^>]*>(.*?)</(?:p|dd|td|div|section)>', page, re.S)
    assert match, f"no {testid} on the page"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).split())
