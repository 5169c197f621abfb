"""Delivering the outbox: claim one due message at a time, send it, record the outcome.

Two dispatchers never send the same message: a claim is a row lock that the other skips. A crash
between sending and recording resends the message with the same Message-ID, so the receiver can
recognise it.
"""

from __future__ import annotations

from datetime import timedelta

import attrs

from billing.application.ports import Clock, MailDeliveryError, Mailer, UnitOfWorkFactory

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at an hour."""
    wait: timedelta = FIRST_RETRY * (2 ** (attempts - 1))
    return min(wait, LONGEST_WAIT)


@attrs.define
class DispatchReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.retrying + self.failed


@attrs.frozen
class OutboxDispatcher:
    uow_factory: UnitOfWorkFactory
    mailer: Mailer
    clock: Clock
    max_attempts: int = MAX_ATTEMPTS

    async def dispatch_one(self, report: DispatchReport) -> bool:
        """Handle the next due message; False when none is due."""
        async with self.uow_factory() as uow:
            now = self.clock.now()
            entry = await uow.outbox.claim_next_due(now)
            if entry is None:
                return False
            try:
                await self.mailer.send(entry.message)
            except MailDeliveryError as error:
                attempts = entry.attempts + 1
                give_up = attempts >= self.max_attempts
                next_at = None if give_up else now + backoff(attempts)
                await uow.outbox.mark_attempt_failed(entry.message, str(error)[:1000], next_at)
                if give_up:
                    report.failed += 1
                else:
                    report.retrying += 1
            else:
                await uow.outbox.mark_sent(entry.message, self.clock.now())
                report.sent += 1
            await uow.commit()
            return True

    async def dispatch_due(self, limit: int = 1000) -> DispatchReport:
        """Deliver what is due now (at most `limit` messages), one transaction per message."""
        report = DispatchReport()
        while report.handled < limit and await self.dispatch_one(report):
            pass
        return report
