"""Regressions of the adversarial review (CHANGELOG 0.2.0): dates at their bounds, no committed
effect behind a 500, HEAD, shared response headers, readiness and the settings' bounds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from api_support import BASE, CLINIC_USER, OPERATOR, Api, assert_problem, field_errors
from litestar.testing import AsyncTestClient

from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.handlers import invoices
from billing.application.handlers.invoices import MarkInvoicePaid
from billing.application.run_once import IdempotencyKey, RunOnce
from billing.config import ConfigError, Settings
from billing.container import Container
from billing.entrypoints.http.idempotency import Idempotency
from billing.entrypoints.http.problems import Rendered

ISSUED_THEN = "issued"


async def _invoice(api: Api, invoice_id: str) -> dict[str, Any]:
    response = await api.get(f"/invoices/{invoice_id}", OPERATOR)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _mark_paid(api: Api, invoice_id: str, paid_at: str, **headers: str) -> Any:
    body = {"payment_reference": "bank-1", "paid_at": paid_at}
    return await api.post(f"/invoices/{invoice_id}/mark-paid", {**OPERATOR, **headers}, body)


@pytest.mark.parametrize(
    "paid_at",
    [
        "0001-01-01T00:00:00+00:01",  # before year 1 in UTC: once a 500 that committed the credit
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+23:59",
        "9999-12-31T23:59:59-23:59",  # past year 9999 in UTC
        "9999-12-31T23:59:59Z",
        "2000-01-01T00:00:00Z",  # before the invoice was issued
    ],
)
@pytest.mark.parametrize("with_key", [False, True])
async def test_a_paid_at_out_of_bounds_is_a_400_that_changes_nothing(api: Api, paid_at: str, with_key: bool) -> None:
    request = await api.invoiced("10.00")
    headers = {"Idempotency-Key": f"pay-{paid_at}"} if with_key else {}

    response = await _mark_paid(api, request["invoice_id"], paid_at, **headers)

    assert "paid_at" in field_errors(response)
    assert (await _invoice(api, request["invoice_id"]))["status"] == ISSUED_THEN
    assert await api.balance("clinic-a") == "0.00"
    listed = await api.get("/invoices", OPERATOR)
    assert listed.status_code == 200


async def test_a_paid_at_at_the_moment_of_issue_is_accepted(api: Api) -> None:
    request = await api.invoiced("10.00")
    issued_at = (await _invoice(api, request["invoice_id"]))["issued_at"]

    response = await _mark_paid(api, request["invoice_id"], issued_at)

    assert response.status_code == 200, response.text
    assert response.json()["paid_at"] == issued_at


async def test_a_naive_paid_at_is_refused(api: Api) -> None:
    request = await api.invoiced("10.00")
    api.clock.advance(timedelta(hours=1))

    response = await _mark_paid(api, request["invoice_id"], api.clock.current.replace(tzinfo=None).isoformat())

    assert "paid_at" in field_errors(response)


@pytest.mark.parametrize(("due_date", "status"), [("0001-01-01", 400), ("9999-12-31", 200)])
async def test_due_dates_at_their_bounds(api: Api, due_date: str, status: int) -> None:
    pending = await api.request_topup("10.00")

    response = await api.post(f"/wallet/topup-requests/{pending['id']}/approve", OPERATOR, {"due_date": due_date})

    assert response.status_code == status, response.text
    if status == 200:
        assert (await _invoice(api, response.json()["invoice_id"]))["due_date"] == due_date
        assert (await api.get("/invoices", CLINIC_USER)).status_code == 200
    else:
        assert "due_date" in field_errors(response)


@pytest.mark.parametrize("key", [None, "render-fails"])
async def test_a_result_that_cannot_be_rendered_commits_nothing(
    api: Api, container: Container, key: str | None
) -> None:
    """The response is rendered inside the unit of work: a failure there is a 500 with no effect."""
    request = await api.invoiced("10.00")
    service = container.service()
    run_once = RunOnce(service, timedelta(hours=1))
    idempotency = Idempotency(run_once, None if key is None else IdempotencyKey(key, "fingerprint"))
    operator = Caller("operator-1", "root", frozenset({VIEW, MANAGE}))

    def render(_: object) -> Rendered:
        raise OverflowError("date value out of range")

    command = MarkInvoicePaid(UUID(request["invoice_id"]), "bank-1")
    with pytest.raises(OverflowError):
        await idempotency.run(invoices.mark_invoice_paid, command, operator, render)

    assert (await _invoice(api, request["invoice_id"]))["status"] == ISSUED_THEN
    assert await api.balance("clinic-a") == "0.00"


async def test_head_answers_every_get_route_without_a_body(client: AsyncTestClient[Any]) -> None:
    for path, headers in [(BASE + "/wallet/me", CLINIC_USER), ("/health", {}), (BASE + "/invoices", OPERATOR)]:
        get = await client.get(path, headers=headers)
        head = await client.head(path, headers=headers)
        assert (head.status_code, head.content) == (get.status_code, b""), path
        assert head.headers["content-type"] == get.headers["content-type"]


async def test_head_of_a_post_only_route_is_405(client: AsyncTestClient[Any]) -> None:
    response = await client.head(BASE + "/wallets/clinic-a/charges", headers=OPERATOR)

    assert response.status_code == 405


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("GET", BASE + "/wallet/me", CLINIC_USER),
        ("GET", BASE + "/wallet/me", {}),  # a 401
        ("GET", BASE + "/invoices/not-a-uuid", OPERATOR),  # a 400
        ("DELETE", BASE + "/wallet/me", CLINIC_USER),  # a 405
        ("GET", BASE + "/nowhere", CLINIC_USER),  # a 404
        ("GET", "/health", {}),
        ("GET", "/ready", {}),
    ],
)
async def test_every_answer_is_nosniff_and_not_stored(
    client: AsyncTestClient[Any], method: str, path: str, headers: dict[str, str]
) -> None:
    response = await client.request(method, path, headers=headers)

    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"


def test_a_top_up_maximum_that_could_overflow_a_balance_is_refused() -> None:
    with pytest.raises(ConfigError, match="BILLING_TOPUP_MAX_AMOUNT: must be at most 1000000000"):
        Settings.from_env({"BILLING_TOPUP_MAX_AMOUNT": "999999999999999"})
    assert Settings.from_env({"BILLING_TOPUP_MAX_AMOUNT": "1000000000"}).billing.topup_max_amount == 10**9


async def test_two_requests_with_a_problem_are_still_problems(api: Api) -> None:
    """A sanity check of the helpers above: a 409 stays a 409 under the shared headers."""
    request = await api.invoiced("10.00")
    api.clock.advance(timedelta(minutes=1))
    first = await _mark_paid(api, request["invoice_id"], api.clock.current.isoformat())
    assert first.status_code == 200
    assert_problem(await _mark_paid(api, request["invoice_id"], api.clock.current.isoformat()), 409, "invalid_state")
