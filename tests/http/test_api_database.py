"""The API when the database is away or behind: 503 problems, never a 500."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from api_support import BASE, CLINIC_USER, SECRET, TickingClock, assert_problem
from dependency_injector import providers
from litestar.testing import AsyncTestClient
from psycopg import sql
from sqlalchemy.engine import make_url

from billing.config import ConfigError, JwtSettings, Settings
from billing.container import Container, in_memory_container, postgres_container
from billing.entrypoints.http.app import create_app

UNREACHABLE = "postgresql://nobody@127.0.0.1:1/nowhere"


async def _client(container: Container) -> AsyncIterator[AsyncTestClient[Any]]:
    async with AsyncTestClient(create_app(container, deliver_email=False)) as client:
        yield client


@pytest.fixture
async def unreachable() -> AsyncIterator[AsyncTestClient[Any]]:
    settings = Settings(database_url=UNREACHABLE, jwt=JwtSettings(secret=SECRET))
    async for client in _client(postgres_container(settings)):
        yield client


async def test_an_unreachable_database_is_a_503_problem(unreachable: AsyncTestClient[Any]) -> None:
    response = await unreachable.get(BASE + "/wallet/me", headers=CLINIC_USER)

    assert_problem(response, 503, "unavailable")


async def test_an_unreachable_database_is_not_ready(unreachable: AsyncTestClient[Any]) -> None:
    response = await unreachable.get("/ready")
    assert_problem(response, 503, "unavailable")
    assert response.headers["retry-after"] == "5"
    assert (await unreachable.get("/health")).status_code == 200


@pytest.fixture
def empty_database_url(postgres_server_url: str) -> Iterator[str]:
    name = f"billing_empty_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.postgres
async def test_a_database_without_the_latest_migration_is_not_ready(empty_database_url: str) -> None:
    settings = Settings(database_url=empty_database_url, jwt=JwtSettings(secret=SECRET))
    async for client in _client(postgres_container(settings)):
        problem = assert_problem(await client.get("/ready"), 503, "unavailable")
        assert "billing db upgrade" in problem["detail"]


def test_the_app_needs_a_jwt_secret() -> None:
    with pytest.raises(ConfigError, match="BILLING_JWT_SECRET"):
        create_app(in_memory_container(Settings()))


async def test_expired_idempotency_keys_are_purged_when_a_key_is_stored() -> None:
    clock = TickingClock()
    container = in_memory_container(Settings(jwt=JwtSettings(secret=SECRET)), clock=clock)
    container.idempotency_purger.override(providers.Object(container.idempotency_purger.cls(every_seconds=0)))
    async for client in _client(container):
        headers = {**CLINIC_USER, "Idempotency-Key": "old"}
        await client.post(BASE + "/wallet/topup-requests", json={"amount": "10"}, headers=headers)
        clock.advance(timedelta(hours=25))
        headers = {**CLINIC_USER, "Idempotency-Key": "new"}
        await client.post(BASE + "/wallet/topup-requests", json={"amount": "10"}, headers=headers)

    assert {key for _, key in container.memory_store().state.idempotency} == {"new"}
