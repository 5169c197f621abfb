"""Meta's statuses applied (contract v2 §11) through the in-process facade on every backend: settle on delivery, void
on failure, delivered wins over failed in either order, each (tenant, message id, status) at most once, and every
status recorded with its outcome. Each test fails if the rule it names is removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.application.caller import MANAGE, VIEW
from billing.domain.errors import DuplicateError, ForbiddenError, NotFoundError, ValidationError
from billing.domain.hold import HoldStatus
from billing.domain.ledger import EntryKind
from billing.domain.whatsapp import parse_status_notifications

CLINIC = "clinic-a"
OTHER = "clinic-b"
NUMBER = "106540352242922"
OTHER_NUMBER = "206540352242922"
USA = "+14155552671"
STARTED = datetime(2026, 1, 1, tzinfo=UTC)
MARKETS = {"US": "North America", "*": "Other"}
RATES: list[dict[str, object]] = [
    {"market": "North America", "category": "marketing", "unit_price": "0.0250"},
    {"market": "North America", "category": "utility", "unit_price": "0.0500"},
]


@pytest.fixture
async def messaging(scenario):
    """A card in force, a funded wallet, the clinic's number mapped; the platform's messaging module."""
    scenario.tick()
    await scenario.operator.create_rate_card("Card", STARTED, MARKETS, RATES)
    await scenario.operator.adjust(CLINIC, "1.00", "funding for the test")
    await scenario.operator.map_whatsapp_number(NUMBER, CLINIC)
    return scenario.service.as_platform("messaging")


def status(message_id: str, kind: str, *, number: str = NUMBER, **pricing: object) -> dict[str, object]:
    item: dict[str, object] = {
        "id": message_id,
        "status": kind,
        "timestamp": str(int(STARTED.timestamp()) + 86400 * 30),
        "recipient_id": USA.lstrip("+"),
    }
    if kind in ("delivered", "read") or pricing:
        item["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "category": "utility",
            "type": "regular",
            **pricing,
        }
    return {"number": number, "status": item}


def body(*statuses: dict[str, object]) -> dict[str, object]:
    """Meta's envelope: one change per number, in the order given."""
    changes = [
        {
            "field": "messages",
            "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001234", "phone_number_id": s["number"]},
                "statuses": [s["status"]],
            },
        }
        for s in statuses
    ]
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": changes}]}


async def deliver(scenario, *statuses: dict[str, object]):
    scenario.tick()
    return await scenario.service.as_platform("webhook").apply_whatsapp_statuses(
        parse_status_notifications(body(*statuses))
    )


async def charges(scenario, message_id: str) -> list[Decimal]:
    page = await scenario.operator.transactions(CLINIC, page_size=100)
    return [e.amount.amount for e in page.items if e.kind is EntryKind.CHARGE and e.reference_id == message_id]


async def amounts(scenario) -> tuple[Decimal, Decimal]:
    wallet = await scenario.operator.wallet(CLINIC)
    return wallet.balance.amount, wallet.held.amount


async def charged(scenario) -> dict[str | None, str]:
    """Each charged message's amount (a second charge of one message would show as a repeated key's loss)."""
    page = await scenario.operator.transactions(CLINIC, page_size=100)
    found = [(e.reference_id, str(-e.amount)) for e in page.items if e.kind is EntryKind.CHARGE]
    assert len(found) == len({reference for reference, _ in found}), found
    return dict(found)


def outcomes(events) -> list[tuple[str | None, str | None, str, str | None]]:
    return [(e.message_id, e.status, str(e.outcome), e.reason) for e in events]


# Delivered, read, failed --------------------------------------------------------------------------------------


async def test_delivered_settles_the_hold_at_metas_category_once(scenario, messaging) -> None:
    held = (await messaging.hold(CLINIC, "wamid.1", "utility", USA)).hold

    events = await deliver(scenario, status("wamid.1", "delivered", category="marketing"))

    assert outcomes(events) == [("wamid.1", "delivered", "applied", None)]
    hold = await messaging.get_hold(CLINIC, held.id)
    assert (hold.status, str(hold.charged)) == (HoldStatus.SETTLED, "0.025")  # repriced as marketing
    assert events[0].transaction_id == hold.transaction_id
    assert await charges(scenario, "wamid.1") == [Decimal("-0.025")]
    assert await amounts(scenario) == (Decimal("0.975"), Decimal("0"))


