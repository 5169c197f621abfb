"""What `billing serve` does beside answering requests: delivering the email outbox every few seconds, and
expiring holds past their `expires_at` (contract v2 §9: at least every 30 s).

Every worker runs both; two never send the same message nor expire the same hold (the dispatcher's claim and the
hold sweep skip locked rows). A failing round is logged and retried on the next tick; it never touches a request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import attrs

from billing.application.dispatcher import OutboxDispatcher
from billing.application.handlers.holds import SWEEP_BATCH
from billing.application.ports import Sweep
from billing.application.service import BillingService

DELIVERY_INTERVAL_SECONDS = 5.0
SWEEP_INTERVAL_SECONDS = 15.0  # half the contract's 30 s: a slow sweep still keeps its promise
STOP_GRACE_SECONDS = 10.0
log = logging.getLogger("billing.mail")
holds_log = logging.getLogger("billing.holds")


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
                    log.info(
                        "outbox: %d sent, %d logged (not sent: no BILLING_SMTP_URL), %d to retry, %d failed",
                        report.sent,
                        report.logged,
                        report.retrying,
                        report.failed,
                    )
            except Exception:
                log.warning("outbox delivery failed; retrying in %.0f s", self.interval_seconds, exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_seconds)


@attrs.define
class HoldExpiry:
    """Sweeping expired holds while the API runs: every `interval_seconds`, batches of `batch` until fewer were due.

    Each batch is one unit of work as the platform (`expire_holds`); a batch that fails (the database went away)
    is logged and the sweep tried again at the next tick. Stopping lets the batch under way commit, or cancels it
    (it rolls back) when it takes longer than `stop_grace_seconds`."""

    service: BillingService
    interval_seconds: float = SWEEP_INTERVAL_SECONDS
    batch: int = SWEEP_BATCH
    stop_grace_seconds: float = STOP_GRACE_SECONDS
    _stopping: asyncio.Event = attrs.field(factory=asyncio.Event, init=False)
    _task: asyncio.Task[None] | None = attrs.field(default=None, init=False)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="billing-hold-expiry")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is None:
            return
        done, _ = await asyncio.wait({self._task}, timeout=self.stop_grace_seconds)
        if not done:
            self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def sweep(self) -> Sweep:
        """Expire every hold due now, batch by batch (each its own transaction): how many were expired, and
        whether another sweeper held the sweep (then this one stops: that one sweeps what is due)."""
        platform = self.service.as_platform("holds")
        total = 0
        while True:
            batch = await platform.expire_holds(self.batch)
            total += batch.expired
            if batch.another_sweeper or batch.expired < self.batch or self._stopping.is_set():
                return Sweep(total, batch.another_sweeper)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                swept = await self.sweep()
                if swept.expired:
                    holds_log.info("holds: %d expired", swept.expired)
            except Exception:
                holds_log.warning("expiring holds failed; retrying in %.0f s", self.interval_seconds, exc_info=True)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_seconds)
