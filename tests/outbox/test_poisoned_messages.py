"""One message that can never be email (old data, queued before addresses were checked) stops nothing.

The poisoned messages are written straight into the outbox, bypassing validation, as old rows would be.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from uuid import uuid4

import attrs
import pytest

from billing.adapters.email.log_mailer import LoggingMailer
from billing.adapters.email.mime import to_mime
from billing.adapters.email.smtp import SmtpMailer
from billing.adapters.memory.clock import ManualClock
from billing.adapters.memory.mailer import RecordingMailer
from billing.adapters.memory.store import InMemoryStore
from billing.adapters.memory.unit_of_work import InMemoryUnitOfWork
from billing.application.dispatcher import FIRST_RETRY, OutboxDispatcher
from billing.application.outbox import EmailMessage, OutboxEntry, OutboxStatus
from billing.application.pagination import PageRequest
from billing.application.ports import Mailer, UndeliverableMessageError, UnitOfWorkFactory
from billing.config import SmtpSettings

from .conftest import MAIL_FROM, SmtpServer

BACKENDS = ["memory", pytest.param("postgres", marks=pytest.mark.postgres)]
GOOD = ("first@clinic-a.example", "second@clinic-b.example")
# Addresses the old, laxer rule let through, or that an old row may hold; PostgreSQL cannot store NUL,
# which the memory-only test below covers.
POISONS = {
    "CRLF and Bcc": "up@clinic-p.example\r\nBcc: x@evil.example",
    "U+2028": "up@clinic-p.example\u2028Bcc: x@evil.example",
    "a second recipient": "up,x@evil.example",
}


@attrs.frozen
class Outbox:
    uow_factory: UnitOfWorkFactory
    clock: ManualClock

    async def queue(self, recipient: str | None, minutes_ago: int) -> EmailMessage:
        message = EmailMessage(
            id=uuid4(),
            tenant_id="clinic-p",
            kind="invoice_issued",
            recipient=recipient,
            subject=f"Invoice for {recipient!r}",
            text="Amount due: 10.00 USD\n",
            html="<html><body><p>Amount due: 10.00 USD</p></body></html>",
            created_at=self.clock.now() - timedelta(minutes=minutes_ago),
        )
        async with self.uow_factory() as uow:
            await uow.outbox.add(message)
            await uow.commit()
        return message

    async def entry(self, message: EmailMessage) -> OutboxEntry:
        async with self.uow_factory() as uow:
            page = await uow.outbox.list(None, PageRequest(1, 100))
        [entry] = [e for e in page.items if e.message.id == message.id]
        return entry

    def dispatcher(self, mailer: Mailer) -> OutboxDispatcher:
        return OutboxDispatcher(self.uow_factory, mailer, self.clock)


@pytest.fixture(params=BACKENDS)
def outbox(request: pytest.FixtureRequest) -> Outbox:
    if request.param == "postgres":
        return Outbox(request.getfixturevalue("postgres_uow_factory"), ManualClock())
    store = InMemoryStore()
    return Outbox(lambda: InMemoryUnitOfWork(store), ManualClock())


def _smtp(server: SmtpServer) -> SmtpMailer:
    return SmtpMailer(SmtpSettings.from_url(f"smtp://127.0.0.1:{server.port}"), MAIL_FROM, timeout=3)


@attrs.define
class ExplodingMailer:
    """A mailer with a bug for one recipient: it raises what no mailer should (a fake, not a mock)."""

    victim: str
    sent: list[EmailMessage] = attrs.field(factory=list)
    delivers = True  # a class attribute (no annotation): not an attrs field

    async def send(self, message: EmailMessage) -> None:
        if message.recipient == self.victim:
            raise RuntimeError("surprise")
        self.sent.append(message)


@pytest.mark.parametrize("poison", POISONS.values(), ids=POISONS.keys())
async def test_a_poisoned_message_is_undeliverable_and_the_good_ones_behind_it_are_delivered(
    outbox: Outbox, smtp_server: SmtpServer, poison: str
) -> None:
    smtp_server.start()
    poisoned = await outbox.queue(poison, minutes_ago=3)  # at the head of the queue
    good = [await outbox.queue(address, minutes_ago=2 - index) for index, address in enumerate(GOOD)]
    dispatcher = outbox.dispatcher(_smtp(smtp_server))

    report = await dispatcher.dispatch_due()

    assert (report.sent, report.undeliverable, report.retrying, report.failed) == (2, 1, 0, 0)
    assert sorted(m["To"] for m in smtp_server.received) == sorted(GOOD)
    assert sorted(m["X-RcptTo"] for m in smtp_server.received) == sorted(GOOD)  # nobody else, no Bcc
    entry = await outbox.entry(poisoned)
    assert entry.status is OutboxStatus.UNDELIVERABLE
    assert entry.attempts == 1
    assert entry.last_error is not None
    assert entry.last_error.startswith("cannot be written as email: ")
    assert [(await outbox.entry(m)).status for m in good] == [OutboxStatus.SENT, OutboxStatus.SENT]

    outbox.clock.advance(timedelta(days=1))
    assert (await dispatcher.dispatch_due()).handled == 0  # never tried again
    assert len(smtp_server.received) == 2


async def test_the_reason_names_the_refused_recipient() -> None:
    store = InMemoryStore()
    outbox = Outbox(lambda: InMemoryUnitOfWork(store), ManualClock())
    poisoned = await outbox.queue("up,x@evil.example", minutes_ago=1)

    await outbox.dispatcher(LoggingMailer(MAIL_FROM)).dispatch_due()

    entry = await outbox.entry(poisoned)
    assert entry.last_error == (
        "cannot be written as email: ValidationError: recipient: must be an email address such as "
        "billing@clinic.example"
    )


async def test_a_nul_in_the_recipient_is_undeliverable_and_stored_printable() -> None:
    store = InMemoryStore()
    outbox = Outbox(lambda: InMemoryUnitOfWork(store), ManualClock())
    poisoned = await outbox.queue("up\x00@clinic-p.example", minutes_ago=2)
    good = await outbox.queue(GOOD[0], minutes_ago=1)
    mailer = RecordingMailer(MAIL_FROM)

    report = await outbox.dispatcher(mailer).dispatch_due()

    assert (report.sent, report.undeliverable) == (1, 1)
    assert [m.id for m in mailer.sent] == [good.id]
    entry = await outbox.entry(poisoned)
    assert entry.status is OutboxStatus.UNDELIVERABLE
    assert entry.last_error is not None
    assert entry.last_error.isprintable()


async def test_an_unexpected_error_while_sending_is_a_failed_attempt_and_the_others_still_go(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    victim = await outbox.queue("victim@clinic-p.example", minutes_ago=3)
    good = [await outbox.queue(address, minutes_ago=2 - index) for index, address in enumerate(GOOD)]
    mailer = ExplodingMailer("victim@clinic-p.example")
    dispatcher = OutboxDispatcher(outbox.uow_factory, mailer, outbox.clock, max_attempts=2)

    with caplog.at_level(logging.ERROR, logger="billing.mail"):
        report = await dispatcher.dispatch_due()

    assert (report.sent, report.retrying) == (2, 1)
    assert [m.id for m in mailer.sent] == [m.id for m in good]
    entry = await outbox.entry(victim)
    assert (entry.status, entry.attempts) == (OutboxStatus.PENDING, 1)
    assert entry.last_error == "unexpected RuntimeError: surprise"
    assert entry.next_attempt_at == outbox.clock.now() + FIRST_RETRY
    assert any(str(victim.id) in r.getMessage() and r.exc_info for r in caplog.records)

    outbox.clock.advance(FIRST_RETRY)
    assert (await dispatcher.dispatch_due()).failed == 1  # the second attempt was the last
    assert (await outbox.entry(victim)).status is OutboxStatus.FAILED


@pytest.mark.parametrize("recipient", [*POISONS.values(), "up\x00@clinic-p.example", None])
async def test_both_mailers_refuse_a_message_that_cannot_be_email(
    smtp_server: SmtpServer, recipient: str, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.start()
    outbox = Outbox(lambda: InMemoryUnitOfWork(InMemoryStore()), ManualClock())
    message = attrs.evolve(await outbox.queue(GOOD[0], minutes_ago=0), recipient=recipient)
    logging_mailer = LoggingMailer(MAIL_FROM)

    with pytest.raises(UndeliverableMessageError):
        to_mime(message, MAIL_FROM)
    with caplog.at_level(logging.INFO, logger="billing.mail"), pytest.raises(UndeliverableMessageError):
        await logging_mailer.send(message)
    with pytest.raises(UndeliverableMessageError):
        await _smtp(smtp_server).send(message)

    assert [r for r in caplog.records if r.name == "billing.mail"] == []  # nothing logged as sent
    assert smtp_server.received == []
