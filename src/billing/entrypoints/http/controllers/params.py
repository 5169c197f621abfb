"""What every controller shares: pagination, path ids, and rendering a result as a response."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, TypeVar
from uuid import UUID

import msgspec
from litestar.params import QueryParameter

from billing.application.caller import Caller
from billing.application.pagination import MAX_PAGE, MAX_PAGE_SIZE, PageRequest
from billing.application.service import BillingService
from billing.domain.errors import ValidationError
from billing.entrypoints.http.problems import Rendered
from billing.entrypoints.http.schemas import encode

R = TypeVar("R")
JSON = "application/json"


def provide_page(
    page: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE, description="Page number, from 1.")] = 1,
    page_size: Annotated[
        int, QueryParameter(ge=1, le=MAX_PAGE_SIZE, description=f"Items per page, 1-{MAX_PAGE_SIZE}.")
    ] = 20,
) -> PageRequest:
    return PageRequest(page, page_size)


# Read as text and parsed by `parse_day`, so that a bad day is a 400 naming `from` or `to` (not the argument's name).
FirstDay = Annotated[
    str | None,
    QueryParameter(
        name="from", format="date", description="The first UTC day, inclusive (default: this UTC month's first)."
    ),
]
LastDay = Annotated[
    str | None,
    QueryParameter(
        name="to", format="date", description="The last UTC day, inclusive (default: this UTC month's last)."
    ),
]
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_day(value: str | None, field: str) -> date | None:
    if value is None:
        return None
    try:
        if _DAY.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise ValidationError.of(field, "must be a date as YYYY-MM-DD")


def sees_costs(service: BillingService, caller: Caller) -> bool:
    """Whether an answer shows what messages cost the platform (contract v3 §15): to the root tenant only."""
    return caller.tenant_id == service.runtime.settings.root_tenant


def parse_id(value: str, field: str) -> UUID:
    """Path ids are checked here, so a malformed one is a 400 naming it (not a 404)."""
    try:
        return UUID(value)
    except ValueError:
        raise ValidationError.of(field, "must be a UUID") from None


def rendered(status: int, view: Callable[[R], msgspec.Struct]) -> Callable[[R], Rendered]:
    """How a use case's result becomes the response's bytes (kept as-is under an idempotency key)."""

    def render(result: R) -> Rendered:
        return Rendered(status, encode(view(result)), JSON)

    return render
