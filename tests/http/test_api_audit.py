"""The audit trail over HTTP (contract v3 §20): a person's change writes one row naming the HTTP operation, the
actor, the target, the request's id and the client's address; operators read every row with filters, a clinic
reads its own without addresses and without operators' names; refusals, idempotent replays and per-message money
moves write nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from api_support import (
    CLINIC,
    CLINIC_MANAGER,
    CLINIC_USER,
    OPERATOR,
    OTHER_CLINIC,
    OTHER_CLINIC_USER,
    ROOT,
    ROOT_VIEWER,
    Api,
    assert_problem,
    bearer,
    field_errors,
)
from httpx import Response

from billing.application.caller import MANAGE

ROOT_MANAGER_WITHOUT_VIEW = bearer(ROOT, MANAGE, user="operator-3")
ROW_FIELDS = {"id", "at", "tenant_id", "actor", "action", "target", "request_id", "ip", "details"}
CARD: dict[str, Any] = {
    "name": "Audit test card",
    "currency": "USD",
    "effective_from": "2025-01-01T00:00:00Z",
    "markets": {"US": "North America", "*": "Other"},
    "rates": [{"market": "North America", "category": "utility", "unit_price": "0.004"}],
}
USA = "+14155552671"
DAY_ONE = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


async def audit_page(api: Api, headers: dict[str, str] = OPERATOR, path: str = "/audit", **params: Any) -> Any:
    response = await api.get(path, headers, params={"page_size": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()


async def rows(api: Api, headers: dict[str, str] = OPERATOR, path: str = "/audit", **params: Any) -> list[Any]:
    items: list[Any] = (await audit_page(api, headers, path, **params))["items"]
    return items


async def my_rows(api: Api, headers: dict[str, str] = CLINIC_USER, **params: Any) -> list[Any]:
    return await rows(api, headers, "/wallet/me/audit", **params)


async def total(api: Api) -> int:
    count: int = (await audit_page(api))["total"]
    return count


def actions(items: list[dict[str, Any]]) -> list[str]:
    return [item["action"] for item in items]


def created(response: Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


async def approve(api: Api, request_id: str, headers: dict[str, str] = OPERATOR) -> Response:
    return await api.post(f"/wallet/topup-requests/{request_id}/approve", headers, {})


# The row of a change ---------------------------------------------------------------------------------------------


async def test_an_approval_over_http_writes_one_row_naming_operation_actor_target_and_request(api: Api) -> None:
    request = await api.request_topup("150.00")
    before = await total(api)

    response = await approve(api, request["id"], {**OPERATOR, "X-Request-ID": "req-approve-1"})

    assert response.status_code == 200, response.text
    assert await total(api) == before + 1
    [row] = await rows(api, action="approve_topup_request")
    assert row.keys() >= ROW_FIELDS
    assert row["tenant_id"] == CLINIC
    assert row["actor"] == {"kind": "user", "sub": "operator-1", "tenant": ROOT}
    assert row["target"] == {"type": "topup_request", "id": request["id"]}
    assert row["request_id"] == "req-approve-1"
    assert row["ip"] is not None
    assert datetime.fromisoformat(row["at"]) >= datetime.fromisoformat(request["requested_at"])


async def test_a_row_keeps_the_request_id_the_app_made(api: Api) -> None:
    response = await api.post("/wallet/topup-requests", CLINIC_USER, {"amount": "20.00"})

    assert response.status_code == 201, response.text
    [row] = await rows(api, action="request_topup")
    assert row["request_id"] == response.headers["x-request-id"]
    assert row["actor"] == {"kind": "user", "sub": "clinic-user", "tenant": CLINIC}
    assert row["target"] == {"type": "topup_request", "id": response.json()["id"]}


async def test_the_action_is_the_http_operation_id_not_the_in_process_name(api: Api) -> None:
    adjustment = created(
        await api.post(
            f"/wallets/{CLINIC}/adjustments", OPERATOR, {"amount": "5.00", "reason": "goodwill", "reference_id": "a-1"}
        )
    )
    paid = await api.fund("40.00")
    reversal = await api.post(f"/invoices/{paid['id']}/reverse-payment", OPERATOR, {"reason": "bounced"})
    assert reversal.status_code == 200, reversal.text

    [adjusted] = await rows(api, target_id=adjustment["id"])
    assert (adjusted["action"], adjusted["target"]) == (
        "create_adjustment",
        {"type": "adjustment", "id": adjustment["id"]},
    )
    assert adjusted["tenant_id"] == CLINIC
    invoice_rows = await rows(api, target_id=paid["id"])
    assert actions(invoice_rows) == ["reverse_payment", "mark_invoice_paid"]
    assert {row["target"]["type"] for row in invoice_rows} == {"invoice"}


# Reading: GET /audit --------------------------------------------------------------------------------------------


@pytest.fixture
async def history(api: Api) -> dict[str, Any]:
    """Day one: clinic-a and clinic-b request top-ups, operator-1 approves clinic-a's. Day four: operator-1 rejects
    clinic-b's. Rows come back newest first."""
    api.clock.current = DAY_ONE
    mine = await api.request_topup("150.00")
    theirs = await api.request_topup("30.00", OTHER_CLINIC_USER)
    await api.approve(mine["id"])
    api.clock.advance(timedelta(days=3))
    rejected = await api.post(f"/wallet/topup-requests/{theirs['id']}/reject", OPERATOR, {"reason": "no contract"})
    assert rejected.status_code == 200, rejected.text
    return {"mine": mine["id"], "theirs": theirs["id"]}


