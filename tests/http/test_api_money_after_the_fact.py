"""Money that goes wrong after the fact, over HTTP (contract v3 §19, §24): reversing a paid top-up's payment, the
debt it leaves and what the debt refuses, and operators' adjustments with and without four eyes. Every refusal is
checked to change nothing the API shows (wallet, ledger, invoices, requests, adjustments) and to write no audit
row."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import attrs
import pytest
from api_support import (
    CLINIC,
    CLINIC_MANAGER,
    CLINIC_USER,
    OPERATOR,
    OTHER_CLINIC,
    ROOT,
    ROOT_VIEWER,
    Api,
    assert_problem,
    bearer,
    field_errors,
)
from httpx import Response

from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.handlers.invoices import SubscriptionLine
from billing.config import Settings
from billing.container import Container

SECOND_OPERATOR = bearer(ROOT, VIEW, MANAGE, user="operator-2")
ROOT_MANAGER_WITHOUT_VIEW = bearer(ROOT, MANAGE, user="operator-3")
BOUNCED = "the bank transfer bounced"
USA = "+14155552671"
CARD: dict[str, Any] = {
    "name": "Debt test card",
    "currency": "USD",
    "effective_from": "2025-01-01T00:00:00Z",
    "markets": {"US": "North America", "*": "Other"},
    "rates": [
        {"market": "North America", "category": "marketing", "unit_price": "0.025"},
        {"market": "North America", "category": "utility", "unit_price": "0.004"},
        {"market": "North America", "category": "service", "unit_price": "0"},
    ],
}
ADJUSTMENT_FIELDS = {
    "id",
    "tenant_id",
    "amount",
    "reason",
    "reference_id",
    "status",
    "proposed_by",
    "proposed_at",
    "decided_by",
    "decided_at",
    "transaction_id",
}
REVERSAL_FIELDS = {"paid_by", "reversed_at", "reversed_by", "reversal_reason", "reversed_amount", "debt_added"}


@pytest.fixture
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """The HTTP tests' settings; `@pytest.mark.parametrize("settings", [True], indirect=True)` turns four eyes on."""
    four_eyes: bool = getattr(request, "param", False)
    return attrs.evolve(settings, billing=attrs.evolve(settings.billing, four_eyes=four_eyes))


four_eyes = pytest.mark.parametrize("settings", [True], indirect=True, ids=["four-eyes"])


# What the API shows -------------------------------------------------------------------------------------------