async def test_the_same_body_twice_charges_once_and_records_nothing_new(scenario, messaging) -> None:
    await messaging.hold(CLINIC, "wamid.1", "utility", USA)
    first = await deliver(scenario, status("wamid.1", "sent"), status("wamid.1", "delivered"))

    again = await deliver(scenario, status("wamid.1", "sent"), status("wamid.1", "delivered"))

    assert outcomes(first) == [("wamid.1", "sent", "ignored", "sent"), ("wamid.1", "delivered", "applied", None)]
    assert again == []
    assert await charges(scenario, "wamid.1") == [Decimal("-0.05")]


async def test_read_before_delivered_charges_once(scenario, messaging) -> None:
    await messaging.hold(CLINIC, "wamid.1", "utility", USA)

    events = await deliver(scenario, status("wamid.1", "read"), status("wamid.1", "delivered"))

    assert outcomes(events) == [
        ("wamid.1", "read", "applied", None),
        ("wamid.1", "delivered", "ignored", "already_settled"),
    ]
    assert await charges(scenario, "wamid.1") == [Decimal("-0.05")]


async def test_read_alone_settles(scenario, messaging) -> None:
    held = (await messaging.hold(CLINIC, "wamid.1", "utility", USA)).hold

    await deliver(scenario, status("wamid.1", "read"))

    assert (await messaging.get_hold(CLINIC, held.id)).status is HoldStatus.SETTLED


async def test_failed_voids_the_hold_and_releases_its_money(scenario, messaging) -> None:
    held = (await messaging.hold(CLINIC, "wamid.1", "utility", USA)).hold

    events = await deliver(scenario, status("wamid.1", "failed"))

    assert outcomes(events) == [("wamid.1", "failed", "applied", None)]
    assert (await messaging.get_hold(CLINIC, held.id)).status is HoldStatus.VOIDED
    assert await amounts(scenario) == (Decimal("1.00"), Decimal("0"))


async def test_failed_then_delivered_charges_once_at_the_holds_own_price(scenario, messaging) -> None:
    held = (await messaging.hold(CLINIC, "wamid.1", "utility", USA)).hold
    await deliver(scenario, status("wamid.1", "failed"))

    events = await deliver(scenario, status("wamid.1", "delivered", category="marketing"))
    await deliver(scenario, status("wamid.1", "read"))

    assert outcomes(events) == [("wamid.1", "delivered", "applied", None)]
    hold = await messaging.get_hold(CLINIC, held.id)
    assert (hold.status, str(hold.charged), hold.transaction_id) == (
        HoldStatus.VOIDED,
        "0.05",
        events[0].transaction_id,
    )
    assert await charges(scenario, "wamid.1") == [Decimal("-0.05")]  # the hold's price, not marketing's
    assert await amounts(scenario) == (Decimal("0.95"), Decimal("0"))


async def test_delivered_then_failed_stays_settled(scenario, messaging) -> None:
    held = (await messaging.hold(CLINIC, "wamid.1", "utility", USA)).hold
    await deliver(scenario, status("wamid.1", "delivered"))

    events = await deliver(scenario, status("wamid.1", "failed"))

    assert outcomes(events) == [("wamid.1", "failed", "ignored", "already_settled")]
    assert (await messaging.get_hold(CLINIC, held.id)).status is HoldStatus.SETTLED
    assert await charges(scenario, "wamid.1") == [Decimal("-0.05")]


async def test_delivered_for_an_expired_hold_charges_it_at_its_own_price(scenario, messaging) -> None:
    held = (await messaging.hold(CLINIC, "wamid.1", "utility", USA, expires_in_seconds=60)).hold
    scenario.clock.advance(timedelta(minutes=5))  # past expires_at, not swept

    events = await deliver(scenario, status("wamid.1", "delivered"))

    hold = await messaging.get_hold(CLINIC, held.id)
    assert outcomes(events) == [("wamid.1", "delivered", "applied", None)]
    assert (hold.status, str(hold.charged)) == (HoldStatus.EXPIRED, "0.05")
    assert await amounts(scenario) == (Decimal("0.95"), Decimal("0"))


async def test_a_released_hold_that_available_cannot_cover_is_unmatched(scenario, messaging) -> None:
    await messaging.hold(CLINIC, "wamid.1", "utility", USA)
    await deliver(scenario, status("wamid.1", "failed"))
    await messaging.charge(CLINIC, "0.98", "wamid.direct")

    events = await deliver(scenario, status("wamid.1", "delivered"))

    assert outcomes(events) == [("wamid.1", "delivered", "unmatched", "no_hold")]
    assert await charges(scenario, "wamid.1") == []


# Without a hold ----------------------------------------------------------------------------------------------


