"""Delivering the outbox: claim one due message at a time, send it, record the outcome.

Two dispatchers never send the same message: a claim is a row lock that the other skips. A crash
between sending and recording resends the message with the same Message-ID, so the receiver can
recognise it. One message never stops the others: whatever sending it raises is recorded against it
(undeliverable, or a failed attempt with backoff) and the dispatcher moves on.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import attrs

from billing.application.outbox import OutboxEntry
from billing.application.ports import (
    Clock,
    MailDeliveryError,
    Mailer,
    OutboxRepository,
    UndeliverableMessageError,
    UnitOfWorkFactory,
)

MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)
MAX_ERROR_LENGTH = 1000

log = logging.getLogger("billing.mail")


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at an hour."""
    wait: timedelta = FIRST_RETRY * (2 ** (attempts - 1))
    return min(wait, LONGEST_WAIT)


def _printable(error: str) -> str:
    """The error as one printable line (it may quote the bad address), short enough to store and log."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in error)[:MAX_ERROR_LENGTH]


@attrs.define
class DispatchReport:
    sent: int = 0
    logged: int = 0  # taken by a mailer that only logs (no BILLING_SMTP_URL): done with, but never sent
    retrying: int = 0
    failed: int = 0
    undeliverable: int = 0

    @property
    def handled(self) -> int:
        return self.sent + self.logged + self.retrying + self.failed + self.undeliverable


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
            message = entry.message
            try:
                await self.mailer.send(message)
            except UndeliverableMessageError as error:
                reason = _printable(str(error))
                log.warning("outbox: message %s of %s is undeliverable: %s", message.id, message.tenant_id, reason)
                await uow.outbox.mark_undeliverable(message, reason)
                report.undeliverable += 1
            except MailDeliveryError as error:
                await self._attempt_failed(uow.outbox, entry, _printable(str(error)), now, report)
            except Exception as error:
                # A surprise in the mailer (a bug, an error it does not translate): count it as a failed
                # attempt, so this message backs off and gives up in time while the others still go out.
                log.exception("outbox: sending message %s of %s failed unexpectedly", message.id, message.tenant_id)
                reason = _printable(f"unexpected {type(error).__name__}: {error}")
                await self._attempt_failed(uow.outbox, entry, reason, now, report)
            else:
                await uow.outbox.mark_sent(message, self.clock.now())
                if self.mailer.delivers:
                    report.sent += 1
                else:
                    report.logged += 1
            await uow.commit()
            return True

    async def _attempt_failed(
        self, outbox: OutboxRepository, entry: OutboxEntry, error: str, now: datetime, report: DispatchReport
    ) -> None:
        attempts = entry.attempts + 1
        give_up = attempts >= self.max_attempts
        await outbox.mark_attempt_failed(entry.message, error, None if give_up else now + backoff(attempts))
        if give_up:
            report.failed += 1
        else:
            report.retrying += 1

    async def dispatch_due(self, limit: int = 1000) -> DispatchReport:
        """Deliver what is due now (at most `limit` messages), one transaction per message."""
        report = DispatchReport()
        while report.handled < limit and await self.dispatch_one(report):
            pass
        return report