async def _json(response: Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def wallet(api: Api, tenant: str = CLINIC) -> dict[str, Any]:
    body: dict[str, Any] = await _json(await api.get(f"/wallets/{tenant}", OPERATOR))
    return body


async def ledger(api: Api, tenant: str = CLINIC) -> list[dict[str, Any]]:
    """The tenant's ledger rows, newest first."""
    page = await _json(await api.get(f"/wallets/{tenant}/transactions", OPERATOR, params={"page_size": 100}))
    rows: list[dict[str, Any]] = page["items"]
    return rows


async def invoice(api: Api, invoice_id: str) -> dict[str, Any]:
    body: dict[str, Any] = await _json(await api.get(f"/invoices/{invoice_id}", OPERATOR))
    return body


async def topup_request(api: Api, request_id: str) -> dict[str, Any]:
    body: dict[str, Any] = await _json(await api.get(f"/wallet/topup-requests/{request_id}", OPERATOR))
    return body


async def adjustments(api: Api, tenant: str = CLINIC, **params: Any) -> list[dict[str, Any]]:
    page = await _json(await api.get(f"/wallets/{tenant}/adjustments", OPERATOR, params={"page_size": 100, **params}))
    items: list[dict[str, Any]] = page["items"]
    return items


async def audit_rows(api: Api, **params: Any) -> list[dict[str, Any]]:
    page = await _json(await api.get("/audit", OPERATOR, params={"page_size": 100, **params}))
    items: list[dict[str, Any]] = page["items"]
    return items


async def world(api: Api, tenant: str = CLINIC) -> dict[str, Any]:
    """Everything a refusal must leave as it was: the tenant's money, papers and adjustments, and the audit trail."""
    tenant_filter = {"tenant_id": tenant, "page_size": 100}
    return {
        "wallet": await wallet(api, tenant),
        "ledger": await ledger(api, tenant),
        "invoices": await _json(await api.get("/invoices", OPERATOR, params=tenant_filter)),
        "requests": await _json(await api.get("/wallet/topup-requests", OPERATOR, params=tenant_filter)),
        "adjustments": await adjustments(api, tenant),
        "audit": await audit_rows(api),
    }


# Building a state ---------------------------------------------------------------------------------------------


async def reverse(api: Api, invoice_id: str, body: Any = None, headers: dict[str, str] = OPERATOR) -> Response:
    return await api.post(
        f"/invoices/{invoice_id}/reverse-payment", headers, {"reason": BOUNCED} if body is None else body
    )


async def charge(api: Api, amount: str, reference_id: str, headers: dict[str, str] = OPERATOR) -> Response:
    return await api.post(f"/wallets/{CLINIC}/charges", headers, {"amount": amount, "reference_id": reference_id})


async def in_debt(api: Api) -> dict[str, Any]:
    """150.00 paid, 100.00 spent, then the 150.00 bounced: 50.00 taken back, 100.00 owed. The reversed invoice."""
    paid = await api.fund("150.00")
    assert (await charge(api, "100.00", "wamid.spent")).status_code == 201
    response = await reverse(api, paid["id"])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def paid_by_second_operator(api: Api, amount: str = "150.00") -> dict[str, Any]:
    """A top-up approved by operator-1 and marked paid by operator-2 (as four eyes want it). The paid invoice."""
    request = await api.invoiced(amount)
    response = await api.post(
        f"/invoices/{request['invoice_id']}/mark-paid", SECOND_OPERATOR, {"payment_reference": "bank-4e"}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def adjust(
    api: Api,
    amount: object = "10.00",
    reference_id: str = "adj-1",
    reason: object = "goodwill credit",
    headers: dict[str, str] = OPERATOR,
    tenant: str = CLINIC,
) -> Response:
    body = {"amount": amount, "reason": reason, "reference_id": reference_id}
    return await api.post(f"/wallets/{tenant}/adjustments", headers, body)


async def adjusted(api: Api, amount: object = "10.00", reference_id: str = "adj-1", **options: Any) -> dict[str, Any]:
    response = await adjust(api, amount, reference_id, **options)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def approve(api: Api, adjustment_id: str, headers: dict[str, str] = SECOND_OPERATOR) -> Response:
    return await api.post(f"/adjustments/{adjustment_id}/approve", headers)


async def reject(api: Api, adjustment_id: str, body: Any = None, headers: dict[str, str] = SECOND_OPERATOR) -> Response:
    return await api.post(
        f"/adjustments/{adjustment_id}/reject", headers, {"reason": "not agreed"} if body is None else body
    )


# POST /invoices/{id}/reverse-payment ---------------------------------------------------------------------------


async def test_a_reversal_takes_the_credit_back_and_closes_invoice_and_request(api: Api) -> None:
    paid = await api.fund("150.00")
    assert paid["paid_by"] == "operator-1"
    assert {paid[field] for field in REVERSAL_FIELDS - {"paid_by"}} == {None}

    response = await reverse(api, paid["id"], headers=SECOND_OPERATOR)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body.keys() >= REVERSAL_FIELDS
    assert (body["id"], body["status"], body["paid_by"], body["reversed_by"]) == (
        paid["id"],
        "payment_reversed",
        "operator-1",
        "operator-2",
    )
    assert (body["reversal_reason"], body["reversed_amount"], body["debt_added"]) == (BOUNCED, "150.00", "0.00")
    assert body["reversed_at"] is not None
    assert await invoice(api, paid["id"]) == body
    request = await topup_request(api, paid["topup_request_id"])
    assert request["status"] == "reversed"
    assert request["reversed_at"] == body["reversed_at"]
    money = await wallet(api)
    assert (money["balance"], money["available"], money["debt"]) == ("0.00", "0.00", "0.00")
    newest = (await ledger(api))[0]
    assert (newest["kind"], newest["amount"], newest["balance_after"], newest["reference_id"]) == (
        "payment_reversal",
        "-150.00",
        "0.00",
        paid["topup_request_id"],
    )


async def test_a_reversal_available_cannot_cover_leaves_debt_on_the_wallet(api: Api) -> None:
    body = await in_debt(api)

    assert (body["reversed_amount"], body["debt_added"]) == ("50.00", "100.00")
    money = await wallet(api)
    assert (money["balance"], money["available"], money["debt"]) == ("0.00", "0.00", "100.00")
    mine = await _json(await api.get("/wallet/me", CLINIC_USER))
    assert (mine["balance"], mine["debt"]) == ("0.00", "100.00")
    assert next((row["kind"], row["amount"]) for row in await ledger(api)) == ("payment_reversal", "-50.00")


async def test_a_reversal_of_money_already_spent_writes_no_ledger_row(api: Api) -> None:
    paid = await api.fund("20.00")
    assert (await charge(api, "20.00", "wamid.all")).status_code == 201
    before = await ledger(api)

    body = await _json(await reverse(api, paid["id"]))

    assert (body["reversed_amount"], body["debt_added"]) == ("0.00", "20.00")
    assert await ledger(api) == before
    assert (await wallet(api))["debt"] == "20.00"


async def test_a_new_wallet_shows_no_debt(api: Api) -> None:
    assert (await _json(await api.get("/wallet/me", CLINIC_USER)))["debt"] == "0.00"


async def test_a_wallet_in_debt_refuses_billable_holds_and_charges_with_409(api: Api) -> None:
    assert (await api.post("/rate-cards", OPERATOR, CARD)).status_code == 201
    await in_debt(api)
    before = await world(api)

    held = await api.post(
        f"/wallets/{CLINIC}/holds",
        {**OPERATOR, "X-Request-ID": "debt-hold-1"},
        {"message_id": "wamid.billable", "category": "marketing", "recipient": USA},
    )
    charged = await charge(api, "1.00", "wamid.direct")

    problem = assert_problem(held, 409, "wallet_in_debt")
    assert problem["request_id"] == "debt-hold-1" == held.headers["x-request-id"]
    assert assert_problem(charged, 409, "wallet_in_debt")["request_id"] == charged.headers["x-request-id"]
    assert await world(api) == before


async def test_a_wallet_in_debt_still_places_free_holds(api: Api) -> None:
    assert (await api.post("/rate-cards", OPERATOR, CARD)).status_code == 201
    await in_debt(api)

    response = await api.post(
        f"/wallets/{CLINIC}/holds", OPERATOR, {"message_id": "wamid.free", "category": "service", "recipient": USA}
    )

    assert response.status_code == 201, response.text
    assert response.json()["amount"] == "0.00"


async def test_the_next_top_up_repays_the_debt_first(api: Api) -> None:
    await in_debt(api)
    again = await api.fund("30.00")

    money = await wallet(api)
    assert (money["balance"], money["available"], money["debt"]) == ("0.00", "0.00", "70.00")
    newest = (await ledger(api))[0]
    assert (newest["kind"], newest["amount"], newest["reference_id"]) == (
        "debt_repayment",
        "-30.00",
        again["topup_request_id"],
    )


@pytest.mark.parametrize(
    "headers",
    [CLINIC_MANAGER, CLINIC_USER, ROOT_VIEWER],
    ids=["a clinic with Manage", "a clinic", "root without Manage"],
)
async def test_only_an_operator_may_reverse_a_payment(api: Api, headers: dict[str, str]) -> None:
    paid = await api.fund("150.00")
    before = await world(api)

    assert_problem(await reverse(api, paid["id"], headers=headers), 403, "forbidden")

    assert await world(api) == before


async def test_reversing_an_unknown_invoice_is_404(api: Api) -> None:
    await api.fund("150.00")
    before = await world(api)

    assert_problem(await reverse(api, str(uuid4())), 404, "not_found")

    assert await world(api) == before


async def test_reversing_a_malformed_invoice_id_is_400(api: Api) -> None:
    await api.fund("150.00")
    before = await world(api)

    assert list(field_errors(await reverse(api, "not-a-uuid"))) == ["invoice_id"]

    assert await world(api) == before


async def _issued(api: Api) -> str:
    return str((await api.invoiced())["invoice_id"])


async def _voided(api: Api) -> str:
    invoice_id = await _issued(api)
    assert (await api.post(f"/invoices/{invoice_id}/void", OPERATOR, {"reason": "ordered twice"})).status_code == 200
    return invoice_id


async def _paid_subscription(api: Api, container: Container) -> str:
    operator = container.service().acting_as(Caller("operator-1", ROOT, frozenset([VIEW, MANAGE])))
    created = await operator.create_subscription_invoice(CLINIC, "2026-11", [SubscriptionLine("Plan", "49.00")])
    response = await api.post(f"/invoices/{created.id}/mark-paid", OPERATOR, {"payment_reference": "bank-sub"})
    assert response.status_code == 200, response.text
    return str(created.id)


async def _reversed(api: Api) -> str:
    paid = await api.fund("150.00")
    assert (await reverse(api, paid["id"])).status_code == 200
    return str(paid["id"])


@pytest.mark.parametrize("state", ["issued", "void", "paid subscription", "already reversed"])
async def test_only_a_paid_top_up_invoice_can_be_reversed(api: Api, container: Container, state: str) -> None:
    await api.fund("80.00")  # money on the wallet that a wrong reversal could take
    if state == "paid subscription":
        invoice_id = await _paid_subscription(api, container)
    else:
        invoice_id = await {"issued": _issued, "void": _voided, "already reversed": _reversed}[state](api)
    before = await world(api)

    assert_problem(await reverse(api, invoice_id), 409, "invalid_state")

    assert await world(api) == before


@pytest.mark.parametrize(
    "body",
    [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 513}, {"reason": None}],
    ids=["missing", "empty", "blank", "513 characters", "null"],
)
async def test_a_reversal_needs_a_reason_of_1_to_512_characters(api: Api, body: dict[str, Any]) -> None:
    paid = await api.fund("150.00")
    before = await world(api)

    assert "reason" in field_errors(await reverse(api, paid["id"], body))

    assert await world(api) == before


async def test_a_reason_of_512_characters_is_enough(api: Api) -> None:
    paid = await api.fund("150.00")

    response = await reverse(api, paid["id"], {"reason": "x" * 512})

    assert response.status_code == 200, response.text
    assert response.json()["reversal_reason"] == "x" * 512


@four_eyes
async def test_with_four_eyes_who_marked_it_paid_cannot_reverse_it(api: Api) -> None:
    paid = await paid_by_second_operator(api)
    before = await world(api)

    assert_problem(await reverse(api, paid["id"], headers=SECOND_OPERATOR), 403, "forbidden")
    assert await world(api) == before

    response = await reverse(api, paid["id"])  # operator-1 approved the top-up, but did not mark it paid
    assert response.status_code == 200, response.text
    assert (response.json()["paid_by"], response.json()["reversed_by"]) == ("operator-2", "operator-1")


async def test_without_four_eyes_who_marked_it_paid_may_reverse_it(api: Api) -> None:
    paid = await api.fund("150.00")

    response = await reverse(api, paid["id"])

    assert response.status_code == 200, response.text
    assert response.json()["paid_by"] == response.json()["reversed_by"] == "operator-1"


# POST /wallets/{tenant_id}/adjustments -----------------------------------------------------------------------------


async def test_an_adjustment_is_applied_at_once_without_four_eyes(api: Api) -> None:
    response = await adjust(api, "12.5", "ticket-77", "goodwill credit")

    assert response.status_code == 201, response.text
    body = response.json()
    assert body.keys() >= ADJUSTMENT_FIELDS
    assert (body["tenant_id"], body["amount"], body["reason"], body["reference_id"], body["status"]) == (
        CLINIC,
        "12.50",
        "goodwill credit",
        "ticket-77",
        "applied",
    )
    assert body["proposed_by"] == body["decided_by"] == "operator-1"
    assert body["proposed_at"] is not None
    assert body["decided_at"] is not None
    row = (await ledger(api))[0]
    assert (row["id"], row["kind"], row["amount"], row["reference_id"]) == (
        body["transaction_id"],
        "adjustment",
        "12.50",
        "ticket-77",
    )
    assert (await wallet(api))["balance"] == "12.50"
    assert await adjustments(api) == [body]


async def test_a_negative_adjustment_within_available_is_applied(api: Api) -> None:
    await api.fund("20.00")

    body = await adjusted(api, "-7.0025", "fee-1")

    assert (body["amount"], body["status"]) == ("-7.0025", "applied")
    assert (await wallet(api))["available"] == "12.9975"


async def test_the_same_reference_and_amount_again_answers_the_first_with_200(api: Api) -> None:
    first = await adjusted(api, "10.00", "adj-1")
    before = await world(api)

    response = await adjust(api, "10", "adj-1", "said again")

    assert response.status_code == 200, response.text
    assert response.json() == first
    assert await world(api) == before


async def test_the_same_reference_with_another_amount_is_409_duplicate(api: Api) -> None:
    await adjusted(api, "10.00", "adj-1")
    before = await world(api)

    assert_problem(await adjust(api, "10.01", "adj-1"), 409, "duplicate")

    assert await world(api) == before


async def test_another_tenant_may_use_the_same_reference(api: Api) -> None:
    await adjusted(api, "10.00", "adj-1")

    response = await adjust(api, "5.00", "adj-1", tenant=OTHER_CLINIC)

    assert response.status_code == 201, response.text
    assert (await wallet(api, OTHER_CLINIC))["balance"] == "5.00"


async def test_a_debit_beyond_available_is_409_and_creates_nothing(api: Api) -> None:
    await api.fund("10.00")
    before = await world(api)

    assert_problem(await adjust(api, "-10.01", "fee-1"), 409, "insufficient_funds")

    assert await world(api) == before
    assert await adjustments(api) == []


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": "1.00001"}, "amount"),
        ({"amount": 1.00001}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "-0.00"}, "amount"),
        ({"amount": 0}, "amount"),
        ({"reason": ""}, "reason"),
        ({"reason": "x" * 513}, "reason"),
        ({"reference_id": ""}, "reference_id"),
        ({"reference_id": "r" * 201}, "reference_id"),
    ],
    ids=[
        "5 fractional digits",
        "5 fractional digits as a number",
        "zero",
        "negative zero",
        "zero as a number",
        "empty reason",
        "reason of 513",
        "empty reference",
        "reference of 201",
    ],
)
async def test_an_invalid_adjustment_is_400_and_creates_nothing(api: Api, changes: dict[str, Any], field: str) -> None:
    await api.fund("10.00")
    before = await world(api)
    body = {"amount": "1.00", "reason": "correction", "reference_id": "adj-1", **changes}

    response = await api.post(f"/wallets/{CLINIC}/adjustments", OPERATOR, body)

    assert field in field_errors(response)
    assert await world(api) == before


