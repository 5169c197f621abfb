"""Running the shipped Alembic migrations, and checking that a database is at their head."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from billing.adapters.sqlalchemy.engine import create_migration_engine
from billing.adapters.sqlalchemy.errors import reachable

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _run(command_: Callable[[Config, str], None], url: str, revision: str) -> None:
    """An Alembic command on one connection and one transaction (env.py takes the connection)."""
    engine = create_migration_engine(url)
    try:
        with reachable(url), engine.begin() as connection:
            config = _config()
            config.attributes["connection"] = connection
            command_(config, revision)
    finally:
        engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    _run(command.upgrade, url, revision)


def downgrade(url: str, revision: str) -> None:
    _run(command.downgrade, url, revision)


def current_revision(url: str) -> str | None:
    engine = create_migration_engine(url)
    try:
        with reachable(url), engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def is_at_head(url: str) -> bool:
    return current_revision(url) == head_revision()


@attrs.frozen
class DatabaseSchema:
    """The shipped migrations against one database: what `billing db upgrade` and `billing serve` use."""

    url: str = attrs.field(repr=False)

    def upgrade(self) -> str:
        """Bring the database to the latest migration; its revision."""
        upgrade(self.url)
        return head_revision()

    def is_current(self) -> bool:
        return is_at_head(self.url)
