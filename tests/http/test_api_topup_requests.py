"""Top-up requests through their whole life, and who may see or move them."""

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
    ROOT_VIEWER,
    Api,
    assert_problem,
)


async def test_a_clinic_requests_a_topup_and_it_is_pending(api: Api) -> None:
    response = await api.post("/wallet/topup-requests", CLINIC_USER, {"amount": "150.5", "note": "March"})

    assert response.status_code == 201
    request = response.json()
    assert request["tenant_id"] == CLINIC
    assert (request["amount"], request["currency"], request["status"]) == ("150.50", "USD", "pending")
    assert request["note"] == "March"
    assert request["requested_by"] == "clinic-user"
    for field in ("decided_by", "decided_at", "invoice_id", "invoice_number", "completed_at", "cancelled_at"):
        assert request[field] is None
    reloaded = await api.get(f"/wallet/topup-requests/{request['id']}", CLINIC_USER)
    assert reloaded.json() == request


@pytest.mark.parametrize(("sent", "kept"), [(150, "150.00"), ("150", "150.00"), (150.5, "150.50"), ("0.99", None)])
async def test_amounts_arrive_as_strings_or_numbers(api: Api, sent: object, kept: str | None) -> None:
    response = await api.post("/wallet/topup-requests", CLINIC_USER, {"amount": sent})

    if kept is None:  # below BILLING_TOPUP_MIN_AMOUNT
        assert_problem(response, 400, "validation_error")
    else:
        assert response.json()["amount"] == kept


async def test_an_operator_approves_and_an_invoice_is_issued(api: Api) -> None:
    pending = await api.request_topup("150.00")

    response = await api.post(
        f"/wallet/topup-requests/{pending['id']}/approve", OPERATOR, {"note": "thanks", "due_date": "2099-01-31"}
    )

    assert response.status_code == 200
    approved = response.json()
    assert approved["status"] == "invoiced"
    assert approved["decided_by"] == "operator-1"
    assert approved["decision_note"] == "thanks"
    assert approved["invoice_number"].startswith("TOP-")
    invoice = (await api.get(f"/invoices/{approved['invoice_id']}", CLINIC_USER)).json()
    assert (invoice["status"], invoice["purpose"], invoice["total"]) == ("issued", "topup", "150.00")
    assert invoice["due_date"] == "2099-01-31"
    assert invoice["number"] == approved["invoice_number"]


async def test_approving_without_a_body_is_allowed(api: Api) -> None:
    pending = await api.request_topup()

    response = await api.client.post(f"/api/v1/billing/wallet/topup-requests/{pending['id']}/approve", headers=OPERATOR)

    assert response.status_code == 200
    assert response.json()["status"] == "invoiced"


async def test_an_operator_rejects_with_a_reason(api: Api) -> None:
    pending = await api.request_topup()

    response = await api.post(f"/wallet/topup-requests/{pending['id']}/reject", OPERATOR, {"reason": "duplicate"})

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["rejection_reason"]) == ("rejected", "duplicate")


async def test_a_second_reject_is_a_conflict_and_changes_nothing(api: Api) -> None:
    pending = await api.request_topup()
    await api.post(f"/wallet/topup-requests/{pending['id']}/reject", OPERATOR, {"reason": "first"})

    response = await api.post(f"/wallet/topup-requests/{pending['id']}/reject", OPERATOR, {"reason": "second"})

    assert_problem(response, 409, "invalid_state")
    reloaded = (await api.get(f"/wallet/topup-requests/{pending['id']}", OPERATOR)).json()
    assert reloaded["rejection_reason"] == "first"


@pytest.mark.parametrize("reason", ["", "   ", "x" * 513])
async def test_a_reject_reason_is_1_to_512_characters(api: Api, reason: str) -> None:
    pending = await api.request_topup()

    response = await api.post(f"/wallet/topup-requests/{pending['id']}/reject", OPERATOR, {"reason": reason})

    assert_problem(response, 400, "validation_error")