async def test_delivered_without_a_hold_is_charged_by_the_card_in_force(scenario, messaging) -> None:
    events = await deliver(scenario, status("wamid.9", "delivered"), status("wamid.9", "read"))

    assert outcomes(events) == [
        ("wamid.9", "delivered", "applied", None),
        ("wamid.9", "read", "ignored", "already_settled"),
    ]
    assert await charges(scenario, "wamid.9") == [Decimal("-0.05")]


async def test_delivered_without_a_hold_that_available_cannot_cover_is_unmatched(scenario, messaging) -> None:
    await messaging.charge(CLINIC, "0.98", "wamid.direct")

    events = await deliver(scenario, status("wamid.9", "delivered"))

    assert outcomes(events) == [("wamid.9", "delivered", "unmatched", "no_hold")]
    assert await charges(scenario, "wamid.9") == []


async def test_a_free_delivery_without_a_hold_charges_nothing(scenario, messaging) -> None:
    events = await deliver(scenario, status("wamid.9", "delivered", type="free_customer_service", billable=False))

    assert outcomes(events) == [("wamid.9", "delivered", "applied", None)]
    assert await charges(scenario, "wamid.9") == []


async def test_failed_or_sent_without_a_hold_change_nothing(scenario, messaging) -> None:
    events = await deliver(scenario, status("wamid.9", "failed"), status("wamid.8", "sent"))

    assert outcomes(events) == [("wamid.9", "failed", "ignored", "no_hold"), ("wamid.8", "sent", "ignored", "sent")]
    assert await amounts(scenario) == (Decimal("1.00"), Decimal("0"))


# Numbers and the record --------------------------------------------------------------------------------------


async def test_an_unknown_number_is_unmatched_and_touches_no_wallet(scenario, messaging) -> None:
    await messaging.hold(CLINIC, "wamid.1", "utility", USA)

    events = await deliver(scenario, status("wamid.1", "delivered", number=OTHER_NUMBER))

    assert [(e.tenant_id, e.phone_number_id, str(e.outcome), e.reason) for e in events] == [
        (None, OTHER_NUMBER, "unmatched", "unknown_number")
    ]
    assert await amounts(scenario) == (Decimal("1.00"), Decimal("0.05"))


async def test_a_malformed_status_is_recorded_ignored_beside_its_neighbours(scenario, messaging) -> None:
    await messaging.hold(CLINIC, "wamid.1", "utility", USA)
    broken = {"number": NUMBER, "status": {"id": "wamid.2", "status": "delivered", "timestamp": "yesterday"}}

    events = await deliver(scenario, broken, status("wamid.1", "delivered"))

    assert [(e.tenant_id, e.message_id, str(e.outcome)) for e in events] == [
        (CLINIC, "wamid.2", "ignored"),
        (CLINIC, "wamid.1", "applied"),
    ]
    assert await charges(scenario, "wamid.1") == [Decimal("-0.05")]


async def test_events_are_listed_newest_first_and_filtered(scenario, messaging) -> None:
    await messaging.hold(CLINIC, "wamid.1", "utility", USA)
    await deliver(scenario, status("wamid.1", "delivered"))
    await deliver(scenario, status("wamid.2", "failed"), status("wamid.3", "sent", number=OTHER_NUMBER))

    everything = await scenario.operator.webhook_events()
    unmatched = await scenario.operator.webhook_events(outcome="unmatched")
    clinics = await scenario.operator.webhook_events(tenant_id=CLINIC)

    assert [e.message_id for e in everything.items][-1] == "wamid.1"
    assert [e.message_id for e in unmatched.items] == ["wamid.3"]
    assert {e.message_id for e in clinics.items} == {"wamid.1", "wamid.2"}
    with pytest.raises(ValidationError):
        await scenario.operator.webhook_events(outcome="lost")


async def test_a_number_maps_to_one_tenant(scenario, messaging) -> None:
    again = await scenario.operator.map_whatsapp_number(NUMBER, CLINIC)

    assert not again.created
    with pytest.raises(DuplicateError):
        await scenario.operator.map_whatsapp_number(NUMBER, OTHER)
    mapped = await scenario.operator.whatsapp_numbers(tenant_id=CLINIC)
    assert [(n.phone_number_id, n.tenant_id) for n in mapped.items] == [(NUMBER, CLINIC)]

    await scenario.operator.unmap_whatsapp_number(NUMBER)

    assert (await scenario.operator.whatsapp_numbers()).items == ()
    with pytest.raises(NotFoundError):
        await scenario.operator.unmap_whatsapp_number(NUMBER)
    assert (await scenario.operator.map_whatsapp_number(NUMBER, OTHER)).created


