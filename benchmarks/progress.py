"""Progress bars on stderr (tqdm), drawn only when stderr is a terminal: a redirected log gets none."""

from __future__ import annotations

import sys

from tqdm import tqdm


class Progress:
    def __init__(self, label: str, total: int) -> None:
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
        self._bar.update(count)
        if self._bar.n >= (self._bar.total or 0):
            self._bar.close()
