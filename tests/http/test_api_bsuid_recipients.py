"""Business-scoped user ids over HTTP (contract v3 §16, §24): `POST /quotes`, a hold and a batch take a BSUID as a
recipient and answer it masked (`"US.…1918"`), never whole; a prefix that is no ISO 3166-1 alpha-2 code is a 400
naming the field, with nothing stored; Meta's webhook prices a message held by nobody in the country of its
`recipient_user_id`, and a delivery naming no recipient is `unmatched`, `no_recipient`, unless its hold settles it."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from api_support import CLINIC, CLINIC_USER, OPERATOR, SECRET, Api, field_errors
from httpx import Response

from billing.config import JwtSettings, Settings, WhatsAppSettings
from billing.domain.whatsapp import sign

APP_SECRET = "0c5a1f0e9b7d4c3a8e2f6b1d9a7c5e3f"
PHONE = "106540352242922"
US_BSUID = "US.13491208655302741918"
BR_BSUID = "BR.9000000000000001234"
ENTERPRISE = "US.ENT.11815799212886844830"
CARD: dict[str, Any] = {
    "name": "BSUID test card",
    "currency": "USD",
    "effective_from": "2025-01-01T00:00:00Z",
    "markets": {"US": "North America", "BR": "Brazil", "*": "Other"},
    "rates": [
        {"market": "North America", "category": "utility", "unit_price": "0.004"},
        {"market": "Brazil", "category": "utility", "unit_price": "0.008"},
        {"market": "Other", "category": "utility", "unit_price": "0.01"},
    ],
}


@pytest.fixture
def settings() -> Settings:
    return Settings(jwt=JwtSettings(secret=SECRET), whatsapp=WhatsAppSettings(app_secret=APP_SECRET, verify_token="t"))


@pytest.fixture
async def ready(api: Api) -> Api:
    """A default card in force, 10.00 in clinic-a's wallet, and PHONE mapped to clinic-a."""
    response = await api.post("/rate-cards", OPERATOR, CARD)
    assert response.status_code == 201, response.text
    await api.fund("10.00")
    response = await api.post("/whatsapp-numbers", OPERATOR, {"phone_number_id": PHONE, "tenant_id": CLINIC})
    assert response.status_code == 201, response.text
    return api


def assert_never_whole(response: Response, *bsuids: str) -> None:
    for bsuid in bsuids:
        assert bsuid.split(".")[-1] not in response.text, response.text


async def held_state(api: Api) -> tuple[Any, Any]:
    holds = await api.get(f"/wallets/{CLINIC}/holds", OPERATOR)
    wallet = await api.get(f"/wallets/{CLINIC}", OPERATOR)
    return holds.json()["total"], wallet.json()["held"]


# Quotes and holds ----------------------------------------------------------------------------------------------


async def test_a_quote_answers_bsuids_masked_and_priced_in_their_prefixs_market(ready: Api) -> None:
    response = await ready.post(
        "/quotes", CLINIC_USER, {"category": "utility", "recipients": [US_BSUID, BR_BSUID, ENTERPRISE, "+14155552671"]}
    )

    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert [(i["recipient"], i["country"], i["market"], i["amount"]) for i in items] == [
        ("US.…1918", "US", "North America", "0.004"),
        ("BR.…1234", "BR", "Brazil", "0.008"),
        ("US.…4830", "US", "North America", "0.004"),
        ("…2671", "US", "North America", "0.004"),
    ]
    assert_never_whole(response, US_BSUID, BR_BSUID, ENTERPRISE)


