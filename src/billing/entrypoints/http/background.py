"""Delivering the email outbox while the API runs: every few seconds, whatever is due.

Every worker runs one; two never send the same message (the dispatcher's claim skips locked rows).
A failing round is logged and retried on the next tick; it never touches a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import attrs

from billing.application.dispatcher import OutboxDispatcher

DELIVERY_INTERVAL_SECONDS = 5.0
log = logging.getLogger("billing.mail")


@attrs.define
class OutboxDelivery:
    dispatcher: OutboxDispatcher
    interval_seconds: float = DELIVERY_INTERVAL_SECONDS
    _stopping: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)
    _task: asyncio.Task[None] | None = attrs.field(default=None, init=False)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="billing-outbox-delivery")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                report = await self.dispatcher.dispatch_due()
                if report.handled:
                    log.info("outbox: %d sent, %d to retry, %d failed", report.sent, report.retrying, report.failed)
            except Exception:
                log.warning("outbox delivery failed; retrying in %.0f s", self.interval_seconds, exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_seconds)
