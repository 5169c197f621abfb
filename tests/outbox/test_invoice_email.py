"""Invoice email through the outbox, delivered to a real SMTP server."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.application.caller import Caller
from billing.application.dispatcher import OutboxDispatcher
from billing.application.outbox import OutboxStatus
from billing.application.pagination import PageRequest
from billing.domain.errors import NotFoundError, ValidationError

from .conftest import SmtpServer, World


async def _approved_topup(world: World, clinic: Caller, amount: str = "150.00") -> str:
    request = await world.billing.acting_as(clinic).request_topup(amount)
    approved = await world.billing.acting_as(world.operator).approve_topup(request.id, note="Thanks!")
    assert approved.invoice_number is not None
    return approved.invoice_number


async def _outbox(world: World, status: OutboxStatus | None = None) -> list[object]:
    async with world.billing.uow_factory() as uow:
        return list((await uow.outbox.list(status, PageRequest(1, 100))).items)


async def test_approval_sends_exactly_one_email_with_number_and_amount(world: World, smtp_server: SmtpServer) -> None:
    smtp_server.start()
    number = await _approved_topup(world, world.clinic())

    report = await world.dispatcher.dispatch_due()

    assert report.sent == 1
    [mail] = smtp_server.received
    assert mail["To"] == "owner@clinic-a.example"
    assert number in mail["Subject"]
    assert "150.00 USD" in mail["Subject"]
    assert mail["Message-ID"].endswith("@platform.example>")
    parts = {
        part.get_content_type(): part.get_payload(decode=True).decode()
        for part in mail.walk()
        if not part.is_multipart()
    }
    assert "Thanks!" in parts["text/plain"]
    assert "2026-12-10" in parts["text/plain"]
    assert number in parts["text/html"]
    assert (await world.dispatcher.dispatch_due()).sent == 0


async def test_billing_contact_is_preferred_over_the_requester(world: World, smtp_server: SmtpServer) -> None:
    smtp_server.start()
    clinic = world.clinic()
    await world.billing.acting_as(clinic).set_billing_contact("accounts@clinic-a.example", "Accounts")

    await _approved_topup(world, clinic)
    await world.dispatcher.dispatch_due()

    assert [m["To"] for m in smtp_server.received] == ["accounts@clinic-a.example"]


async def test_mail_server_down_never_blocks_approval_and_delivers_once_later(
    world: World, smtp_server: SmtpServer
) -> None:
    number = await _approved_topup(world, world.clinic())  # no server listening yet

    first = await world.dispatcher.dispatch_due()
    assert (first.sent, first.retrying) == (0, 1)
    [entry] = await _outbox(world, OutboxStatus.PENDING)
    assert entry.attempts == 1
    assert entry.last_error

    smtp_server.start()
    assert (await world.dispatcher.dispatch_due()).sent == 0  # not due before its backoff
    world.clock.advance(timedelta(minutes=1))
    assert (await world.dispatcher.dispatch_due()).sent == 1
    assert (await world.dispatcher.dispatch_due()).sent == 0
    assert [number in m["Subject"] for m in smtp_server.received] == [True]


async def test_gives_up_after_the_last_attempt_and_keeps_the_error(world: World) -> None:
    await _approved_topup(world, world.clinic())
    dispatcher = OutboxDispatcher(world.dispatcher.uow_factory, world.dispatcher.mailer, world.clock, max_attempts=3)
    for _ in range(3):
        await dispatcher.dispatch_due()
        world.clock.advance(timedelta(hours=2))

    [failed] = await _outbox(world, OutboxStatus.FAILED)
    assert failed.attempts == 3
    assert "Error" in failed.last_error


async def test_rolled_back_approval_never_sends_email(world: World, smtp_server: SmtpServer) -> None:
    smtp_server.start()
    request = await world.billing.acting_as(world.clinic()).request_topup("80.00")

    async def fail_after_the_outbox_write(uow: object, result: object) -> None:
        raise RuntimeError("crash after the outbox write")

    from billing.application.handlers.topups import ApproveTopup, approve_topup

    with pytest.raises(RuntimeError):
        await world.billing.execute(
            approve_topup, ApproveTopup(request.id), world.operator, before_commit=fail_after_the_outbox_write
        )

    assert await _outbox(world) == []
    assert (await world.dispatcher.dispatch_due()).sent == 0
    assert smtp_server.received == []
    reloaded = await world.billing.acting_as(world.operator).topup_request(request.id)
    assert reloaded.status == "pending"


async def test_two_dispatchers_deliver_each_message_once(world: World, smtp_server: SmtpServer, engine: object) -> None:
    smtp_server.start()
    for index in range(12):
        await _approved_topup(world, world.clinic(f"clinic-{index}"), "10.00")
    other = OutboxDispatcher(lambda: SqlAlchemyUnitOfWork(engine), world.dispatcher.mailer, world.clock)  # type: ignore[arg-type]

    reports = await asyncio.gather(world.dispatcher.dispatch_due(), other.dispatch_due())

    assert sum(r.sent for r in reports) == 12
    assert len(smtp_server.received) == 12
    assert len({m["Message-ID"] for m in smtp_server.received}) == 12


async def test_payment_sends_a_receipt(world: World, smtp_server: SmtpServer) -> None:
    smtp_server.start()
    request = await world.billing.acting_as(world.clinic()).request_topup("25.00")
    approved = await world.billing.acting_as(world.operator).approve_topup(request.id)
    assert approved.invoice_id is not None
    await world.billing.acting_as(world.operator).mark_invoice_paid(approved.invoice_id, "bank-77")

    await world.dispatcher.dispatch_due()

    subjects = sorted(m["Subject"] for m in smtp_server.received)
    assert len(subjects) == 2
    assert subjects[1].startswith("Payment received")


async def test_without_contact_or_requester_email_the_message_is_undeliverable(world: World) -> None:
    await _approved_topup(world, world.clinic(email=None))

    [entry] = await _outbox(world, OutboxStatus.UNDELIVERABLE)
    assert entry.message.recipient is None  # type: ignore[attr-defined]
    assert (await world.dispatcher.dispatch_due()).handled == 0


async def test_contact_email_is_validated_and_scoped_to_the_tenant(world: World) -> None:
    clinic = world.billing.acting_as(world.clinic("clinic-a"))
    with pytest.raises(ValidationError) as invalid:
        await clinic.set_billing_contact("not-an-email")
    assert invalid.value.errors[0].field == "email"
    with pytest.raises(NotFoundError):
        await clinic.set_billing_contact("x@clinic-b.example", tenant_id="clinic-b")

    await world.billing.acting_as(world.operator).set_billing_contact("ops@clinic-b.example", tenant_id="clinic-b")
    contact = await world.billing.acting_as(world.clinic("clinic-b")).billing_contact()
    assert contact.email == "ops@clinic-b.example"