@pytest.mark.parametrize("missing", ["amount", "reason", "reference_id"])
async def test_each_adjustment_field_is_required(api: Api, missing: str) -> None:
    body = {"amount": "1.00", "reason": "correction", "reference_id": "adj-1"}
    del body[missing]

    assert missing in field_errors(await api.post(f"/wallets/{CLINIC}/adjustments", OPERATOR, body))
    assert await adjustments(api) == []


async def test_the_longest_reason_and_reference_are_accepted(api: Api) -> None:
    body = await adjusted(api, "1.00", "r" * 200, reason="x" * 512)

    assert (body["reference_id"], body["reason"]) == ("r" * 200, "x" * 512)


@pytest.mark.parametrize(
    "headers",
    [CLINIC_MANAGER, ROOT_VIEWER],
    ids=["a clinic crediting itself", "root without Manage"],
)
async def test_only_an_operator_may_adjust_a_wallet(api: Api, headers: dict[str, str]) -> None:
    before = await world(api)

    assert_problem(await adjust(api, headers=headers), 403, "forbidden")

    assert await world(api) == before


@pytest.mark.parametrize("headers", [CLINIC_USER, ROOT_MANAGER_WITHOUT_VIEW], ids=["a clinic", "root without View"])
async def test_only_root_with_view_lists_adjustments(api: Api, headers: dict[str, str]) -> None:
    await adjusted(api)

    assert_problem(await api.get(f"/wallets/{CLINIC}/adjustments", headers), 403, "forbidden")


