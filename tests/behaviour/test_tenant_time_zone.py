"""The tenant's time zone (contract v3 §16) through the facade, on every backend: wallet settings keep an IANA name
(default "UTC", an unknown one refused with nothing stored), and tiers count the calendar months of message time in
it, on every road a message is counted or priced (quote, hold, settle, Meta's webhook without a hold)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.domain.errors import ValidationError
from billing.domain.ledger import EntryKind
from billing.domain.whatsapp import parse_status_notifications

CLINIC = "clinic-a"  # in Asia/Kolkata (UTC+5:30) once its settings say so
OTHER = "clinic-b"  # never saves its settings: UTC
KOLKATA = "Asia/Kolkata"
STARTED = datetime(2026, 1, 1, tzinfo=UTC)
# 19:00 UTC on 31 October is 00:30 on 1 November in Kolkata.
BOUNDARY = datetime(2026, 10, 31, 19, 0, tzinfo=UTC)
OCTOBER_EVERYWHERE = datetime(2026, 10, 31, 18, 0, tzinfo=UTC)  # 23:30 on 31 October in Kolkata
NOVEMBER_EVERYWHERE = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
INDIA = "+919876543210"
USA = "+14155552671"
NUMBERS = {CLINIC: "106540352242922", OTHER: "206540352242922"}
MARKETS = {"IN": "India", "US": "North America", "*": "Other"}
RATES: list[dict[str, object]] = [
    {"market": "India", "category": "utility", "unit_price": "0.0014"},
    {"market": "India", "category": "utility", "unit_price": "0.0010", "tier_from": 2},
    {"market": "North America", "category": "utility", "unit_price": "0.0500"},
    {"market": "North America", "category": "utility", "unit_price": "0.0400", "tier_from": 2},
]


@pytest.fixture
async def messaging(scenario):
    """A card with a second tier from the 2nd message, both wallets funded, each clinic's number mapped; the
    platform's messaging module."""
    scenario.tick()
    await scenario.operator.create_rate_card("Card", STARTED, MARKETS, RATES)
    for tenant in (CLINIC, OTHER):
        await scenario.operator.adjust(tenant, "1.00", "funding for the test")
        await scenario.operator.map_whatsapp_number(NUMBERS[tenant], tenant)
    return scenario.service.as_platform("messaging")


async def in_kolkata(scenario, reserve: str = "0") -> None:
    settings = await scenario.operator.set_settings(reserve, CLINIC, timezone=KOLKATA)
    assert settings.timezone == KOLKATA


async def tiers(scenario, at: datetime, recipient: str = INDIA) -> dict[str, int]:
    """Each clinic's tier for its next utility message to `recipient`, quoted at `at`."""
    scenario.clock.current = at
    found = {}
    for tenant in (CLINIC, OTHER):
        (item,) = (await scenario.operator.quote("utility", [recipient], tenant_id=tenant)).items
        found[tenant] = item.tier
    return found


