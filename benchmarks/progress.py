"""Progress bars on stderr (tqdm), drawn only when stderr is a terminal: a redirected log gets none, and neither
does a run without the bench extra (the test suite runs every scenario at the tiny size with the test extra only)."""

from __future__ import annotations

import sys
from typing import Any

tqdm: Any
try:
    from tqdm import tqdm
except ImportError:
    tqdm = None


class Progress:
    def __init__(self, label: str, total: int) -> None:
        self._bar = None
        if tqdm is not None:
            self._bar = tqdm(
                total=total,
                desc=label,
                file=sys.stderr,
                disable=not sys.stderr.isatty(),
                leave=True,
                dynamic_ncols=True,
                mininterval=0.1,
            )

    def advance(self, count: int = 1) -> None:
        if self._bar is None:
            return
        self._bar.update(count)
        if self._bar.n >= (self._bar.total or 0):
            self._bar.close()
