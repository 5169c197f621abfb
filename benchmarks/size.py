"""How much a run measures: `full` (the figures docs/performance.md reports), `quick` (a smoke run) or `tiny` (the
test suite's: every scenario end to end in seconds; its figures only show that the scenario still works)."""

from __future__ import annotations

import enum
from typing import TypeVar

T = TypeVar("T")


class Size(enum.StrEnum):
    FULL = "full"
    QUICK = "quick"
    TINY = "tiny"

    def pick(self, full: T, quick: T, tiny: T) -> T:
        """This size's figure: `size.pick(4000, 600, 40)` operations."""
        return {Size.FULL: full, Size.QUICK: quick, Size.TINY: tiny}[self]
