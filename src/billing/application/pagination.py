"""Pages of results: page >= 1, page_size 1-100, newest first, with the total."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar

import attrs

from billing.domain.errors import FieldError, ValidationError

T = TypeVar("T")
MAX_PAGE_SIZE = 100
# The last page whose offset still fits PostgreSQL's 64-bit OFFSET; a later one is a 400, not a 500.
MAX_PAGE = (2**63 - 1) // MAX_PAGE_SIZE


@attrs.frozen
class PageRequest:
    page: int = 1
    page_size: int = 20

    def __attrs_post_init__(self) -> None:
        errors = []
        if isinstance(self.page, bool) or not isinstance(self.page, int) or not 1 <= self.page <= MAX_PAGE:
            errors.append(FieldError("page", f"must be an integer from 1 to {MAX_PAGE}"))
        size = self.page_size
        if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
            errors.append(FieldError("page_size", f"must be an integer from 1 to {MAX_PAGE_SIZE}"))
        if errors:
            raise ValidationError(errors)

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size


@attrs.frozen
class Page(Generic[T]):
    items: Sequence[T]
    page: int
    page_size: int
    total: int
