"""Rate cards and quotes over HTTP (contract v2 §8): every route, who may call it, how a bad request is
answered, and what the OpenAPI document says of them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from api_support import (
    CLINIC,
    CLINIC_MANAGER,
    CLINIC_USER,
    OPERATOR,
    OTHER_CLINIC,
    OTHER_CLINIC_USER,
    ROOT_VIEWER,
    Api,
    assert_problem,
    field_errors,
)
from litestar.testing import AsyncTestClient

import billing

META_CARD = Path(billing.__file__).parent / "data" / "rate_cards" / "meta_usd.json"
STARTED = "2025-01-01T00:00:00Z"  # in force whatever day the tests run
CARD: dict[str, Any] = {
    "name": "Test card",
    "currency": "USD",
    "effective_from": STARTED,
    "free_in_service_window": ["utility"],
    "markets": {"IN": "India", "US": "North America", "BR": "Brazil", "*": "Other"},
    "rates": [
        {"market": "India", "category": "marketing", "unit_price": "0.0118"},
        {"market": "India", "category": "utility", "unit_price": "0.0014"},
        {"market": "India", "category": "utility", "unit_price": "0.001", "tier_from": 11},
        {"market": "North America", "category": "marketing", "unit_price": "0.025"},
        {"market": "Brazil", "category": "marketing", "unit_price": "0.0625"},
        {"market": "Other", "category": "marketing", "unit_price": 0.0604},  # a JSON number is read as its text
    ],
}
INDIA = "+919876543210"
USA = "+14155552671"
BRAZIL = "+5511987654321"
QUOTE_FIELDS = {"tenant_id", "currency", "rate_card_id", "items", "total", "available", "sufficient", "phone_number_id"}
ITEM_FIELDS = {
    "recipient",
    "country",
    "market",
    "category",
    "tier",
    "rate_card_id",
    "unit_price",
    "amount",
    "free_reason",
}
UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def add_card(api: Api, **changes: Any) -> dict[str, Any]:
    response = await api.post("/rate-cards", OPERATOR, {**CARD, **changes})
    assert response.status_code == 201, response.text
    card: dict[str, Any] = response.json()
    return card


async def quote(api: Api, headers: dict[str, str] = CLINIC_USER, **body: Any) -> Any:
    return await api.post("/quotes", headers, {"category": "marketing", "recipients": [INDIA], **body})


# POST /rate-cards ---------------------------------------------------------------------------------------------


async def test_an_operator_adds_the_shipped_meta_card(api: Api) -> None:
    body = json.loads(META_CARD.read_text())

    response = await api.post("/rate-cards", OPERATOR, body)

    assert response.status_code == 201, response.text
    card = response.json()
    assert UUID(card["id"])
    assert (card["name"], card["currency"], card["effective_from"], card["tenant_id"]) == (
        body["name"],
        "USD",
        "2026-01-01T00:00:00Z",
        None,
    )
    assert card["free_in_service_window"] == ["service", "utility"]
    assert card["markets"] == body["markets"]
    assert len(card["rates"]) == len(body["rates"])
    assert {"market": "India", "category": "marketing", "unit_price": "0.0118", "tier_from": 1} in card["rates"]
    assert {"market": "India", "category": "service", "unit_price": "0.00", "tier_from": 1} in card["rates"]
    assert card["created_by"] == "operator-1"
    assert UTC_TIME.match(card["created_at"])
    reloaded = await api.get(f"/rate-cards/{card['id']}", OPERATOR)
    assert (reloaded.status_code, reloaded.json()) == (200, card)


async def test_an_operator_adds_a_card_for_one_tenant(api: Api) -> None:
    card = await add_card(api, tenant_id=CLINIC, effective_from="2025-01-01T02:00:00+02:00")

    assert (card["tenant_id"], card["effective_from"]) == (CLINIC, STARTED)
    assert [rate["unit_price"] for rate in card["rates"]] == ["0.0118", "0.0014", "0.001", "0.025", "0.0625", "0.0604"]
    assert [rate["tier_from"] for rate in card["rates"]] == [1, 1, 11, 1, 1, 1]
    assert (await api.get(f"/rate-cards/{card['id']}", ROOT_VIEWER)).json() == card


async def test_a_card_with_several_problems_lists_them_all(api: Api) -> None:
    card = {
        **CARD,
        "name": "",
        "currency": "EUR",
        "tenant_id": "not a tenant!",
        "free_in_service_window": ["gossip"],
        "markets": {"UK": "United Kingdom", "IN": "India"},
        "rates": [
            {"market": "Atlantis", "category": "marketing", "unit_price": "0.01"},
            {"market": "India", "category": "marketing", "unit_price": "-0.01"},
            {"market": "India", "category": "utility", "unit_price": "0.00001"},
            {"market": "India", "category": "marketing", "unit_price": "0.02"},
            {"market": "India", "category": "authentication", "unit_price": "0.01", "tier_from": 2},
            {"market": "India", "category": "whisper", "unit_price": "0.01"},
            {"market": "India", "category": "service", "unit_price": {"amount": 1}},
        ],
    }

    response = await api.post("/rate-cards", OPERATOR, card)

    errors = field_errors(response)
    assert set(errors) == {
        "name",
        "currency",
        "tenant_id",
        "free_in_service_window[0]",
        "markets.UK",
        "rates[0].market",
        "rates[1].unit_price",
        "rates[2].unit_price",
        "rates[3].tier_from",
        "rates",
        "rates[5].category",
        "rates[6].unit_price",
    }, errors
    assert errors["rates[1].unit_price"] == "must not be negative"  # zero is a price
    assert "4 decimal places" in errors["rates[2].unit_price"]
    assert (await api.get("/rate-cards", OPERATOR)).json()["total"] == 0


async def test_rates_missing_their_fields_are_named_with_the_cards_other_problems(api: Api) -> None:
    card = {
        **CARD,
        "currency": "EUR",
        "rates": [
            {"market": "India", "category": "marketing"},
            {"market": "India", "unit_price": "0.01"},
            {"category": "utility", "unit_price": "0.01"},
        ],
    }

    errors = field_errors(await api.post("/rate-cards", OPERATOR, card))

    assert {"currency", "rates[0].unit_price", "rates[1].category", "rates[2].market"} <= set(errors), errors


@pytest.mark.parametrize("headers", [CLINIC_USER, CLINIC_MANAGER, ROOT_VIEWER], ids=["clinic", "manager", "viewer"])
async def test_only_an_operator_adds_a_card(api: Api, headers: dict[str, str]) -> None:
    assert_problem(await api.post("/rate-cards", headers, {**CARD, "tenant_id": CLINIC}), 403, "forbidden")
    assert (await api.get("/rate-cards", OPERATOR)).json()["total"] == 0


async def test_a_card_needs_a_token(api: Api) -> None:
    assert_problem(await api.post("/rate-cards", {}, CARD), 401, "unauthorized")


# GET /rate-cards, /rate-cards/{card_id} -------------------------------------------------------------------------


async def test_cards_are_listed_latest_effective_first(api: Api) -> None:
    middle = await add_card(api, name="middle", effective_from="2025-06-01T00:00:00Z")
    oldest = await add_card(api, name="oldest")
    future = await add_card(api, name="future", effective_from="2999-01-01T00:00:00Z", tenant_id=CLINIC)
    theirs = await add_card(api, name="theirs", effective_from="2024-01-01T00:00:00Z", tenant_id=OTHER_CLINIC)

    every = await api.get("/rate-cards", ROOT_VIEWER)
    first = await api.get("/rate-cards?page=1&page_size=2", OPERATOR)
    clinics = await api.get(f"/rate-cards?tenant_id={CLINIC}", OPERATOR)

    assert every.status_code == 200
    assert every.json() == {"items": [future, middle, oldest, theirs], "page": 1, "page_size": 20, "total": 4}
    assert [card["name"] for card in first.json()["items"]] == ["future", "middle"]
    assert first.json()["total"] == 4
    assert (clinics.json()["items"], clinics.json()["total"]) == ([future], 1)


async def test_a_clinic_can_neither_list_nor_read_cards(api: Api) -> None:
    card = await add_card(api, tenant_id=CLINIC)

    assert_problem(await api.get("/rate-cards", CLINIC_USER), 403, "forbidden")
    assert_problem(await api.get(f"/rate-cards?tenant_id={CLINIC}", CLINIC_USER), 403, "forbidden")
    assert_problem(await api.get(f"/rate-cards/{card['id']}", CLINIC_USER), 403, "forbidden")


async def test_an_unknown_card_is_404_and_a_malformed_id_400(api: Api) -> None:
    await add_card(api)

    assert_problem(await api.get("/rate-cards/00000000-0000-4000-8000-000000000000", OPERATOR), 404, "not_found")
    assert field_errors(await api.get("/rate-cards/not-a-uuid", OPERATOR)) == {"card_id": "must be a UUID"}


# GET /rate-cards/current --------------------------------------------------------------------------------------


async def test_the_current_card_is_the_tenants_own_else_the_default(api: Api) -> None:
    default = await add_card(api, name="default")
    own = await add_card(api, name="own", tenant_id=CLINIC)
    await add_card(api, name="not yet", tenant_id=CLINIC, effective_from="2999-01-01T00:00:00Z")

    mine = await api.get("/rate-cards/current", CLINIC_USER)
    theirs = await api.get("/rate-cards/current", OTHER_CLINIC_USER)

    assert (mine.status_code, mine.json()) == (200, own)
    assert (theirs.status_code, theirs.json()) == (200, default)


async def test_without_a_card_in_force_the_current_card_is_404(api: Api) -> None:
    await add_card(api, effective_from="2999-01-01T00:00:00Z")
    await add_card(api, tenant_id=OTHER_CLINIC)

    assert_problem(await api.get("/rate-cards/current", CLINIC_USER), 404, "not_found")


async def test_root_reads_any_tenants_current_card_and_a_clinic_only_its_own(api: Api) -> None:
    default = await add_card(api, name="default")
    theirs = await add_card(api, name="theirs", tenant_id=OTHER_CLINIC)

    assert (await api.get(f"/rate-cards/current?tenant_id={OTHER_CLINIC}", ROOT_VIEWER)).json() == theirs
    assert (await api.get(f"/rate-cards/current?tenant_id={CLINIC}", OPERATOR)).json() == default
    assert (await api.get(f"/rate-cards/current?tenant_id={CLINIC}", CLINIC_USER)).json() == default
    assert_problem(await api.get(f"/rate-cards/current?tenant_id={OTHER_CLINIC}", CLINIC_USER), 404, "not_found")


# POST /quotes -------------------------------------------------------------------------------------------------


async def test_a_quote_answers_the_contracts_fields_with_amounts_as_strings(api: Api) -> None:
    card = await add_card(api)

    response = await quote(api, recipients=[INDIA, USA])

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == QUOTE_FIELDS
    assert (body["tenant_id"], body["currency"], body["rate_card_id"]) == (CLINIC, "USD", card["id"])
    assert [set(item) for item in body["items"]] == [ITEM_FIELDS, ITEM_FIELDS]
    assert body["items"][0] == {
        "recipient": "…3210",
        "country": "IN",
        "market": "India",
        "category": "marketing",
        "tier": 1,
        "rate_card_id": card["id"],
        "unit_price": "0.0118",
        "amount": "0.0118",
        "free_reason": None,
    }
    assert (body["items"][1]["recipient"], body["items"][1]["amount"]) == ("…2671", "0.025")
    assert (body["total"], body["available"], body["sufficient"]) == ("0.0368", "0.00", False)


async def test_a_quote_shows_only_the_last_four_digits_of_a_recipient(api: Api) -> None:
    await add_card(api)

    response = await quote(api, recipients=[INDIA, "919876543299"])

    assert [item["recipient"] for item in response.json()["items"]] == ["…3210", "…3299"]
    for shown in ("98765", "876543210", "9876543299"):
        assert shown not in response.text


async def test_a_quote_of_1000_recipients(api: Api) -> None:
    await add_card(api)
    await api.fund("10.00")
    recipients = [f"+91987654{i:04d}" if i % 2 else f"+55119876{i:05d}" for i in range(1000)]

    response = await quote(api, recipients=recipients)

    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["items"]) == 1000
    assert [item["market"] for item in body["items"][:2]] == ["Brazil", "India"]
    assert (body["total"], body["available"], body["sufficient"]) == ("37.15", "10.00", False)


async def test_a_free_message_costs_zero_and_says_why(api: Api) -> None:
    await add_card(api)
    await api.fund("1.00")

    in_window = await quote(api, category="utility", window="customer_service")
    entry_point = await quote(api, window="free_entry_point")
    referral = await quote(api, category="referral_conversion")
    billed = await quote(api, window="customer_service")  # marketing is not free in this card's window

    assert {k: in_window.json()["items"][0][k] for k in ("unit_price", "amount", "free_reason")} == {
        "unit_price": "0.0014",
        "amount": "0.00",
        "free_reason": "customer_service_window",
    }
    assert (entry_point.json()["items"][0]["amount"], entry_point.json()["items"][0]["free_reason"]) == (
        "0.00",
        "free_entry_point",
    )
    assert referral.json()["items"][0]["category"] == "marketing"
    assert referral.json()["items"][0]["free_reason"] == "free_entry_point"
    assert (billed.json()["items"][0]["amount"], billed.json()["items"][0]["free_reason"]) == ("0.0118", None)
    assert (billed.json()["total"], billed.json()["available"], billed.json()["sufficient"]) == ("0.0118", "1.00", True)


async def test_the_tier_comes_from_the_months_settled_count(api: Api, container: Any) -> None:
    from billing.domain.pricing import Category

    await add_card(api)
    service = container.service()
    async with service.uow_factory() as uow:
        await uow.message_counts.add_settled(CLINIC, api.clock.now(), "India", Category.UTILITY, 10)
        await uow.commit()

    item = (await quote(api, category="utility")).json()["items"][0]

    assert (item["tier"], item["unit_price"], item["amount"]) == (11, "0.001", "0.001")


async def test_a_clinic_quoting_for_another_tenant_finds_nothing(api: Api) -> None:
    await add_card(api)

    assert_problem(await quote(api, tenant_id=OTHER_CLINIC), 404, "not_found")
    assert (await quote(api, tenant_id=CLINIC)).status_code == 200


async def test_root_quotes_for_a_tenant(api: Api) -> None:
    await add_card(api)
    own = await add_card(api, tenant_id=CLINIC, rates=[{"market": "India", "category": "marketing", "unit_price": 1}])
    await api.fund("5.00")

    response = await quote(api, ROOT_VIEWER, tenant_id=CLINIC)

    body = response.json()
    assert response.status_code == 200, response.text
    assert (body["tenant_id"], body["rate_card_id"], body["total"]) == (CLINIC, own["id"], "1.00")
    assert (body["available"], body["sufficient"]) == ("5.00", True)


async def test_invalid_numbers_are_named_by_their_index(api: Api) -> None:
    await add_card(api)

    errors = field_errors(await quote(api, recipients=[INDIA, "12345", USA, "+1 415 555 2671", "call me"]))

    assert set(errors) == {"recipients[1]", "recipients[3]", "recipients[4]"}


@pytest.mark.parametrize("count", [0, 1001])
async def test_a_quote_takes_1_to_1000_recipients(api: Api, count: int) -> None:
    await add_card(api)

    assert set(field_errors(await quote(api, recipients=[INDIA] * count))) == {"recipients"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"category": "whisper"}, "category"),
        ({"category": "Marketing"}, "category"),
        ({"window": "sometimes"}, "window"),
        ({"recipients": INDIA}, "recipients"),
        ({"surprise": 1}, "surprise"),
    ],
)
async def test_an_unknown_category_window_or_field_is_400(api: Api, body: dict[str, Any], field: str) -> None:
    await add_card(api)

    assert field in field_errors(await quote(api, **body))


async def test_a_quote_without_a_card_in_force_is_not_priced(api: Api) -> None:
    await add_card(api, tenant_id=OTHER_CLINIC)

    problem = assert_problem(await quote(api), 422, "not_priced")

    assert problem["type"] == "urn:billing:problem:not_priced"


async def test_a_country_or_category_the_card_does_not_price_is_not_priced(api: Api) -> None:
    markets = {"IN": "India", "US": "North America"}
    rates = [{"market": "India", "category": "marketing", "unit_price": "0.0118"}]
    await add_card(api, markets=markets, rates=rates)

    assert_problem(await quote(api, recipients=[INDIA, BRAZIL]), 422, "not_priced")  # no market, no "*"
    assert_problem(await quote(api, recipients=[USA]), 422, "not_priced")  # a market without this category
    assert_problem(await quote(api, category="utility"), 422, "not_priced")


async def test_a_quote_needs_view(api: Api) -> None:
    from api_support import bearer

    await add_card(api)

    assert_problem(await quote(api, bearer(CLINIC, user="no-rights")), 403, "forbidden")
    assert_problem(await quote(api, {}), 401, "unauthorized")


# The OpenAPI document -----------------------------------------------------------------------------------------

OPERATIONS = {
    ("post", "/api/v1/billing/rate-cards"): ("create_rate_card", {"201", "400", "401", "403", "500", "503"}),
    ("get", "/api/v1/billing/rate-cards"): ("list_rate_cards", {"200", "400", "401", "403", "500", "503"}),
    ("get", "/api/v1/billing/rate-cards/current"): ("get_current_rate_card", {"200", "401", "403", "404", "503"}),
    ("get", "/api/v1/billing/rate-cards/{card_id}"): ("get_rate_card", {"200", "400", "401", "403", "404", "503"}),
    ("post", "/api/v1/billing/quotes"): ("quote_messages", {"200", "400", "401", "403", "404", "422", "503"}),
}


@pytest.mark.parametrize(("method", "path"), list(OPERATIONS))
async def test_the_openapi_document_lists_each_operation_and_its_problems(
    client: AsyncTestClient[Any], method: str, path: str
) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    operation_id, statuses = OPERATIONS[method, path]

    operation = document["paths"][path][method]

    assert operation["operationId"] == operation_id
    assert statuses <= operation["responses"].keys()
    for status, response in operation["responses"].items():
        if status.startswith(("4", "5")):
            assert response["content"]["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
    assert operation["security"] == [{"BearerToken": []}]


async def test_the_quote_operation_documents_not_priced(client: AsyncTestClient[Any]) -> None:
    document = (await client.get("/schema/openapi.json")).json()

    unprocessable = document["paths"]["/api/v1/billing/quotes"]["post"]["responses"]["422"]

    assert "not_priced" in unprocessable["description"]
