"""HTTP tests: the whole app through Litestar's AsyncTestClient, on every backend in BACKENDS.

The container fixture is the one place a backend is chosen; every test gets a fresh app on a fresh
store (memory) or a fresh migrated database (postgres, from tests/conftest.py's `database_url`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from api_support import BACKENDS, SECRET, Api, TickingClock
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from billing.config import JwtSettings, Settings
from billing.container import Container, in_memory_container, postgres_container
from billing.entrypoints.http.app import create_app


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock()


@pytest.fixture
def settings() -> Settings:
    return Settings(jwt=JwtSettings(secret=SECRET))


@pytest.fixture(params=BACKENDS)
def container(request: pytest.FixtureRequest, settings: Settings, clock: TickingClock) -> Container:
    if request.param == "postgres":
        url: str = request.getfixturevalue("database_url")
        built = postgres_container(attrs.evolve(settings, database_url=url))
        built.clock.override(providers.Object(clock))
        return built
    return in_memory_container(settings, clock=clock)


@pytest.fixture
async def client(container: Container) -> AsyncIterator[AsyncTestClient[Any]]:
    # No background sweeper: tests also drive the container's service from their own event loop, and the
    # test client runs the app (and its lifespan) on another; test_hold_expiry.py tests the sweeper.
    app = create_app(container, deliver_email=False, expire_holds=False)
    async with AsyncTestClient(app) as test_client:
        yield test_client


@pytest.fixture
def api(client: AsyncTestClient[Any], clock: TickingClock) -> Api:
    return Api(client, clock)