async def test_the_clinic_cancels_its_own_pending_request(api: Api) -> None:
    pending = await api.request_topup()

    response = await api.post(f"/wallet/topup-requests/{pending['id']}/cancel", CLINIC_USER)

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancelled_at"] is not None


async def test_an_invoiced_request_cannot_be_cancelled_by_the_clinic(api: Api) -> None:
    invoiced = await api.invoiced()

    response = await api.post(f"/wallet/topup-requests/{invoiced['id']}/cancel", CLINIC_USER)

    assert_problem(response, 409, "invalid_state")


async def test_another_clinics_request_is_not_found(api: Api) -> None:
    pending = await api.request_topup()

    assert_problem(await api.get(f"/wallet/topup-requests/{pending['id']}", OTHER_CLINIC_USER), 404, "not_found")
    assert_problem(
        await api.post(f"/wallet/topup-requests/{pending['id']}/cancel", OTHER_CLINIC_USER), 404, "not_found"
    )


async def test_an_unknown_request_is_not_found(api: Api) -> None:
    response = await api.get("/wallet/topup-requests/00000000-0000-4000-8000-000000000000", OPERATOR)

    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize(("action", "body"), [("approve", {}), ("reject", {"reason": "no"})])
@pytest.mark.parametrize("who", [CLINIC_USER, CLINIC_MANAGER, ROOT_VIEWER], ids=["clinic", "clinic-manager", "viewer"])
async def test_only_a_root_manager_decides(api: Api, action: str, body: dict[str, str], who: dict[str, str]) -> None:
    pending = await api.request_topup()

    response = await api.post(f"/wallet/topup-requests/{pending['id']}/{action}", who, body)

    assert_problem(response, 403, "forbidden")
    assert (await api.get(f"/wallet/topup-requests/{pending['id']}", OPERATOR)).json()["status"] == "pending"


async def test_my_requests_list_only_mine_newest_first_and_filter_by_status(api: Api) -> None:
    first = await api.request_topup("10.00")
    second = await api.request_topup("20.00")
    await api.request_topup("30.00", OTHER_CLINIC_USER)
    await api.post(f"/wallet/topup-requests/{first['id']}/cancel", CLINIC_USER)

    everything = (await api.get("/wallet/topup-requests/me", CLINIC_USER)).json()
    pending = (await api.get("/wallet/topup-requests/me", CLINIC_USER, params={"status": "pending"})).json()

    assert [r["id"] for r in everything["items"]] == [second["id"], first["id"]]
    assert everything["total"] == 2
    assert [r["id"] for r in pending["items"]] == [second["id"]]


async def test_root_lists_every_tenant_and_filters_by_tenant(api: Api) -> None:
    await api.request_topup("10.00")
    other = await api.request_topup("20.00", OTHER_CLINIC_USER)

    everyone = (await api.get("/wallet/topup-requests", OPERATOR)).json()
    filtered = (await api.get("/wallet/topup-requests", OPERATOR, params={"tenant_id": OTHER_CLINIC})).json()

    assert everyone["total"] == 2
    assert [r["id"] for r in filtered["items"]] == [other["id"]]


async def test_a_clinic_listing_another_tenant_gets_an_empty_page(api: Api) -> None:
    await api.request_topup("10.00", OTHER_CLINIC_USER)
    await api.request_topup("20.00")

    theirs = (await api.get("/wallet/topup-requests", CLINIC_USER, params={"tenant_id": OTHER_CLINIC})).json()
    mine = (await api.get("/wallet/topup-requests", CLINIC_USER)).json()

    assert theirs == {"items": [], "page": 1, "page_size": 20, "total": 0}
    assert [r["tenant_id"] for r in mine["items"]] == [CLINIC]


async def test_a_past_due_date_is_refused(api: Api) -> None:
    pending = await api.request_topup()
    yesterday = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()

    response = await api.post(f"/wallet/topup-requests/{pending['id']}/approve", OPERATOR, {"due_date": yesterday})

    assert_problem(response, 400, "validation_error")
