"""Fixtures of the console's tests.

Fast tests: the whole app through Litestar's test client over https (the cookies are Secure), on the
in-memory adapters. Browser tests: Playwright driving Debian's Chromium against `billing serve` on a
fresh database (tests/conftest.py's `database_url`), listening on 127.0.0.1 only, stopped in a finally.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from console_support import CHROMIUM_ARGS, SECRET, ConsoleServer, chromium_path, console_client
from litestar.testing import AsyncTestClient

from billing.application.service import BillingService
from billing.config import JwtSettings, Settings
from billing.container import Container, in_memory_container
from billing.entrypoints.http.app import create_app


@pytest.fixture
def settings() -> Settings:
    return Settings(jwt=JwtSettings(secret=SECRET))


@pytest.fixture
def container(settings: Settings) -> Container:
    return in_memory_container(settings)


@pytest.fixture
def service(container: Container) -> BillingService:
    """The in-process facade on the same store as `client`'s app: what the messaging module would do."""
    built: BillingService = container.service()
    return built


@pytest.fixture
async def client(container: Container) -> AsyncIterator[AsyncTestClient[Any]]:
    app = create_app(container, deliver_email=False, expire_holds=False)  # as tests/http/conftest.py says
    async with console_client(app) as test_client:
        yield test_client


@pytest.fixture
def server(database_url: str) -> Iterator[ConsoleServer]:
    served = ConsoleServer(database_url)
    try:
        served.wait_ready()
        yield served
    finally:
        served.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is missing: pip install -e '.[test]'", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def contexts(browser: Any) -> Iterator[list[Any]]:
    """The browser contexts a test opens (`browser_support.open_page`), closed after it."""
    opened: list[Any] = []
    try:
        yield opened
    finally:
        for context in opened:
            context.close()
