"""Readiness of the in-memory adapters."""

from __future__ import annotations


class AlwaysReady:
    """The in-memory adapters have nothing to wait for."""

    async def problem(self) -> str | None:
        return None
