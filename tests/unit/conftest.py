"""Shared builders for the pure-domain tests."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import attrs
import pytest

from billing.domain.money import Money
from billing.domain.topup import TopupRequest

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture
def usd() -> Callable[[str], Money]:
    return lambda text: Money(Decimal(text), "USD")


@pytest.fixture
def new_request() -> Callable[..., TopupRequest]:
    def build(amount: str = "150.00", tenant_id: str = "clinic-a") -> TopupRequest:
        return TopupRequest.submit(
            uuid4(), tenant_id, Money(Decimal(amount), "USD"), None, "user-1", "u1@clinic.test", AT
        )

    return build


@pytest.fixture
def snapshot() -> Callable[[Any], dict[str, Any]]:
    """Every attribute of an aggregate, its pending events included, as they are now."""
    return lambda obj: attrs.asdict(copy.deepcopy(obj), recurse=False)
