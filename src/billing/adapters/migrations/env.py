"""Alembic environment: runs on the connection `billing.adapters.sqlalchemy.migrations` hands in."""

from __future__ import annotations

from alembic import context

from billing.adapters.sqlalchemy.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, transaction_per_migration=True)
with context.begin_transaction():
    context.run_migrations()
