"""Invoices: read by their tenant, paid or voided by an operator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from api_support import (
    CLINIC,
    CLINIC_MANAGER,
    CLINIC_USER,
    OPERATOR,
    OTHER_CLINIC,
    OTHER_CLINIC_USER,
    Api,
    assert_problem,
    field_errors,
)


async def test_mark_paid_credits_the_wallet_and_completes_the_request(api: Api) -> None:
    request = await api.invoiced("150.00")
    api.clock.advance(timedelta(hours=2))  # the money arrived an hour ago, after the invoice was issued
    paid_at = (api.clock.current - timedelta(hours=1)).isoformat()

    response = await api.post(
        f"/invoices/{request['invoice_id']}/mark-paid", OPERATOR, {"payment_reference": "bank-77", "paid_at": paid_at}
    )

    assert response.status_code == 200
    invoice = response.json()
    assert (invoice["status"], invoice["payment_reference"]) == ("paid", "bank-77")
    assert datetime.fromisoformat(invoice["paid_at"]) == datetime.fromisoformat(paid_at)
    assert invoice["lines"] == [
        {"description": "WhatsApp wallet top-up", "quantity": 1, "unit_price": "150.00", "amount": "150.00"}
    ]
    assert (await api.get(f"/wallet/topup-requests/{request['id']}", CLINIC_USER)).json()["status"] == "completed"
    assert (await api.get("/wallet/me", CLINIC_USER)).json()["balance"] == "150.00"


async def test_paying_twice_is_a_conflict_and_credits_once(api: Api) -> None:
    invoice = await api.fund("150.00")

    response = await api.post(f"/invoices/{invoice['id']}/mark-paid", OPERATOR, {"payment_reference": "again"})

    assert_problem(response, 409, "invalid_state")
    assert await api.balance(CLINIC) == "150.00"


async def test_paid_at_in_the_future_is_refused_and_changes_nothing(api: Api) -> None:
    request = await api.invoiced()
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    response = await api.post(
        f"/invoices/{request['invoice_id']}/mark-paid", OPERATOR, {"payment_reference": "x", "paid_at": tomorrow}
    )

    assert field_errors(response) == {"paid_at": "must not be in the future"}
    assert (await api.get(f"/invoices/{request['invoice_id']}", OPERATOR)).json()["status"] == "issued"
    assert await api.balance(CLINIC) == "0.00"


async def test_paid_at_without_an_offset_is_refused(api: Api) -> None:
    request = await api.invoiced()

    response = await api.post(
        f"/invoices/{request['invoice_id']}/mark-paid",
        OPERATOR,
        {"payment_reference": "x", "paid_at": "2026-01-01T10:00:00"},
    )

    assert "paid_at" in field_errors(response)


async def test_voiding_a_topup_invoice_cancels_its_request(api: Api) -> None:
    request = await api.invoiced()

    response = await api.post(f"/invoices/{request['invoice_id']}/void", OPERATOR, {"reason": "paid by card"})

    assert response.status_code == 200
    assert response.json()["status"] == "void"
    assert (await api.get(f"/wallet/topup-requests/{request['id']}", CLINIC_USER)).json()["status"] == "cancelled"


async def test_a_paid_invoice_cannot_be_voided(api: Api) -> None:
    invoice = await api.fund()

    response = await api.post(f"/invoices/{invoice['id']}/void", OPERATOR, {"reason": "oops"})

    assert_problem(response, 409, "invalid_state")


@pytest.mark.parametrize("who", [CLINIC_USER, CLINIC_MANAGER], ids=["clinic", "clinic-manager"])
async def test_a_clinic_can_never_mark_its_own_invoice_paid(api: Api, who: dict[str, str]) -> None:
    request = await api.invoiced()

    paid = await api.post(f"/invoices/{request['invoice_id']}/mark-paid", who, {"payment_reference": "me"})
    voided = await api.post(f"/invoices/{request['invoice_id']}/void", who, {"reason": "me"})

    assert_problem(paid, 403, "forbidden")
    assert_problem(voided, 403, "forbidden")
    assert await api.balance(CLINIC) == "0.00"


async def test_another_clinics_invoice_is_not_found(api: Api) -> None:
    request = await api.invoiced()

    assert_problem(await api.get(f"/invoices/{request['invoice_id']}", OTHER_CLINIC_USER), 404, "not_found")


async def test_invoice_lists_are_scoped_filtered_and_newest_first(api: Api) -> None:
    first = await api.invoiced("10.00")
    second = await api.invoiced("20.00")
    await api.invoiced("30.00", OTHER_CLINIC_USER)
    await api.post(f"/invoices/{first['invoice_id']}/void", OPERATOR, {"reason": "r"})

    mine = (await api.get("/invoices", CLINIC_USER)).json()
    issued = (await api.get("/invoices", CLINIC_USER, params={"status": "issued", "purpose": "topup"})).json()
    theirs = (await api.get("/invoices", CLINIC_USER, params={"tenant_id": OTHER_CLINIC})).json()
    everyone = (await api.get("/invoices", OPERATOR)).json()

    assert [i["id"] for i in mine["items"]] == [second["invoice_id"], first["invoice_id"]]
    assert [i["id"] for i in issued["items"]] == [second["invoice_id"]]
    assert theirs["items"] == []
    assert theirs["total"] == 0
    assert everyone["total"] == 3
    assert {i["tenant_id"] for i in everyone["items"]} == {CLINIC, OTHER_CLINIC}