async def test_adjustments_are_listed_newest_first_per_tenant(api: Api) -> None:
    first = await adjusted(api, "1.00", "adj-1")
    second = await adjusted(api, "2.00", "adj-2")
    await adjusted(api, "3.00", "adj-3", tenant=OTHER_CLINIC)

    page = await _json(await api.get(f"/wallets/{CLINIC}/adjustments", ROOT_VIEWER, params={"page_size": 1}))

    assert (page["total"], page["page"], page["page_size"]) == (2, 1, 1)
    assert [item["id"] for item in page["items"]] == [second["id"]]
    assert [item["id"] for item in await adjustments(api)] == [second["id"], first["id"]]
    assert [item["id"] for item in await adjustments(api, status="applied")] == [second["id"], first["id"]]
    assert await adjustments(api, status="proposed") == []


async def test_an_unknown_status_filter_is_400(api: Api) -> None:
    response = await api.get(f"/wallets/{CLINIC}/adjustments", OPERATOR, params={"status": "approved"})

    assert_problem(response, 400, "validation_error")


# Four eyes: propose, approve, reject ----------------------------------------------------------------------------


@four_eyes
async def test_with_four_eyes_an_adjustment_is_proposed_and_moves_no_money(api: Api) -> None:
    before = await wallet(api)

    body = await adjusted(api, "10.00", "adj-1")

    assert (body["status"], body["proposed_by"], body["decided_by"], body["decided_at"], body["transaction_id"]) == (
        "proposed",
        "operator-1",
        None,
        None,
        None,
    )
    assert await wallet(api) == before
    assert await ledger(api) == []


