"""A real SMTP server (aiosmtpd) on a free port, and a billing service on PostgreSQL that queues email."""

from __future__ import annotations

from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message

import attrs
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message as MessageHandler
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.email.smtp import SmtpMailer
from billing.adapters.embedded import free_port
from billing.adapters.memory.clock import ManualClock
from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.dispatcher import OutboxDispatcher
from billing.application.runtime import RandomIds, Runtime
from billing.application.service import BillingService
from billing.application.settings import BillingSettings
from billing.config import SmtpSettings
from billing.container import EVENT_HANDLERS

MAIL_FROM = "Clinic Billing <billing@platform.example>"


class Inbox(MessageHandler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[Message] = []

    def handle_message(self, message: Message) -> None:
        self.messages.append(message)


@attrs.define
class SmtpServer:
    """An aiosmtpd server that a test can stop and start again on the same port."""

    port: int
    inbox: Inbox = attrs.field(factory=Inbox)
    controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def received(self) -> list[Message]:
        return [message_from_bytes(m.as_bytes()) for m in self.inbox.messages]


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    yield server
    server.stop()


@attrs.frozen
class World:
    billing: BillingService
    dispatcher: OutboxDispatcher
    clock: ManualClock

    def clinic(self, tenant: str = "clinic-a", email: str | None = "owner@clinic-a.example") -> Caller:
        return Caller(f"user-{tenant}", tenant, {VIEW, MANAGE}, email=email)

    @property
    def operator(self) -> Caller:
        return Caller("operator-1", "root", {VIEW, MANAGE})


@pytest.fixture
def world(engine: AsyncEngine, smtp_server: SmtpServer) -> World:
    clock = ManualClock()
    uow_factory = lambda: SqlAlchemyUnitOfWork(engine)  # noqa: E731
    billing = BillingService(uow_factory, Runtime(clock, RandomIds(), BillingSettings()), EVENT_HANDLERS)
    mailer = SmtpMailer(SmtpSettings.from_url(f"smtp://127.0.0.1:{smtp_server.port}"), MAIL_FROM, timeout=3)
    return World(billing, OutboxDispatcher(uow_factory, mailer, clock), clock)
