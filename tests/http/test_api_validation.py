"""A client's mistake is a 400 naming the field, never a 500, and it changes nothing."""

from __future__ import annotations

import pytest
from api_support import BASE, CLINIC, CLINIC_USER, OPERATOR, Api, assert_problem, field_errors

TOPUPS = "/wallet/topup-requests"


@pytest.mark.parametrize(
    "raw_body",
    [
        b'{"amount": 150.123}',
        b'{"amount": "150.123"}',
        b'{"amount": 1e2}',
        b'{"amount": "1e2"}',
        b'{"amount": "abc"}',
        b'{"amount": ""}',
        b'{"amount": -5}',
        b'{"amount": "NaN"}',
        b'{"amount": true}',
        b'{"amount": null}',
        b'{"amount": {"value": 1}}',
        b'{"amount": [150]}',
        b"{}",
        b'{"amount": 1000000.01}',
    ],
)
async def test_a_bad_amount_names_the_amount_field_and_creates_nothing(api: Api, raw_body: bytes) -> None:
    response = await api.client.post(
        BASE + TOPUPS, content=raw_body, headers={**CLINIC_USER, "content-type": "application/json"}
    )

    assert list(field_errors(response)) == ["amount"]
    assert (await api.get(TOPUPS + "/me", CLINIC_USER)).json()["total"] == 0


async def test_a_number_never_passes_through_a_float(api: Api) -> None:
    """0.1 + 0.2 as floats is 0.30000000000000004; the literal "999999.99" must arrive intact."""
    response = await api.client.post(
        BASE + TOPUPS, content=b'{"amount": 999999.99}', headers={**CLINIC_USER, "content-type": "application/json"}
    )

    assert response.json()["amount"] == "999999.99"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "10", "note": 5}, "note"),
        ({"amount": "10", "note": "n" * 513}, "note"),
        ({"amount": "10", "colour": "red"}, "colour"),
    ],
)
async def test_wrong_types_and_unknown_fields_name_the_field(api: Api, body: dict[str, object], field: str) -> None:
    response = await api.post(TOPUPS, CLINIC_USER, body)

    assert list(field_errors(response)) == [field]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "1"}, "reference_id"),
        ({"reference_id": "m-1"}, "amount"),
        ({"reference_id": 7, "amount": "1"}, "reference_id"),
        ({"reference_id": "m-1", "amount": "1", "description": ["x"]}, "description"),
    ],
)
async def test_a_charge_names_its_bad_field(api: Api, body: dict[str, object], field: str) -> None:
    response = await api.post(f"/wallets/{CLINIC}/charges", OPERATOR, body)

    assert field in field_errors(response)


async def test_every_missing_field_is_named(api: Api) -> None:
    response = await api.post(f"/wallets/{CLINIC}/charges", OPERATOR, {"description": "d"})

    assert field_errors(response) == {"amount": "is required", "reference_id": "is required"}


async def test_an_empty_body_where_one_is_required_is_a_validation_error(api: Api) -> None:
    response = await api.client.post(BASE + TOPUPS, headers=CLINIC_USER)

    assert list(field_errors(response)) == ["body"]


@pytest.mark.parametrize(
    "params",
    [
        {"page": 0},
        {"page": -1},
        {"page": "abc"},
        {"page_size": 0},
        {"page_size": 101},
        {"page_size": "ten"},
    ],
)
async def test_pagination_out_of_range_is_a_validation_error(api: Api, params: dict[str, object]) -> None:
    response = await api.get("/wallet/me/transactions", CLINIC_USER, params=params)

    assert list(field_errors(response)) == list(params)


async def test_pagination_bounds_are_inclusive(api: Api) -> None:
    response = await api.get("/invoices", CLINIC_USER, params={"page": 1, "page_size": 100})

    assert response.status_code == 200
    assert response.json()["page_size"] == 100


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/wallet/topup-requests/not-a-uuid", "request_id"),
        ("/invoices/123", "invoice_id"),
    ],
)
async def test_a_malformed_id_in_the_path_is_a_validation_error(api: Api, path: str, field: str) -> None:
    assert list(field_errors(await api.get(path, OPERATOR))) == [field]


async def test_a_malformed_id_on_a_write_is_a_validation_error(api: Api) -> None:
    response = await api.post("/invoices/nope/mark-paid", OPERATOR, {"payment_reference": "x"})

    assert list(field_errors(response)) == ["invoice_id"]


@pytest.mark.parametrize(("param", "value"), [("status", "lost"), ("purpose", "gift"), ("tenant_id", "a b")])
async def test_unknown_filter_values_are_validation_errors(api: Api, param: str, value: str) -> None:
    response = await api.get("/invoices", OPERATOR, params={param: value})

    assert param in field_errors(response)


async def test_a_validation_problem_lists_its_errors(api: Api) -> None:
    response = await api.post(TOPUPS, CLINIC_USER, {"amount": "1.001"})

    problem = assert_problem(response, 400, "validation_error")
    assert problem["errors"] == [{"field": "amount", "message": "must have at most 2 decimal places for USD"}]
    assert problem["type"]
    assert problem["title"]
    assert problem["detail"]
