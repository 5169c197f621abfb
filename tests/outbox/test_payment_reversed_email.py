"""The `payment_reversed` email (contract v3 §19) through the outbox, delivered to a real SMTP server (aiosmtpd): the
clinic's billing contact hears, once, which invoice's payment was reversed, of how much, why, what the wallet now owes
and how to clear it. On the in-memory store and on PostgreSQL: the email is queued in the reversal's own unit."""

from __future__ import annotations

import re
from email.message import Message

import attrs
import pytest

from billing.adapters.email.smtp import SmtpMailer
from billing.adapters.memory.clock import ManualClock
from billing.adapters.memory.store import InMemoryStore
from billing.adapters.memory.unit_of_work import InMemoryUnitOfWork
from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.dispatcher import OutboxDispatcher
from billing.application.handlers.invoices import ReversePayment, reverse_payment
from billing.application.pagination import PageRequest
from billing.application.runtime import RandomIds, Runtime
from billing.application.service import BillingService, BillingSession
from billing.application.settings import BillingSettings
from billing.config import SmtpSettings
from billing.container import EVENT_HANDLERS
from billing.domain.errors import InvalidStateError
from billing.domain.invoice import Invoice

from .conftest import MAIL_FROM, SmtpServer

CLINIC = "clinic-a"
CONTACT = "accounts@clinic-a.example"
REQUESTER = "owner@clinic-a.example"


@attrs.frozen
class Mail:
    billing: BillingService
    dispatcher: OutboxDispatcher
    clock: ManualClock

    @property
    def operator(self) -> BillingSession:
        return self.billing.acting_as(Caller("operator-1", "root", frozenset({VIEW, MANAGE})))

    @property
    def clinic(self) -> BillingSession:
        return self.billing.acting_as(Caller("user-clinic-a", CLINIC, frozenset({VIEW, MANAGE}), REQUESTER))


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def mail(request: pytest.FixtureRequest, smtp_server: SmtpServer) -> Mail:
    clock = ManualClock()
    if request.param == "postgres":
        engine = request.getfixturevalue("engine")
        uow_factory = lambda: SqlAlchemyUnitOfWork(engine)  # noqa: E731
    else:
        store = InMemoryStore()
        uow_factory = lambda: InMemoryUnitOfWork(store)  # noqa: E731
    billing = BillingService(uow_factory, Runtime(clock, RandomIds(), BillingSettings()), EVENT_HANDLERS)
    mailer = SmtpMailer(SmtpSettings.from_url(f"smtp://127.0.0.1:{smtp_server.port}"), MAIL_FROM, timeout=3)
    smtp_server.start()
    return Mail(billing, OutboxDispatcher(uow_factory, mailer, clock), clock)


async def paid(mail: Mail, amount: str, reference: str) -> Invoice:
    request = await mail.clinic.request_topup(amount)
    approved = await mail.operator.approve_topup(request.id)
    assert approved.invoice_id is not None
    return await mail.operator.mark_invoice_paid(approved.invoice_id, reference)


async def delivered_after(mail: Mail, smtp_server: SmtpServer) -> int:
    """Deliver what earlier steps queued (invoice issued, payment received): how many; only what comes next counts."""
    await mail.dispatcher.dispatch_due()
    return len(smtp_server.received)


def parts_of(message: Message) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in message.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            found[part.get_content_type()] = payload.decode()
    return found


async def reversal_emails(mail: Mail, smtp_server: SmtpServer, earlier: int) -> list[Message]:
    """The reversal emails delivered since the first `earlier` messages."""
    await mail.dispatcher.dispatch_due()
    return [m for m in smtp_server.received[earlier:] if "reversed" in m["Subject"].lower()]


async def test_the_contact_hears_the_invoice_amount_reason_debt_and_how_to_clear_it(
    mail: Mail, smtp_server: SmtpServer
) -> None:
    await mail.clinic.set_billing_contact(CONTACT, "Accounts")
    invoice = await paid(mail, "30.00", "bank-77")
    await mail.operator.charge(CLINIC, "25.00", "sms-1")  # 5.00 left: 25.00 will be owed
    earlier = await delivered_after(mail, smtp_server)

    await mail.operator.reverse_payment(invoice.id, "R01 <insufficient> funds & closed")
    [message] = await reversal_emails(mail, smtp_server, earlier)

    assert message["To"] == CONTACT
    assert invoice.number in message["Subject"]
    assert "30.00 USD" in message["Subject"]
    parts = parts_of(message)
    text = parts["text/plain"]
    assert invoice.number in text
    assert "30.00 USD" in text
    assert "R01 <insufficient> funds & closed" in text
    assert re.search(r"(?<![\d.])5\.00 USD", text)  # taken back from the wallet
    assert re.search(r"(?<![\d.])25\.00 USD", text)  # the debt
    assert "top-up" in text  # how to clear it
    assert "repaid first" in text
    assert invoice.number in parts["text/html"]
    assert "R01 &lt;insufficient&gt; funds &amp; closed" in parts["text/html"]
    assert (await mail.dispatcher.dispatch_due()).sent == 0  # once


async def test_without_debt_the_email_owes_nothing(mail: Mail, smtp_server: SmtpServer) -> None:
    await mail.clinic.set_billing_contact(CONTACT)
    invoice = await paid(mail, "30.00", "bank-78")
    earlier = await delivered_after(mail, smtp_server)

    await mail.operator.reverse_payment(invoice.id, "recalled by the payer")
    [message] = await reversal_emails(mail, smtp_server, earlier)

    text = parts_of(message)["text/plain"]
    assert (message["To"], invoice.number in text, "recalled by the payer" in text) == (CONTACT, True, True)
    assert "owes" not in text


async def test_without_a_contact_the_requester_hears_it(mail: Mail, smtp_server: SmtpServer) -> None:
    invoice = await paid(mail, "30.00", "bank-79")
    earlier = await delivered_after(mail, smtp_server)

    await mail.operator.reverse_payment(invoice.id, "bounced")

    assert [m["To"] for m in await reversal_emails(mail, smtp_server, earlier)] == [REQUESTER]


async def test_a_refused_or_rolled_back_reversal_sends_nothing(mail: Mail, smtp_server: SmtpServer) -> None:
    await mail.clinic.set_billing_contact(CONTACT)
    invoice = await paid(mail, "30.00", "bank-80")
    earlier = await delivered_after(mail, smtp_server)

    async def crash(uow: object, result: object) -> None:
        raise RuntimeError("crash before the commit")

    with pytest.raises(RuntimeError):
        await mail.billing.execute(
            reverse_payment, ReversePayment(invoice.id, "bounced"), mail.operator.caller, before_commit=crash
        )
    issued = await mail.clinic.request_topup("10.00")
    approved = await mail.operator.approve_topup(issued.id)
    assert approved.invoice_id is not None
    with pytest.raises(InvalidStateError):
        await mail.operator.reverse_payment(approved.invoice_id, "bounced")

    assert await reversal_emails(mail, smtp_server, earlier) == []
    async with mail.billing.uow_factory() as uow:
        queued = (await uow.outbox.list(None, PageRequest(1, 100))).items
    assert [e for e in queued if e.message.kind == "payment_reversed"] == []