async def test_only_an_operator_maps_numbers_and_reads_events(scenario, messaging) -> None:
    viewer = scenario.as_("root", VIEW)
    clinic = scenario.as_(CLINIC, VIEW, MANAGE)

    with pytest.raises(ForbiddenError):
        await viewer.map_whatsapp_number("1", CLINIC)
    with pytest.raises(ForbiddenError):
        await clinic.map_whatsapp_number("1", CLINIC)
    with pytest.raises(ForbiddenError):
        await clinic.webhook_events()
    with pytest.raises(ForbiddenError):
        await clinic.whatsapp_numbers()
    with pytest.raises(ForbiddenError):
        await clinic.apply_whatsapp_statuses(parse_status_notifications(body(status("wamid.1", "delivered"))))
    assert (await viewer.whatsapp_numbers()).total == 1


async def test_a_category_meta_adds_later_settles_at_the_holds_price(scenario, messaging) -> None:
    held = (await messaging.hold(CLINIC, "wamid.1", "utility", USA)).hold

    events = await deliver(scenario, status("wamid.1", "delivered", category="brand_new_category"))

    assert outcomes(events) == [("wamid.1", "delivered", "applied", "unknown_category")]
    assert str((await messaging.get_hold(CLINIC, held.id)).charged) == "0.05"


async def test_a_category_the_holds_card_cannot_price_settles_at_the_holds_price(scenario, messaging) -> None:
    """The card has no authentication_international rate for the US: the hold's own price, and why."""
    held = (await messaging.hold(CLINIC, "wamid.1", "utility", USA)).hold

    events = await deliver(scenario, status("wamid.1", "delivered", category="authentication_international"))

    assert outcomes(events) == [("wamid.1", "delivered", "applied", "meta_category_not_priced")]
    settled = await messaging.get_hold(CLINIC, held.id)
    assert (settled.status, str(settled.charged), str(settled.settled_category)) == (
        HoldStatus.SETTLED,
        "0.05",
        "utility",
    )


async def test_one_unpriceable_status_does_not_poison_its_body(scenario, messaging) -> None:
    """A body mixing an unpriceable category, an unknown one and a status without pricing with good statuses:
    every status is applied or recorded on its own, and each held message is charged once."""
    for n in range(1, 5):
        await messaging.hold(CLINIC, f"wamid.{n}", "utility", USA)
    unpriced = status("wamid.5", "delivered")
    del unpriced["status"]["pricing"]  # type: ignore[attr-defined]

    events = await deliver(
        scenario,
        status("wamid.1", "delivered"),
        status("wamid.2", "delivered", category="authentication_international"),
        status("wamid.3", "delivered", category="brand_new_category"),
        status("wamid.4", "delivered", category="marketing"),
        unpriced,
        status("wamid.6", "delivered", category="authentication_international"),
        status("wamid.7", "delivered", category="brand_new_category"),
    )

    assert outcomes(events) == [
        ("wamid.1", "delivered", "applied", None),
        ("wamid.2", "delivered", "applied", "meta_category_not_priced"),
        ("wamid.3", "delivered", "applied", "unknown_category"),
        ("wamid.4", "delivered", "applied", None),
        ("wamid.5", "delivered", "unmatched", "not_priced"),
        ("wamid.6", "delivered", "unmatched", "meta_category_not_priced"),
        ("wamid.7", "delivered", "unmatched", "unknown_category"),
    ]
    assert await charged(scenario) == {"wamid.1": "0.05", "wamid.2": "0.05", "wamid.3": "0.05", "wamid.4": "0.025"}
    assert str((await scenario.operator.wallet(CLINIC)).held) == "0.00"


async def test_a_frozen_wallet_pays_for_what_meta_delivered_without_a_hold(scenario, messaging) -> None:
    """Freeze, then Meta delivers a message sent without a hold: charged now (a freeze stops new sending, not
    paying for deliveries); after unfreezing, a redelivery charges nothing more."""
    await scenario.operator.freeze(CLINIC, "chargeback under review")

    events = await deliver(scenario, status("wamid.1", "delivered"))
    await scenario.operator.unfreeze(CLINIC)
    again = await deliver(scenario, status("wamid.1", "delivered"))

    assert outcomes(events) == [("wamid.1", "delivered", "applied", None)]
    assert again == []  # recorded already: skipped
    assert await charged(scenario) == {"wamid.1": "0.05"}
    assert str((await scenario.operator.wallet(CLINIC)).balance) == "0.95"
