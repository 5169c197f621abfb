"""Fixtures the fault tests share."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from billing.adapters.embedded import EmbeddedPostgres


@pytest.fixture
def own_postgres() -> Iterator[EmbeddedPostgres]:
    """An embedded PostgreSQL the test may stop and start: its own temporary directory and port."""
    home = Path(tempfile.mkdtemp(prefix="billing-restart-pg-"))
    server = EmbeddedPostgres(home / "data")
    server.start()
    try:
        yield server
    finally:
        server.destroy()
        shutil.rmtree(home, ignore_errors=True)