async def test_every_row_newest_first(api: Api, history: dict[str, Any]) -> None:
    items = await rows(api)

    assert actions(items) == ["reject_topup_request", "approve_topup_request", "request_topup", "request_topup"]
    assert [item["target"]["id"] for item in items] == [
        history["theirs"],
        history["mine"],
        history["theirs"],
        history["mine"],
    ]
    times = [datetime.fromisoformat(item["at"]) for item in items]
    assert times == sorted(times, reverse=True)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"tenant_id": OTHER_CLINIC}, [("reject_topup_request", "theirs"), ("request_topup", "theirs")]),
        ({"tenant_id": CLINIC}, [("approve_topup_request", "mine"), ("request_topup", "mine")]),
        ({"actor": "other-user"}, [("request_topup", "theirs")]),
        ({"actor": "operator-1"}, [("reject_topup_request", "theirs"), ("approve_topup_request", "mine")]),
        ({"action": "approve_topup_request"}, [("approve_topup_request", "mine")]),
        ({"action": "request_topup"}, [("request_topup", "theirs"), ("request_topup", "mine")]),
        ({"from": "2026-03-13"}, [("reject_topup_request", "theirs")]),
        (
            {"to": "2026-03-10"},
            [("approve_topup_request", "mine"), ("request_topup", "theirs"), ("request_topup", "mine")],
        ),
        ({"from": "2026-03-11", "to": "2026-03-12"}, []),
        ({"from": "2026-03-10", "to": "2026-03-10", "actor": "operator-1"}, [("approve_topup_request", "mine")]),
        ({"tenant_id": "clinic-z"}, []),
        ({"actor": "nobody"}, []),
    ],
    ids=[
        "tenant_id other",
        "tenant_id mine",
        "actor clinic",
        "actor operator",
        "action approve",
        "action request",
        "from",
        "to",
        "from-to without rows",
        "one day and an actor",
        "tenant without rows",
        "actor without rows",
    ],
)
async def test_the_filters(
    api: Api, history: dict[str, Any], params: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    page = await audit_page(api, **params)

    assert [(item["action"], item["target"]["id"]) for item in page["items"]] == [
        (action, history[target]) for action, target in expected
    ]
    assert page["total"] == len(expected)


async def test_the_target_id_filter(api: Api, history: dict[str, Any]) -> None:
    items = await rows(api, target_id=history["mine"])

    assert actions(items) == ["approve_topup_request", "request_topup"]
    assert {item["target"]["id"] for item in items} == {history["mine"]}


async def test_pages_newest_first(api: Api, history: dict[str, Any]) -> None:
    everything = await rows(api)

    first = await audit_page(api, page=1, page_size=3)
    second = await audit_page(api, page=2, page_size=3)

    assert (first["page"], first["page_size"], first["total"]) == (1, 3, 4)
    assert (second["page"], second["total"]) == (2, 4)
    assert [item["id"] for item in first["items"] + second["items"]] == [item["id"] for item in everything]
    assert len(second["items"]) == 1


@pytest.mark.parametrize("path", ["/audit", "/wallet/me/audit"])
async def test_from_after_to_is_400(api: Api, path: str) -> None:
    response = await api.get(
        path, OPERATOR if path == "/audit" else CLINIC_USER, params={"from": "2026-03-11", "to": "2026-03-10"}
    )

    assert_problem(response, 400, "validation_error")


@pytest.mark.parametrize("params", [{"from": "yesterday"}, {"to": "2026-02-30"}, {"page_size": 101}, {"page": 0}])
async def test_malformed_query_is_400(api: Api, params: dict[str, Any]) -> None:
    assert_problem(await api.get("/audit", OPERATOR, params=params), 400, "validation_error")


@pytest.mark.parametrize(
    "headers",
    [CLINIC_USER, CLINIC_MANAGER, ROOT_MANAGER_WITHOUT_VIEW],
    ids=["a clinic", "a clinic with Manage", "root without View"],
)
async def test_only_root_with_view_reads_the_whole_trail(api: Api, headers: dict[str, str]) -> None:
    await api.request_topup()

    assert_problem(await api.get("/audit", headers), 403, "forbidden")
    assert_problem(await api.get("/audit", headers, params={"tenant_id": CLINIC}), 403, "forbidden")


async def test_a_root_viewer_reads_the_trail(api: Api) -> None:
    await api.request_topup()

    assert actions(await rows(api, ROOT_VIEWER)) == ["request_topup"]


async def test_the_trail_needs_a_token(api: Api) -> None:
    assert_problem(await api.get("/audit", {}), 401, "unauthorized")
    assert_problem(await api.get("/wallet/me/audit", {}), 401, "unauthorized")


# Reading: GET /wallet/me/audit ----------------------------------------------------------------------------------


async def test_a_clinic_reads_only_its_own_rows(api: Api, history: dict[str, Any]) -> None:
    mine = await my_rows(api)
    theirs = await my_rows(api, OTHER_CLINIC_USER)

    assert [(item["action"], item["target"]["id"]) for item in mine] == [
        ("approve_topup_request", history["mine"]),
        ("request_topup", history["mine"]),
    ]
    assert [(item["action"], item["target"]["id"]) for item in theirs] == [
        ("reject_topup_request", history["theirs"]),
        ("request_topup", history["theirs"]),
    ]
    assert {item["tenant_id"] for item in mine} == {CLINIC}
    assert {item["tenant_id"] for item in theirs} == {OTHER_CLINIC}


async def test_a_clinic_sees_no_address_and_operators_only_as_the_platform(api: Api, history: dict[str, Any]) -> None:
    assert all(row["ip"] is not None for row in await rows(api, tenant_id=CLINIC))

    mine = await my_rows(api)

    assert [item["ip"] for item in mine] == [None, None]
    assert [item["actor"] for item in mine] == [
        {"kind": "user", "sub": None, "tenant": ROOT},
        {"kind": "user", "sub": "clinic-user", "tenant": CLINIC},
    ]
    assert [item["request_id"] for item in mine] == [item["request_id"] for item in await rows(api, tenant_id=CLINIC)]


async def test_a_clinic_cannot_find_an_operator_by_name(api: Api, history: dict[str, Any]) -> None:
    assert await my_rows(api, actor="operator-1") == []
    assert actions(await my_rows(api, actor="clinic-user")) == ["request_topup"]


async def test_a_clinic_filters_its_own_rows(api: Api, history: dict[str, Any]) -> None:
    assert actions(await my_rows(api, action="request_topup")) == ["request_topup"]
    assert actions(await my_rows(api, target_id=history["theirs"])) == []
    assert actions(await my_rows(api, OTHER_CLINIC_USER, **{"from": "2026-03-13"})) == ["reject_topup_request"]
    assert actions(await my_rows(api, **{"to": "2026-03-09"})) == []


async def test_a_clinic_pages_its_rows_newest_first(api: Api, history: dict[str, Any]) -> None:
    page = await audit_page(api, CLINIC_USER, "/wallet/me/audit", page=2, page_size=1)

    assert (page["page"], page["page_size"], page["total"]) == (2, 1, 2)
    assert actions(page["items"]) == ["request_topup"]


async def test_the_own_trail_needs_view(api: Api) -> None:
    assert_problem(await api.get("/wallet/me/audit", bearer(CLINIC, MANAGE, user="m")), 403, "forbidden")


# What writes no row ---------------------------------------------------------------------------------------------


async def test_refused_requests_write_no_row(api: Api) -> None:
    request = await api.request_topup()
    approved = await api.invoiced()
    before = await rows(api)

    assert_problem(await approve(api, request["id"], CLINIC_MANAGER), 403, "forbidden")
    assert_problem(await approve(api, approved["id"]), 409, "invalid_state")
    rejected = await api.post(f"/wallet/topup-requests/{request['id']}/reject", OPERATOR, {"reason": ""})
    assert "reason" in field_errors(rejected)
    assert_problem(
        await api.post(f"/wallet/topup-requests/{request['id']}/cancel", OTHER_CLINIC_USER), 404, "not_found"
    )
    assert_problem(await api.post("/wallet/topup-requests", CLINIC_USER, {"amount": "0.10"}), 400, "validation_error")
    assert_problem(
        await api.post(
            f"/wallets/{CLINIC}/adjustments", OPERATOR, {"amount": "-1.00", "reason": "x", "reference_id": "r"}
        ),
        409,
        "insufficient_funds",
    )
    paid_reversal = await api.post(f"/invoices/{approved['invoice_id']}/reverse-payment", OPERATOR, {"reason": "x"})
    assert_problem(paid_reversal, 409, "invalid_state")

    assert await rows(api) == before


@pytest.mark.parametrize(
    ("path", "body", "headers"),
    [
        ("/wallet/topup-requests", {"amount": "20.00"}, CLINIC_USER),
        (f"/wallets/{CLINIC}/adjustments", {"amount": "3.00", "reason": "goodwill", "reference_id": "a-1"}, OPERATOR),
    ],
    ids=["request_topup", "create_adjustment"],
)
async def test_an_idempotent_replay_writes_no_row(
    api: Api, path: str, body: dict[str, str], headers: dict[str, str]
) -> None:
    keyed = {**headers, "Idempotency-Key": "key-1"}
    first = await api.post(path, {**keyed, "X-Request-ID": "first"}, body)
    assert first.status_code == 201, first.text
    before = await rows(api)

    replay = await api.post(path, {**keyed, "X-Request-ID": "second"}, body)

    assert replay.status_code == 201, replay.text
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    assert await rows(api) == before
    assert [row["request_id"] for row in before] == ["first"]


async def test_a_repeated_adjustment_reference_writes_no_second_row(api: Api) -> None:
    body = {"amount": "3.00", "reason": "goodwill", "reference_id": "a-1"}
    assert (await api.post(f"/wallets/{CLINIC}/adjustments", OPERATOR, body)).status_code == 201
    before = await rows(api)

    again = await api.post(f"/wallets/{CLINIC}/adjustments", OPERATOR, body)

    assert again.status_code == 200, again.text
    assert await rows(api) == before


async def test_holds_settles_voids_and_charges_write_no_row(api: Api) -> None:
    assert (await api.post("/rate-cards", OPERATOR, CARD)).status_code == 201
    await api.fund("10.00")
    before = await rows(api)
    holds = f"/wallets/{CLINIC}/holds"

    for path, body in [
        (holds, {"message_id": "wamid.1", "category": "utility", "recipient": USA}),
        (f"{holds}/settle", {"message_id": "wamid.1"}),
        (holds, {"message_id": "wamid.2", "category": "utility", "recipient": USA}),
        (f"{holds}/void", {"message_id": "wamid.2"}),
        (f"{holds}/batch", {"messages": [{"message_id": "wamid.3", "category": "utility", "recipient": USA}]}),
        (f"/wallets/{CLINIC}/charges", {"amount": "1.00", "reference_id": "wamid.4"}),
    ]:
        response = await api.post(path, OPERATOR, body)
        assert response.status_code in (200, 201), (path, response.text)

    assert await rows(api) == before
    assert (await api.get(f"/wallets/{CLINIC}", OPERATOR)).json()["available"] == "8.992"


async def test_reads_write_no_row(api: Api) -> None:
    await api.fund("10.00")
    before = await rows(api)

    for path, headers in [
        ("/wallet/me", CLINIC_USER),
        ("/wallet/me/transactions", CLINIC_USER),
        ("/invoices", OPERATOR),
        (f"/wallets/{CLINIC}/adjustments", OPERATOR),
        ("/wallet/me/audit", CLINIC_USER),
    ]:
        assert (await api.get(path, headers)).status_code == 200

    assert await rows(api) == before
