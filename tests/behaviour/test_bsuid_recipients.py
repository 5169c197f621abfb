"""Business-scoped user ids as recipients (contract v3 §16) through the in-process facade, on every backend: a quote,
a hold and a batch to a BSUID are priced in its prefix's market and show it masked; a prefix that is no country is a
400 that stores nothing; Meta's statuses name the country by `recipient_user_id`, else `recipient_parent_user_id`,
else a BSUID `recipient_id`; and a delivered status naming no recipient charges only through its hold. Each test
fails if the rule it names is removed."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from billing.domain.errors import ValidationError
from billing.domain.hold import HoldStatus
from billing.domain.ledger import EntryKind
from billing.domain.whatsapp import parse_status_notifications

CLINIC = "clinic-a"
NUMBER = "106540352242922"
STARTED = datetime(2026, 1, 1, tzinfo=UTC)
USA = "+14155552671"
US_BSUID = "US.13491208655302741918"
BR_BSUID = "BR.9000000000000001234"
DE_ENTERPRISE = "DE.ENT.11815799212886844830"
MARKETS = {"US": "North America", "BR": "Brazil", "DE": "Germany", "*": "Other"}
RATES: list[dict[str, object]] = [
    {"market": "North America", "category": "utility", "unit_price": "0.0100"},
    {"market": "Brazil", "category": "utility", "unit_price": "0.0200"},
    {"market": "Germany", "category": "utility", "unit_price": "0.0300"},
    {"market": "Other", "category": "utility", "unit_price": "0.0400"},
]
# Two letters and a dot that are no ISO 3166-1 alpha-2 code: user-assigned, reserved, lower case.
BAD_PREFIXES = ["XK.13491208655302741918", "UK.13491208655302741918", "EU.1234", "us.13491208655302741918"]


@pytest.fixture
async def messaging(scenario):
    """A card in force, a funded wallet and the clinic's number mapped; the platform's messaging module."""
    scenario.tick()
    await scenario.operator.create_rate_card("Card", STARTED, MARKETS, RATES)
    await scenario.operator.adjust(CLINIC, "1.00", "funding for the test")
    await scenario.operator.map_whatsapp_number(NUMBER, CLINIC)
    return scenario.service.as_platform("messaging")


async def stored(scenario) -> tuple[object, ...]:
    """What a refused request must not change: the wallet, its holds, its ledger."""
    wallet = await scenario.operator.wallet(CLINIC)
    holds = await scenario.operator.holds(CLINIC)
    return wallet.balance, wallet.held, holds.total, await scenario.ledger()


# Quotes and holds ----------------------------------------------------------------------------------------------


async def test_a_quote_to_bsuids_prices_each_in_its_prefixs_market_and_masks_it(scenario, messaging) -> None:
    quoted = await scenario.clinic.quote("utility", [US_BSUID, BR_BSUID, DE_ENTERPRISE, "FR.77", USA])

    assert [(i.recipient, i.country, i.market, str(i.amount)) for i in quoted.items] == [
        ("US.…1918", "US", "North America", "0.01"),
        ("BR.…1234", "BR", "Brazil", "0.02"),
        ("DE.…4830", "DE", "Germany", "0.03"),
        ("FR.…77", "FR", "Other", "0.04"),
        ("…2671", "US", "North America", "0.01"),  # a phone number keeps its masking
    ]


async def test_a_hold_to_a_bsuid_is_priced_in_its_market_and_stored_masked(scenario, messaging) -> None:
    placed = (await messaging.hold(CLINIC, "wamid.1", "utility", BR_BSUID)).hold

    reloaded = await messaging.get_hold(CLINIC, placed.id)
    assert (reloaded.quote.recipient, reloaded.quote.country, reloaded.market, str(reloaded.amount)) == (
        "BR.…1234",
        "BR",
        "Brazil",
        "0.02",
    )
    assert str((await scenario.operator.wallet(CLINIC)).held) == "0.02"


async def test_a_batch_to_bsuids_is_priced_in_their_markets_and_masked(scenario, messaging) -> None:
    batch = await messaging.hold_batch(
        CLINIC,
        [
            {"message_id": "wamid.1", "category": "utility", "recipient": US_BSUID},
            {"message_id": "wamid.2", "category": "utility", "recipient": DE_ENTERPRISE},
            {"message_id": "wamid.3", "category": "utility", "recipient": USA},
        ],
    )

    reloaded = [await messaging.get_hold(CLINIC, hold.id) for hold in batch.items]
    assert [(h.quote.recipient, h.market, str(h.amount)) for h in reloaded] == [
        ("US.…1918", "North America", "0.01"),
        ("DE.…4830", "Germany", "0.03"),
        ("…2671", "North America", "0.01"),
    ]
    assert str(batch.total) == "0.05"


@pytest.mark.parametrize("bsuid", BAD_PREFIXES)
async def test_a_bsuid_whose_prefix_is_no_country_is_refused_and_stores_nothing(scenario, messaging, bsuid) -> None:
    before = await stored(scenario)

    with pytest.raises(ValidationError) as quoted:
        await scenario.clinic.quote("utility", [US_BSUID, bsuid])
    with pytest.raises(ValidationError) as held:
        await messaging.hold(CLINIC, "wamid.1", "utility", bsuid)
    with pytest.raises(ValidationError) as batched:
        await messaging.hold_batch(
            CLINIC,
            [
                {"message_id": "wamid.2", "category": "utility", "recipient": US_BSUID},
                {"message_id": "wamid.3", "category": "utility", "recipient": bsuid},
            ],
        )

    assert [e.field for e in quoted.value.errors] == ["recipients[1]"]
    assert [e.field for e in held.value.errors] == ["recipient"]
    assert [e.field for e in batched.value.errors] == ["messages[1].recipient"]
    assert "ISO 3166-1 alpha-2" in held.value.errors[0].message
    assert await stored(scenario) == before


# Meta's statuses -------------------------------------------------------------------------------------------------


def status(message_id: str, kind: str = "delivered", **recipient: str) -> dict[str, object]:
    return {
        "id": message_id,
        "status": kind,
        "timestamp": str(int(STARTED.timestamp()) + 86400 * 30),
        **recipient,
        "pricing": {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"},
    }


async def deliver(scenario, *statuses: dict[str, object]):
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    {
                        "field": "messages",
                        "value": {"metadata": {"phone_number_id": NUMBER}, "statuses": list(statuses)},
                    }
                ],
            }
        ],
    }
    scenario.tick()
    return await scenario.service.as_platform("webhook").apply_whatsapp_statuses(parse_status_notifications(body))


async def charges(scenario) -> dict[str | None, tuple[str, str]]:
    """Each charged message: its amount and its ledger description (which shows the recipient masked)."""
    page = await scenario.operator.transactions(CLINIC, page_size=100)
    return {e.reference_id: (str(-e.amount), e.description or "") for e in page.items if e.kind is EntryKind.CHARGE}


def outcomes(events) -> list[tuple[str | None, str, str | None]]:
    return [(e.message_id, str(e.outcome), e.reason) for e in events]


async def test_a_recipient_user_id_decides_the_country_beside_a_phone_recipient_id(scenario, messaging) -> None:
    events = await deliver(scenario, status("wamid.1", recipient_id=USA.lstrip("+"), recipient_user_id=BR_BSUID))

    assert outcomes(events) == [("wamid.1", "applied", None)]
    amount, description = (await charges(scenario))["wamid.1"]
    assert amount == "0.02"  # Brazil's price, not North America's
    assert "BR.…1234" in description
    assert "13491208655302741918" not in description


async def test_a_parent_user_id_decides_the_country_without_a_user_id(scenario, messaging) -> None:
    events = await deliver(
        scenario, status("wamid.1", recipient_id=USA.lstrip("+"), recipient_parent_user_id=DE_ENTERPRISE)
    )

    assert outcomes(events) == [("wamid.1", "applied", None)]
    assert (await charges(scenario))["wamid.1"][0] == "0.03"  # Germany


async def test_the_user_id_wins_over_the_parent_user_id(scenario, messaging) -> None:
    await deliver(scenario, status("wamid.1", recipient_user_id=BR_BSUID, recipient_parent_user_id=DE_ENTERPRISE))

    assert (await charges(scenario))["wamid.1"][0] == "0.02"  # Brazil


async def test_a_bsuid_recipient_id_is_a_bsuid_never_a_phone_number(scenario, messaging) -> None:
    events = await deliver(scenario, status("wamid.1", recipient_id=BR_BSUID))

    assert outcomes(events) == [("wamid.1", "applied", None)]
    assert (await charges(scenario))["wamid.1"][0] == "0.02"  # Brazil


async def test_a_bsuid_recipient_id_whose_prefix_is_no_country_is_not_priced(scenario, messaging) -> None:
    events = await deliver(scenario, status("wamid.1", recipient_id="XK.13491208655302741918"))

    assert outcomes(events) == [("wamid.1", "unmatched", "not_priced")]
    assert await charges(scenario) == {}


async def test_a_delivery_naming_no_recipient_settles_its_hold(scenario, messaging) -> None:
    held = (await messaging.hold(CLINIC, "wamid.1", "utility", US_BSUID)).hold

    events = await deliver(scenario, status("wamid.1"))

    assert outcomes(events) == [("wamid.1", "applied", None)]
    hold = await messaging.get_hold(CLINIC, held.id)
    assert (hold.status, str(hold.charged)) == (HoldStatus.SETTLED, "0.01")
    assert (await charges(scenario))["wamid.1"][0] == "0.01"


async def test_a_delivery_naming_no_recipient_without_a_hold_is_unmatched_no_recipient(scenario, messaging) -> None:
    events = await deliver(scenario, status("wamid.1"), status("wamid.2", "read"))

    assert outcomes(events) == [("wamid.1", "unmatched", "no_recipient"), ("wamid.2", "unmatched", "no_recipient")]
    assert await charges(scenario) == {}
    assert (await scenario.operator.wallet(CLINIC)).balance.amount == Decimal("1.00")
    recorded = await scenario.operator.webhook_events(outcome="unmatched", tenant_id=CLINIC)
    assert {(e.message_id, e.reason) for e in recorded.items} == {
        ("wamid.1", "no_recipient"),
        ("wamid.2", "no_recipient"),
    }