def delivered(tenant: str, message_id: str, at: datetime) -> dict[str, object]:
    """Meta's body: one delivered, billable utility message to the USA, without a hold, at `at`."""
    status = {
        "id": message_id,
        "status": "delivered",
        "timestamp": str(int(at.timestamp())),
        "recipient_id": USA.lstrip("+"),
        "pricing": {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001234", "phone_number_id": NUMBERS[tenant]},
        "statuses": [status],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }


async def charged(scenario, tenant: str, message_id: str) -> list[Decimal]:
    page = await scenario.operator.transactions(tenant, page_size=100)
    return [-e.amount.amount for e in page.items if e.kind is EntryKind.CHARGE and e.reference_id == message_id]


# Settings -----------------------------------------------------------------------------------------------------


async def test_settings_start_in_utc_and_keep_the_time_zone_a_put_names(scenario) -> None:
    assert (await scenario.operator.settings(CLINIC)).timezone == "UTC"

    await in_kolkata(scenario, "2.00")

    reloaded = await scenario.operator.settings(CLINIC)
    assert (reloaded.timezone, str(reloaded.marketing_reserve)) == (KOLKATA, "2.00")
    assert (await scenario.operator.settings(OTHER)).timezone == "UTC"


async def test_a_put_without_a_time_zone_returns_it_to_utc(scenario) -> None:
    """A PUT replaces the whole (v2 §10): a field it leaves out takes its default, the time zone too."""
    await in_kolkata(scenario)

    saved = await scenario.operator.set_settings("1.00", CLINIC)

    assert saved.timezone == "UTC"
    assert (await scenario.operator.settings(CLINIC)).timezone == "UTC"


@pytest.mark.parametrize(
    "name",
    ["Mars/Olympus", "asia/kolkata", " Asia/Kolkata", "", "../x", "/etc/localtime", "localtime", "Factory", "CET"],
)
async def test_an_unknown_time_zone_is_refused_and_nothing_is_stored(scenario, name: str) -> None:
    await in_kolkata(scenario, "2.00")
    before = await scenario.operator.settings(CLINIC)

    with pytest.raises(ValidationError) as refused:
        await scenario.operator.set_settings("3.00", CLINIC, timezone=name)

    assert [error.field for error in refused.value.errors] == ["timezone"]
    assert await scenario.operator.settings(CLINIC) == before


async def test_a_refused_time_zone_is_listed_with_the_other_problems(scenario) -> None:
    with pytest.raises(ValidationError) as refused:
        await scenario.operator.set_settings("-1", CLINIC, timezone="Mars/Olympus")

    assert {error.field for error in refused.value.errors} == {"timezone", "marketing_reserve"}


# Tiers count months in the tenant's time zone -------------------------------------------------------------------


async def test_a_settled_message_counts_in_the_month_of_the_tenants_time_zone(scenario, messaging) -> None:
    await in_kolkata(scenario)
    scenario.clock.current = BOUNDARY
    for tenant in (CLINIC, OTHER):
        await messaging.hold(tenant, f"wamid.{tenant}", "utility", INDIA)
        await messaging.settle(tenant, f"wamid.{tenant}")  # settled at BOUNDARY: its message time

    # Kolkata's message was November's (00:30 on 1 November there); the UTC clinic's was October's.
    assert await tiers(scenario, NOVEMBER_EVERYWHERE) == {CLINIC: 2, OTHER: 1}
    assert await tiers(scenario, OCTOBER_EVERYWHERE) == {CLINIC: 1, OTHER: 2}


async def test_a_hold_is_priced_by_the_count_of_the_tenants_month(scenario, messaging) -> None:
    await in_kolkata(scenario)
    scenario.clock.current = BOUNDARY
    for tenant in (CLINIC, OTHER):
        await messaging.hold(tenant, f"wamid.{tenant}.1", "utility", INDIA)
        await messaging.settle(tenant, f"wamid.{tenant}.1")

    scenario.clock.current = NOVEMBER_EVERYWHERE
    held = {
        tenant: (await messaging.hold(tenant, f"wamid.{tenant}.2", "utility", INDIA)).hold for tenant in (CLINIC, OTHER)
    }

    assert {tenant: (hold.quote.tier, str(hold.amount)) for tenant, hold in held.items()} == {
        CLINIC: (2, "0.001"),
        OTHER: (1, "0.0014"),
    }


async def test_metas_charges_without_a_hold_count_and_price_in_the_tenants_month(scenario, messaging) -> None:
    """The webhook's message time is the status's timestamp: a charge at BOUNDARY is November's in Kolkata, so the
    next November message is Kolkata's second (tier 2) and the UTC clinic's first."""
    await in_kolkata(scenario)
    webhook = scenario.service.as_platform("webhook")
    for tenant in (CLINIC, OTHER):
        await webhook.apply_whatsapp_statuses(
            parse_status_notifications(delivered(tenant, f"wamid.{tenant}.1", BOUNDARY))
        )
        later = delivered(tenant, f"wamid.{tenant}.2", NOVEMBER_EVERYWHERE)
        await webhook.apply_whatsapp_statuses(parse_status_notifications(later))

    assert [await charged(scenario, CLINIC, f"wamid.{CLINIC}.{n}") for n in (1, 2)] == [
        [Decimal("0.05")],
        [Decimal("0.04")],
    ]
    assert [await charged(scenario, OTHER, f"wamid.{OTHER}.{n}") for n in (1, 2)] == [
        [Decimal("0.05")],
        [Decimal("0.05")],
    ]
    assert await tiers(scenario, OCTOBER_EVERYWHERE, USA) == {CLINIC: 1, OTHER: 2}  # the UTC clinic's October


async def test_without_a_time_zone_the_months_stay_utc(scenario, messaging) -> None:
    await scenario.operator.set_settings("0", CLINIC)  # saved settings, no time zone: UTC
    scenario.clock.current = BOUNDARY
    for tenant in (CLINIC, OTHER):
        await messaging.hold(tenant, f"wamid.{tenant}", "utility", INDIA)
        await messaging.settle(tenant, f"wamid.{tenant}")

    assert await tiers(scenario, OCTOBER_EVERYWHERE) == {CLINIC: 2, OTHER: 2}
    assert await tiers(scenario, NOVEMBER_EVERYWHERE) == {CLINIC: 1, OTHER: 1}
