"""The adapters' other locks: outbox claims skip what another dispatcher holds, and an idempotency
key is held by one running unit at a time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.sqlalchemy.tables import outbox_messages
from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.application.dispatcher import OutboxDispatcher
from billing.application.outbox import EmailMessage, OutboxStatus
from billing.application.runtime import SystemClock

pytestmark = [pytest.mark.postgres, pytest.mark.many_connections]


class RecordingMailer:
    delivers = True

    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        await asyncio.sleep(0.01)  # hold the claim a while, as a real SMTP exchange does
        self.sent.append(message)


async def test_racing_dispatchers_send_every_message_exactly_once(
    engine: AsyncEngine, issued_topup: Any, start_together: Any
) -> None:
    for number in range(12):
        await issued_topup(f"clinic-{number % 3}", "10.00")  # each approval queues an invoice email
    mailer = RecordingMailer()
    factory = start_together(6)
    dispatchers = [OutboxDispatcher(factory, mailer, SystemClock()) for _ in range(6)]

    async with asyncio.timeout(60):
        reports = await asyncio.gather(*(dispatcher.dispatch_due() for dispatcher in dispatchers))

    assert len({message.id for message in mailer.sent}) == len(mailer.sent) == 12
    # All six held a claim at once, each on another message: none waited for, or resent, another's.
    assert [report.sent >= 1 for report in reports] == [True] * 6
    assert sum(report.sent for report in reports) == 12
    async with engine.connect() as connection:
        rows = (await connection.execute(select(outbox_messages.c.status, outbox_messages.c.attempts))).all()
    assert sorted(rows) == [(OutboxStatus.SENT.value, 1)] * 12


async def test_an_idempotency_key_is_held_by_one_running_unit(engine: AsyncEngine) -> None:
    async with SqlAlchemyUnitOfWork(engine) as first, SqlAlchemyUnitOfWork(engine) as second:
        assert await first.idempotency_keys.claim("clinic-a", "key-1")
        assert not await second.idempotency_keys.claim("clinic-a", "key-1")
        assert await second.idempotency_keys.claim("clinic-b", "key-1")  # keys are scoped by tenant
        await first.rollback()  # the claim ends with the transaction, whatever its outcome
        assert await second.idempotency_keys.claim("clinic-a", "key-1")
