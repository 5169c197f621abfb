"""What the browser tests share: a page on `billing serve`, signing in with a token, screenshots, and the server's
JSON API for setting a scene up. `contexts` (conftest.py) closes the pages' browser contexts after each test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from console_support import ConsoleServer, screenshot_path, token
from playwright.sync_api import BrowserContext, Page


def open_page(browser: Any, server: ConsoleServer, contexts: list[BrowserContext]) -> Page:
    """A page in a context of its own (its own cookie jar: a clinic and two operators side by side)."""
    context: BrowserContext = browser.new_context(
        base_url=server.address, viewport={"width": 1280, "height": 800}, accept_downloads=True
    )
    contexts.append(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def sign_in(page: Page, who: tuple[str, ...], user: str) -> None:
    page.goto("/console/sign-in")
    page.fill("#token", token(*who, user=user))
    page.click("button:has-text('Sign in')")


def shoot(page: Page, name: str) -> Path:
    path = screenshot_path(name)
    page.screenshot(path=path, full_page=True)
    return path


def call(server: ConsoleServer, method: str, path: str, who: tuple[str, ...], **options: Any) -> Any:
    """The server's JSON API, as `who`; the answer's JSON (a failure fails the test)."""
    response = server.api(method, path, who, **options)
    assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()
