"""A small progress bar on stderr (no dependency)."""

from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.done = label, total, 0
        self._shown = 0.0

    def advance(self, count: int = 1) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._shown > 0.1 or self.done >= self.total:
            self._shown = now
            filled = int(30 * self.done / max(self.total, 1))
            sys.stderr.write(f"\r{self.label:<44} [{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}")
            if self.done >= self.total:
                sys.stderr.write("\n")
            sys.stderr.flush()
