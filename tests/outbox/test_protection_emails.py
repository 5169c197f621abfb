"""The protections' email (contract v2 §10) through the outbox, delivered to a real SMTP server: a low-balance alert
and an automatic top-up request each reach the billing contact once, saying what the clinic needs to act on."""

from __future__ import annotations

from datetime import timedelta
from email.message import Message

import attrs
import pytest

from billing.adapters.phone import PhonenumbersCountry
from billing.application.service import BillingService, BillingSession

from .conftest import SmtpServer, World

pytestmark = pytest.mark.postgres

CLINIC = "clinic-a"
CONTACT = "accounts@clinic-a.example"
USA = "+14155552671"


@pytest.fixture
def billing(world: World) -> BillingService:
    """The world's service, pricing real phone numbers as the container wires it (holds need a country)."""
    runtime = attrs.evolve(world.billing.runtime, countries=PhonenumbersCountry())
    return attrs.evolve(world.billing, runtime=runtime)


@pytest.fixture
async def messaging(billing: BillingService, world: World) -> BillingSession:
    """A card pricing every utility message at 1.00, and the clinic's billing contact (not its requester)."""
    platform = billing.as_platform("messaging")
    rates = [{"market": "Rest", "category": "utility", "unit_price": "1.00"}]
    await platform.create_rate_card("Default", world.clock.now() - timedelta(days=1), {"*": "Rest"}, rates)
    await platform.set_billing_contact(CONTACT, tenant_id=CLINIC)
    return platform


def text_of(mail: Message) -> str:
    [payload] = [part.get_payload(decode=True) for part in mail.walk() if part.get_content_type() == "text/plain"]
    assert isinstance(payload, bytes)
    return payload.decode()


async def hold(messaging: BillingSession, world: World, message_id: str) -> None:
    world.clock.advance(timedelta(seconds=1))
    await messaging.hold(CLINIC, message_id, "utility", USA)


async def test_a_hold_crossing_a_level_emails_the_contact_once_with_balance_level_runway_and_how_to_top_up(
    world: World, smtp_server: SmtpServer, messaging: BillingSession
) -> None:
    smtp_server.start()
    await messaging.adjust(CLINIC, "30.00", "funding")
    await messaging.charge(CLINIC, "14.00", "sms-1")  # 14.00 spent in 14 days: 1.00 a day; 16.00 available
    await messaging.set_settings("0", CLINIC, low_balance_levels=["14.50"])
    await hold(messaging, world, "m1")  # 16.00 -> 15.00: above the level

    await hold(messaging, world, "m2")  # 15.00 -> 14.00: crossed
    report = await world.dispatcher.dispatch_due()

    assert report.sent == 1
    [mail] = smtp_server.received
    assert mail["To"] == CONTACT
    assert mail["Subject"] == "Low balance: 14.00 USD available, below your alert level of 14.50"
    text = text_of(mail)
    assert "has 14.00 USD available, below your alert level of 14.50 USD" in text
    assert "Runway: about 14.0 days at 1.00 USD a day." in text
    assert "To top up, request an amount in the billing console" in text
    assert "POST /api/v1/billing/topup-requests" in text

    await hold(messaging, world, "m3")  # 14.00 -> 13.00: further below, no new crossing
    assert (await world.dispatcher.dispatch_due()).sent == 0
    assert len(smtp_server.received) == 1


async def test_a_move_below_the_threshold_emails_the_automatic_request_once_with_its_amount(
    world: World, smtp_server: SmtpServer, messaging: BillingSession
) -> None:
    smtp_server.start()
    await messaging.adjust(CLINIC, "20.50", "funding")
    auto = {"enabled": True, "threshold": "20.00", "target": "100.00", "monthly_cap": "500.00"}
    await messaging.set_settings("0", CLINIC, auto_topup=auto)

    await hold(messaging, world, "m1")  # 20.50 -> 19.50: asks 100.00 - 19.50
    report = await world.dispatcher.dispatch_due()

    assert report.sent == 1
    [mail] = smtp_server.received
    assert (mail["To"], mail["Subject"]) == (CONTACT, "Automatic top-up requested: 80.50 USD")
    assert "a top-up of 80.50 USD was requested for clinic-a" in text_of(mail)

    await hold(messaging, world, "m2")  # 18.50: the request is still pending, nothing more
    assert (await world.dispatcher.dispatch_due()).sent == 0
    assert len(smtp_server.received) == 1


async def test_one_move_crossing_a_level_and_the_threshold_sends_one_email_of_each(
    world: World, smtp_server: SmtpServer, messaging: BillingSession
) -> None:
    smtp_server.start()
    await messaging.adjust(CLINIC, "20.50", "funding")
    auto = {"enabled": True, "threshold": "20.00", "target": "100.00", "monthly_cap": "500.00"}
    await messaging.set_settings("0", CLINIC, low_balance_levels=["20.00"], auto_topup=auto)

    await hold(messaging, world, "m1")  # 20.50 -> 19.50
    assert (await world.dispatcher.dispatch_due()).sent == 2

    assert sorted((m["To"], m["Subject"]) for m in smtp_server.received) == [
        (CONTACT, "Automatic top-up requested: 80.50 USD"),
        (CONTACT, "Low balance: 19.50 USD available, below your alert level of 20.00"),
    ]
    assert (await world.dispatcher.dispatch_due()).sent == 0
