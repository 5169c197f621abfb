"""The repository roster is written once (application/ports.py's Repositories): each adapter family maps every
name of it, and nothing else, to its classes."""

from __future__ import annotations

import pytest

from billing.adapters.memory import unit_of_work as memory
from billing.adapters.sqlalchemy import unit_of_work as postgres
from billing.application.ports import Repositories


@pytest.mark.parametrize("family", [memory.REPOSITORIES, postgres.REPOSITORIES], ids=["memory", "postgres"])
def test_each_adapter_family_builds_the_whole_roster(family: dict[str, type]) -> None:
    assert list(family) == list(Repositories.__annotations__)
