"""Engines for the psycopg 3 driver, async for the service and sync for migrations."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# postgresql:// is the contract's form; postgres:// is libpq's alias (and what some hosts hand out).
POSTGRESQL_BACKENDS = ("postgresql", "postgres")


def psycopg_url(url: str) -> str:
    """The one rewriting rule for database URLs: a PostgreSQL URL, with or without a driver, names the
    psycopg 3 driver explicitly."""
    parsed = make_url(url)
    if parsed.get_backend_name() not in POSTGRESQL_BACKENDS:
        raise ValueError(f"not a PostgreSQL URL: {parsed.render_as_string(hide_password=True)}")
    return parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def create_engine(url: str, **options: Any) -> AsyncEngine:
    if "poolclass" not in options:
        options.setdefault("pool_size", 20)
        options.setdefault("max_overflow", 20)
    return create_async_engine(psycopg_url(url), **options)


def create_migration_engine(url: str) -> Engine:
    return create_sync_engine(psycopg_url(url))
