"""Where the benchmarks run: the embedded PostgreSQL by default, or --database-url; a fresh database each."""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from billing.adapters.embedded import EmbeddedPostgres
from billing.adapters.sqlalchemy.migrations import upgrade


@contextmanager
def server(database_url: str | None) -> Iterator[str]:
    """The server at `database_url`, or an embedded PostgreSQL in a temporary directory, removed afterwards."""
    if database_url:
        yield database_url
        return
    home = Path(tempfile.mkdtemp(prefix="billing-bench-"))
    embedded = EmbeddedPostgres(home / "data")
    try:
        yield embedded.start()
    finally:
        embedded.destroy()
        shutil.rmtree(home, ignore_errors=True)


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new migrated database, dropped afterwards."""
    name = f"billing_bench_{uuid.uuid4().hex[:10]}"
    admin_url = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(url)
        yield url
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