@four_eyes
async def test_with_four_eyes_the_proposer_cannot_approve_and_another_operator_applies(api: Api) -> None:
    proposed = await adjusted(api, "10.00", "adj-1")
    before = await world(api)

    assert_problem(await approve(api, proposed["id"], OPERATOR), 403, "forbidden")
    assert await world(api) == before

    response = await approve(api, proposed["id"])

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["id"], body["status"], body["proposed_by"], body["decided_by"]) == (
        proposed["id"],
        "applied",
        "operator-1",
        "operator-2",
    )
    assert body["transaction_id"] == (await ledger(api))[0]["id"]
    assert (await wallet(api))["balance"] == "10.00"


@four_eyes
async def test_with_four_eyes_a_rejected_adjustment_cannot_be_approved(api: Api) -> None:
    proposed = await adjusted(api, "10.00", "adj-1")

    response = await reject(api, proposed["id"], {"reason": "no ticket for it"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["decided_by"], body["transaction_id"]) == ("rejected", "operator-2", None)
    before = await world(api)
    assert_problem(await approve(api, proposed["id"]), 409, "invalid_state")
    assert_problem(await reject(api, proposed["id"]), 409, "invalid_state")
    assert await world(api) == before
    assert (await wallet(api))["balance"] == "0.00"


@four_eyes
async def test_with_four_eyes_an_applied_adjustment_cannot_be_applied_again(api: Api) -> None:
    proposed = await adjusted(api, "10.00", "adj-1")
    assert (await approve(api, proposed["id"])).status_code == 200
    before = await world(api)

    assert_problem(
        await approve(api, proposed["id"], bearer(ROOT, VIEW, MANAGE, user="operator-3")), 409, "invalid_state"
    )
    assert_problem(await reject(api, proposed["id"]), 409, "invalid_state")

    assert await world(api) == before


@four_eyes
async def test_with_four_eyes_funds_are_checked_when_applied_and_it_stays_proposed(api: Api) -> None:
    await paid_by_second_operator(api, "10.00")
    proposed = await adjusted(api, "-10.00", "fee-1")
    assert (await charge(api, "0.01", "wamid.1")).status_code == 201
    before = await world(api)

    assert_problem(await approve(api, proposed["id"]), 409, "insufficient_funds")

    assert await world(api) == before
    assert [item["status"] for item in await adjustments(api)] == ["proposed"]


@four_eyes
async def test_the_status_filter_lists_each_kind(api: Api) -> None:
    applied = await adjusted(api, "1.00", "adj-1")
    assert (await approve(api, applied["id"])).status_code == 200
    rejected = await adjusted(api, "2.00", "adj-2")
    assert (await reject(api, rejected["id"])).status_code == 200
    proposed = await adjusted(api, "3.00", "adj-3")

    assert [item["id"] for item in await adjustments(api, status="proposed")] == [proposed["id"]]
    assert [item["id"] for item in await adjustments(api, status="applied")] == [applied["id"]]
    assert [item["id"] for item in await adjustments(api, status="rejected")] == [rejected["id"]]
    assert [item["id"] for item in await adjustments(api)] == [proposed["id"], rejected["id"], applied["id"]]


@four_eyes
@pytest.mark.parametrize(
    "body",
    [{}, {"reason": ""}, {"reason": "x" * 513}],
    ids=["missing", "empty", "513 characters"],
)
async def test_a_rejection_needs_a_reason_of_1_to_512_characters(api: Api, body: dict[str, Any]) -> None:
    proposed = await adjusted(api)
    before = await world(api)

    assert "reason" in field_errors(await reject(api, proposed["id"], body))

    assert await world(api) == before


@four_eyes
@pytest.mark.parametrize("route", ["approve", "reject"])
@pytest.mark.parametrize("headers", [CLINIC_MANAGER, ROOT_VIEWER], ids=["a clinic with Manage", "root without Manage"])
async def test_only_an_operator_decides_an_adjustment(api: Api, route: str, headers: dict[str, str]) -> None:
    proposed = await adjusted(api)
    before = await world(api)

    response = await (
        approve(api, proposed["id"], headers) if route == "approve" else reject(api, proposed["id"], headers=headers)
    )

    assert_problem(response, 403, "forbidden")
    assert await world(api) == before


@pytest.mark.parametrize("route", ["approve", "reject"])
async def test_deciding_an_unknown_or_malformed_adjustment(api: Api, route: str) -> None:
    decide = approve if route == "approve" else reject

    assert_problem(await decide(api, str(uuid4())), 404, "not_found")
    assert list(field_errors(await decide(api, "not-a-uuid"))) == ["adjustment_id"]
