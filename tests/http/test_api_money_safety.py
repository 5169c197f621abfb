"""Money safety over HTTP (contract v2 §12, §14): mark paid answers 409 `duplicate` for a payment reference the
tenant already used, 400 for a `paid_at` before the invoice was issued, and with BILLING_FOUR_EYES=true 403
`forbidden` to the operator who approved the top-up."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs
import pytest
from api_support import (
    CLINIC,
    OPERATOR,
    OTHER_CLINIC,
    OTHER_CLINIC_USER,
    ROOT,
    Api,
    assert_problem,
    bearer,
    field_errors,
)

from billing.application.caller import MANAGE, VIEW
from billing.config import ConfigError, Settings

SECOND_OPERATOR = bearer(ROOT, VIEW, MANAGE, user="operator-2")


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The HTTP tests' settings; `@pytest.mark.parametrize("settings", [True], indirect=True)` turns four eyes on."""
    four_eyes: bool = getattr(request, "param", False)
    return attrs.evolve(settings, billing=attrs.evolve(settings.billing, four_eyes=four_eyes))


async def _mark_paid(api: Api, invoice_id: str, body: dict[str, Any], headers: dict[str, str] = OPERATOR) -> Any:
    return await api.post(f"/invoices/{invoice_id}/mark-paid", headers, body)


async def _invoice(api: Api, invoice_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await api.get(f"/invoices/{invoice_id}", OPERATOR)).json()
    return body


@pytest.mark.parametrize("again", ["ref-1", " Ref-1 ", "REF-1"], ids=["exact", "trimmed", "other-case"])
async def test_a_reference_already_paid_is_409_duplicate_and_changes_nothing(api: Api, again: str) -> None:
    first = await api.invoiced("100.00")
    assert (await _mark_paid(api, first["invoice_id"], {"payment_reference": "ref-1"})).status_code == 200
    second = await api.invoiced("40.00")

    response = await _mark_paid(api, second["invoice_id"], {"payment_reference": again})

    problem = assert_problem(response, 409, "duplicate")
    assert first["invoice_number"] in problem["detail"]
    assert (await _invoice(api, second["invoice_id"]))["status"] == "issued"
    assert (await api.get(f"/wallet/topup-requests/{second['id']}", OPERATOR)).json()["status"] == "invoiced"
    assert await api.balance(CLINIC) == "100.00"


async def test_another_tenant_may_use_the_same_reference(api: Api) -> None:
    mine = await api.invoiced("100.00")
    theirs = await api.invoiced("30.00", OTHER_CLINIC_USER)
    assert (await _mark_paid(api, mine["invoice_id"], {"payment_reference": "ref-1"})).status_code == 200

    response = await _mark_paid(api, theirs["invoice_id"], {"payment_reference": "REF-1"})

    assert response.status_code == 200, response.text
    assert await api.balance(OTHER_CLINIC) == "30.00"


async def test_paid_at_before_the_invoice_was_issued_is_400(api: Api) -> None:
    request = await api.invoiced()
    issued_at = datetime.fromisoformat((await _invoice(api, request["invoice_id"]))["issued_at"])
    before = (issued_at - timedelta(minutes=1)).isoformat()

    response = await _mark_paid(api, request["invoice_id"], {"payment_reference": "ref-1", "paid_at": before})

    assert field_errors(response) == {"paid_at": "must not be before the invoice was issued"}
    assert (await _invoice(api, request["invoice_id"]))["status"] == "issued"
    assert await api.balance(CLINIC) == "0.00"


@pytest.mark.parametrize("settings", [True], indirect=True, ids=["four-eyes"])
async def test_with_four_eyes_the_approver_gets_403_and_another_operator_pays(api: Api) -> None:
    request = await api.invoiced()  # approved by OPERATOR (operator-1)

    refused = await _mark_paid(api, request["invoice_id"], {"payment_reference": "ref-1"})
    assert_problem(refused, 403, "forbidden")
    assert (await _invoice(api, request["invoice_id"]))["status"] == "issued"
    assert await api.balance(CLINIC) == "0.00"

    paid = await _mark_paid(api, request["invoice_id"], {"payment_reference": "ref-1"}, SECOND_OPERATOR)
    assert paid.status_code == 200, paid.text
    assert await api.balance(CLINIC) == "150.00"


async def test_without_four_eyes_the_approver_pays(api: Api) -> None:
    request = await api.invoiced()

    response = await _mark_paid(api, request["invoice_id"], {"payment_reference": "ref-1"})

    assert response.status_code == 200, response.text


async def test_the_openapi_document_lists_409_for_mark_paid(api: Api) -> None:
    schema = (await api.client.get("/schema/openapi.json")).json()

    responses = schema["paths"]["/api/v1/billing/invoices/{invoice_id}/mark-paid"]["post"]["responses"]

    assert "duplicate" in responses["409"]["description"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("true", True), ("TRUE", True), ("1", True), ("false", False), ("0", False)],
)
def test_billing_four_eyes_is_read_from_the_environment(value: str | None, expected: bool) -> None:
    environ = {} if value is None else {"BILLING_FOUR_EYES": value}

    assert Settings.from_env(environ).billing.four_eyes is expected


def test_a_bad_billing_four_eyes_is_refused_naming_it() -> None:
    with pytest.raises(ConfigError, match="BILLING_FOUR_EYES: must be true or false"):
        Settings.from_env({"BILLING_FOUR_EYES": "sometimes"})
