"""What every controller shares: pagination, path ids, and rendering a result as a response."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar
from uuid import UUID

import msgspec
from litestar.params import QueryParameter

from billing.application.pagination import MAX_PAGE, MAX_PAGE_SIZE, PageRequest
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