async def test_a_hold_and_a_batch_answer_bsuids_masked(ready: Api) -> None:
    one = await ready.post(
        f"/wallets/{CLINIC}/holds", OPERATOR, {"message_id": "wamid.1", "category": "utility", "recipient": BR_BSUID}
    )
    batch = await ready.post(
        f"/wallets/{CLINIC}/holds/batch",
        OPERATOR,
        {"messages": [{"message_id": "wamid.2", "category": "utility", "recipient": ENTERPRISE}]},
    )

    assert one.status_code == 201, one.text
    assert batch.status_code == 201, batch.text
    assert (one.json()["recipient"], one.json()["market"], one.json()["amount"]) == ("BR.…1234", "Brazil", "0.008")
    assert batch.json()["items"][0]["recipient"] == "US.…4830"
    again = await ready.get(f"/wallets/{CLINIC}/holds/{one.json()['id']}", OPERATOR)
    assert again.json()["recipient"] == "BR.…1234"
    assert_never_whole(one, BR_BSUID)
    assert_never_whole(batch, ENTERPRISE)


@pytest.mark.parametrize("bsuid", ["XK.13491208655302741918", "UK.1234", "us.13491208655302741918"])
async def test_a_bsuid_whose_prefix_is_no_country_is_a_400_naming_the_field(ready: Api, bsuid: str) -> None:
    before = await held_state(ready)

    quoted = await ready.post("/quotes", CLINIC_USER, {"category": "utility", "recipients": [US_BSUID, bsuid]})
    one = await ready.post(
        f"/wallets/{CLINIC}/holds", OPERATOR, {"message_id": "wamid.1", "category": "utility", "recipient": bsuid}
    )
    batch = await ready.post(
        f"/wallets/{CLINIC}/holds/batch",
        OPERATOR,
        {
            "messages": [
                {"message_id": "wamid.2", "category": "utility", "recipient": US_BSUID},
                {"message_id": "wamid.3", "category": "utility", "recipient": bsuid},
            ]
        },
    )

    assert list(field_errors(quoted)) == ["recipients[1]"]
    assert list(field_errors(one)) == ["recipient"]
    assert list(field_errors(batch)) == ["messages[1].recipient"]
    assert await held_state(ready) == before


# Meta's webhook ------------------------------------------------------------------------------------------------


async def deliver(api: Api, *statuses: dict[str, Any]) -> None:
    value = {"metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE}, "statuses": list(statuses)}
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"value": value, "field": "messages"}]}],
    }
    raw = json.dumps(envelope).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(APP_SECRET, raw)}
    response = await api.client.post("/api/v1/billing/webhooks/whatsapp", content=raw, headers=headers)
    assert response.status_code == 200, response.text


def delivered(message_id: str, **recipient: str) -> dict[str, Any]:
    pricing = {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"}
    return {
        "id": message_id,
        "status": "delivered",
        "timestamp": str(int(time.time())),
        "pricing": pricing,
        **recipient,
    }


async def test_the_webhook_prices_by_the_recipient_user_id_and_answers_no_recipient(ready: Api) -> None:
    response = await ready.post(
        f"/wallets/{CLINIC}/holds", OPERATOR, {"message_id": "wamid.held", "category": "utility", "recipient": US_BSUID}
    )
    assert response.status_code == 201, response.text

    await deliver(
        ready,
        delivered("wamid.1", recipient_id="14155552671", recipient_user_id=BR_BSUID),
        delivered("wamid.2"),
        delivered("wamid.held"),
    )

    found = await ready.get("/webhooks/whatsapp/events", OPERATOR, params={"page_size": 100})
    assert {(e["message_id"], e["outcome"], e["reason"]) for e in found.json()["items"]} == {
        ("wamid.1", "applied", None),
        ("wamid.2", "unmatched", "no_recipient"),
        ("wamid.held", "applied", None),
    }
    unmatched = await ready.get("/webhooks/whatsapp/events", OPERATOR, params={"outcome": "unmatched"})
    assert [e["reason"] for e in unmatched.json()["items"]] == ["no_recipient"]
    ledger = await ready.get(f"/wallets/{CLINIC}/transactions", OPERATOR, params={"page_size": 100})
    charged = {row["reference_id"]: row["amount"] for row in ledger.json()["items"] if row["kind"] == "charge"}
    assert charged == {"wamid.1": "-0.008", "wamid.held": "-0.004"}  # wamid.1 in Brazil's market
