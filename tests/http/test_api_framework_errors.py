"""The framework's own refusals speak problem+json too, and an unexpected error leaks nothing."""

from __future__ import annotations

from typing import Any

from api_support import BASE, CLINIC_USER, Api, assert_problem, field_errors
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from billing.container import Container
from billing.entrypoints.http.app import create_app

TOPUPS = BASE + "/wallet/topup-requests"


async def test_malformed_json_is_a_validation_error(api: Api) -> None:
    response = await api.client.post(
        TOPUPS, content=b'{"amount": "10",', headers={**CLINIC_USER, "content-type": "application/json"}
    )

    assert list(field_errors(response)) == ["body"]


async def test_a_body_that_is_not_an_object_is_a_validation_error(api: Api) -> None:
    response = await api.client.post(
        TOPUPS, content=b'["amount", 10]', headers={**CLINIC_USER, "content-type": "application/json"}
    )

    assert list(field_errors(response)) == ["body"]


async def test_a_body_that_is_not_json_is_refused(api: Api) -> None:
    response = await api.client.post(
        TOPUPS, content=b"amount=10", headers={**CLINIC_USER, "content-type": "application/x-www-form-urlencoded"}
    )

    assert list(field_errors(response)) == ["Content-Type"]


async def test_an_unknown_route_is_not_found(api: Api) -> None:
    assert_problem(await api.get("/no-such-thing", CLINIC_USER), 404, "not_found")
    assert_problem(await api.client.get("/nowhere"), 404, "not_found")


async def test_a_wrong_method_is_method_not_allowed(api: Api) -> None:
    response = await api.client.delete(BASE + "/wallet/me", headers=CLINIC_USER)

    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


async def test_a_body_over_64_kib_is_too_large_and_changes_nothing(api: Api) -> None:
    body = b'{"amount": "10", "note": "' + b"x" * (64 * 1024) + b'"}'

    response = await api.client.post(TOPUPS, content=body, headers={**CLINIC_USER, "content-type": "application/json"})

    assert_problem(response, 413, "payload_too_large")
    assert (await api.get("/wallet/topup-requests/me", CLINIC_USER)).json()["total"] == 0


async def test_an_unexpected_error_is_a_500_problem_without_a_trace(container: Container) -> None:
    def broken() -> Any:
        raise RuntimeError("secret connection string postgresql://admin:hunter2@db")

    container.unit_of_work.override(providers.Callable(broken))
    async with AsyncTestClient(create_app(container, deliver_email=False)) as client:
        response = await client.get(BASE + "/wallet/me", headers=CLINIC_USER)

    problem = assert_problem(response, 500, "internal_error")
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert problem["detail"]
