"""A clock a test (or a replay) sets by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs


@attrs.define
class ManualClock:
    current: datetime = attrs.field(factory=lambda: datetime(2026, 11, 26, 12, 0, tzinfo=UTC))

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        self.current += delta
        return self.current
