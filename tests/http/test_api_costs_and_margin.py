"""Cost cards and the margin report over HTTP (contract v3 §15): who may call each route, the answers' fields and
the CSV, and how a bad request is answered."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from api_support import CLINIC_USER, OPERATOR, ROOT_VIEWER, Api, assert_problem, field_errors

STARTED = "2025-01-01T00:00:00Z"
COST_CARD: dict[str, Any] = {
    "name": "Meta 2026",
    "currency": "USD",
    "effective_from": STARTED,
    "kind": "cost",
    "markets": {"IN": "IN-Meta", "*": "Rest"},
    "rates": [
        {"market": "IN-Meta", "category": "marketing", "unit_price": "0.0107"},
        {"market": "Rest", "category": "marketing", "unit_price": "0.0200"},
    ],
}
ROW_FIELDS = {"key", "messages", "billed", "cost", "margin", "uncosted", "uncosted_billed"}


async def test_a_cost_card_is_added_listed_and_read_as_current_by_root(api: Api) -> None:
    added = await api.post("/rate-cards", OPERATOR, COST_CARD)
    assert added.status_code == 201, added.text
    assert added.json()["kind"] == "cost"
    assert added.json()["tenant_id"] is None
    costs = (await api.get("/rate-cards?kind=cost", ROOT_VIEWER)).json()
    assert [card["name"] for card in costs["items"]] == ["Meta 2026"]
    assert (await api.get("/rate-cards", ROOT_VIEWER)).json()["items"] == []  # `price` by default
    current = await api.get("/rate-cards/current?kind=cost", ROOT_VIEWER)
    assert current.status_code == 200
    assert current.json()["id"] == added.json()["id"]
    assert_problem(await api.get("/rate-cards/current?kind=cost", CLINIC_USER), 403, "forbidden")
    assert_problem(await api.get("/rate-cards/current", CLINIC_USER), 404, "not_found")  # no price card


async def test_a_cost_card_for_a_tenant_or_of_an_unknown_kind_is_refused(api: Api) -> None:
    assert "tenant_id" in field_errors(await api.post("/rate-cards", OPERATOR, {**COST_CARD, "tenant_id": "clinic-a"}))
    assert "kind" in field_errors(await api.post("/rate-cards", OPERATOR, {**COST_CARD, "kind": "margin"}))
    assert "kind" in field_errors(await api.get("/rate-cards?kind=margin", ROOT_VIEWER))
    assert (await api.get("/rate-cards?kind=cost", ROOT_VIEWER)).json()["items"] == []


async def test_the_margin_report_answers_the_contracts_fields(api: Api) -> None:
    response = await api.get("/reports/margin?from=2026-01-01&to=2026-01-31&group_by=day", ROOT_VIEWER)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report == {
        "currency": "USD",
        "from": "2026-01-01",
        "to": "2026-01-31",
        "group_by": "day",
        "rows": [],
        "total": {
            "key": "total",
            "messages": 0,
            "billed": "0.00",
            "cost": "0.00",
            "margin": "0.00",
            "uncosted": 0,
            "uncosted_billed": "0.00",
        },
    }
    assert set(report["total"]) == ROW_FIELDS


async def test_the_margin_csv_has_the_contracts_header(api: Api) -> None:
    response = await api.get("/reports/margin.csv", ROOT_VIEWER)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert list(csv.reader(io.StringIO(response.text))) == [list(ROW_FIELDS_IN_ORDER)]


ROW_FIELDS_IN_ORDER = ("key", "messages", "billed", "cost", "margin", "uncosted", "uncosted_billed")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-02-02&to=2026-02-01", "to"),
        ("from=2025-01-01&to=2026-01-02", "to"),
        ("from=2026-13-01", "from"),
        ("to=yesterday", "to"),
        ("group_by=week", "group_by"),
        ("group_by=tenant%00", "group_by"),
        ("from=2026-01-01%00", "from"),
        ("from=0001-01-01&to=9999-12-31", "to"),
        ("to=99999-01-01", "to"),
    ],
)
async def test_a_bad_margin_range_or_grouping_is_a_400_naming_it(api: Api, query: str, field: str) -> None:
    assert field in field_errors(await api.get(f"/reports/margin?{query}", ROOT_VIEWER))
    assert field in field_errors(await api.get(f"/reports/margin.csv?{query}", ROOT_VIEWER))


async def test_only_root_reads_the_margin(api: Api) -> None:
    assert_problem(await api.get("/reports/margin", CLINIC_USER), 403, "forbidden")
    assert_problem(await api.get("/reports/margin.csv", CLINIC_USER), 403, "forbidden")


PRICE_CARD: dict[str, Any] = {
    "name": "Prices",
    "currency": "USD",
    "effective_from": STARTED,
    "markets": {"IN": "India", "*": "Other"},
    "rates": [
        {"market": "India", "category": "marketing", "unit_price": "0.0150"},
        {"market": "Other", "category": "marketing", "unit_price": "0.0300"},
    ],
}
COST_FIELDS = {"cost", "cost_unit_price", "cost_card_id", "cost_tier"}


async def _settled_message(api: Api) -> None:
    for card in (PRICE_CARD, COST_CARD):
        assert (await api.post("/rate-cards", OPERATOR, card)).status_code == 201
    await api.fund("10.00")
    body = {"message_id": "wamid.1", "category": "marketing", "recipient": "+919876543210"}
    held = await api.post("/wallets/clinic-a/holds", OPERATOR, body)
    assert held.status_code == 201, held.text
    assert held.json()["cost_estimate"] == "0.0107"  # root's answer
    settled = await api.post("/wallets/clinic-a/holds/settle", OPERATOR, {"message_id": "wamid.1"})
    assert settled.status_code == 200, settled.text


async def test_costs_appear_in_roots_answers_and_are_absent_for_clinics(api: Api) -> None:
    await _settled_message(api)
    [root_hold] = (await api.get("/wallets/clinic-a/holds", ROOT_VIEWER)).json()["items"]
    assert root_hold["cost_estimate"] == "0.0107"
    [clinic_hold] = (await api.get("/wallet/me/holds", CLINIC_USER)).json()["items"]
    assert "cost_estimate" not in clinic_hold
    root_rows = (await api.get("/wallets/clinic-a/transactions", ROOT_VIEWER)).json()["items"]
    [root_price] = [row["price"] for row in root_rows if row["kind"] == "charge"]
    assert {key: root_price[key] for key in COST_FIELDS} == {
        "cost": "0.0107",
        "cost_unit_price": "0.0107",
        "cost_card_id": (await api.get("/rate-cards/current?kind=cost", ROOT_VIEWER)).json()["id"],
        "cost_tier": 1,
    }
    clinic_rows = (await api.get("/wallet/me/transactions", CLINIC_USER)).json()["items"]
    [clinic_price] = [row["price"] for row in clinic_rows if row["kind"] == "charge"]
    assert COST_FIELDS.isdisjoint(clinic_price)
    statement = await api.get("/wallet/me/statement.csv", CLINIC_USER)
    assert "0.0107" not in statement.text  # the statement is unchanged for everyone


async def test_the_margin_report_counts_the_settled_message(api: Api) -> None:
    await _settled_message(api)
    report = (await api.get("/reports/margin?group_by=market", ROOT_VIEWER)).json()
    assert report["rows"] == [
        {
            "key": "India",
            "messages": 1,
            "billed": "0.015",
            "cost": "0.0107",
            "margin": "0.0043",
            "uncosted": 0,
            "uncosted_billed": "0.00",
        }
    ]
    csv_rows = list(csv.reader(io.StringIO((await api.get("/reports/margin.csv?group_by=market", ROOT_VIEWER)).text)))
    assert csv_rows[1] == ["India", "1", "0.015", "0.0107", "0.0043", "0", "0.00"]


async def test_a_hold_or_quote_with_a_number_of_another_tenant_is_a_400_and_holds_nothing(api: Api) -> None:
    assert (await api.post("/rate-cards", OPERATOR, PRICE_CARD)).status_code == 201
    await api.fund("10.00")
    mapped = await api.post("/whatsapp-numbers", OPERATOR, {"phone_number_id": "1065", "tenant_id": "clinic-b"})
    assert mapped.status_code in (200, 201), mapped.text
    body = {"message_id": "wamid.n", "category": "marketing", "recipient": "+919876543210", "phone_number_id": "1065"}
    assert set(field_errors(await api.post("/wallets/clinic-a/holds", OPERATOR, body))) == {"phone_number_id"}
    batch = {"messages": [{**body, "phone_number_id": "7"}]}
    refused = field_errors(await api.post("/wallets/clinic-a/holds/batch", OPERATOR, batch))
    assert set(refused) == {"messages[0].phone_number_id"}
    quote = {"category": "marketing", "recipients": ["+919876543210"], "phone_number_id": "1065"}
    assert set(field_errors(await api.post("/quotes", CLINIC_USER, quote))) == {"phone_number_id"}
    assert (await api.get("/wallets/clinic-a/holds", ROOT_VIEWER)).json()["total"] == 0
    # clinic-b's own number passes: its hold is refused only for money (its wallet is empty)
    assert_problem(await api.post("/wallets/clinic-b/holds", OPERATOR, body), 409, "insufficient_funds")


@pytest.mark.parametrize("kind", ["cost%00", "%0d%0aprice", "x" * 300])
async def test_a_hostile_card_kind_is_a_400_naming_it(api: Api, kind: str) -> None:
    assert "kind" in field_errors(await api.get(f"/rate-cards?kind={kind}", ROOT_VIEWER))
    assert "kind" in field_errors(await api.get(f"/rate-cards/current?kind={kind}", ROOT_VIEWER))
