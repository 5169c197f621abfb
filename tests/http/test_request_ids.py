"""Request ids (contract v3 §20): a client's valid X-Request-ID is kept, else one is made; every answer carries it
back, every problem body names it, an idempotent replay keeps its first body, and the application sees it (with the
client's address and the operation) while the request runs."""

from __future__ import annotations

import uuid
from typing import Any

import attrs
import pytest
from api_support import BASE, CLINIC, CLINIC_USER, OPERATOR, Api, TickingClock, assert_problem
from dependency_injector import providers
from httpx import Response
from litestar.testing import AsyncTestClient

from billing.application.context import RequestContext, current
from billing.container import Container
from billing.entrypoints.http.app import create_app

TOPUPS = "/wallet/topup-requests"
VALID = "Ab9._-" * 21 + "xy"  # 128 characters, every kind allowed


@attrs.define
class WitnessClock(TickingClock):
    """The application's clock, noting the request context each time a use case reads the time."""

    seen: list[RequestContext] = attrs.field(factory=list)

    def now(self) -> Any:
        self.seen.append(current())
        return super().now()


@pytest.fixture
def clock() -> WitnessClock:
    return WitnessClock()


def with_id(headers: dict[str, str], request_id: str) -> dict[str, str]:
    return {**headers, "X-Request-ID": request_id}


def made(response: Response) -> str:
    """The id the app made for a request: a UUID in its canonical form."""
    request_id = response.headers["x-request-id"]
    assert str(uuid.UUID(request_id)) == request_id
    return request_id


def problem_of(response: Response, status: int, code: str) -> dict[str, Any]:
    problem = assert_problem(response, status, code)
    assert problem["request_id"] == response.headers["x-request-id"]
    return problem


# Kept or made ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("request_id", [VALID, "a", "req-42", "0.1_2-3", "ABC"])
async def test_a_valid_request_id_is_echoed(api: Api, request_id: str) -> None:
    response = await api.get("/wallet/me", with_id(CLINIC_USER, request_id))

    assert response.status_code == 200
    assert response.headers["x-request-id"] == request_id


@pytest.mark.parametrize(
    "request_id",
    [VALID + "z", "a b", "", " ", "a/b", "a:b", "a,b", "a+b", "{x}", "%41"],
    ids=["129 characters", "a space", "empty", "only a space", "slash", "colon", "comma", "plus", "braces", "percent"],
)
async def test_an_invalid_request_id_is_replaced_by_a_made_one(api: Api, request_id: str) -> None:
    response = await api.get("/wallet/me", with_id(CLINIC_USER, request_id))

    assert response.status_code == 200
    assert made(response) != request_id


async def test_a_request_id_sent_twice_is_replaced(api: Api) -> None:
    headers = [*CLINIC_USER.items(), ("X-Request-ID", "one"), ("X-Request-ID", "two")]

    response = await api.client.get(BASE + "/wallet/me", headers=headers)

    assert made(response) not in ("one", "two")


async def test_made_ids_differ_per_request(api: Api) -> None:
    ids = {made(await api.get("/wallet/me", CLINIC_USER)) for _ in range(5)}

    assert len(ids) == 5


# Every answer carries it -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/health", 200),
        ("HEAD", "/health", 200),
        ("GET", "/schema", 200),
        ("GET", "/schema/openapi.json", 200),
        ("GET", "/nowhere", 404),
        ("GET", BASE + "/no-such-thing", 404),
        ("DELETE", "/health", 405),
        ("GET", "/console/sign-in", 200),
        ("GET", "/console/no-such-page", 404),
        ("GET", "/console/wallet", 303),  # nobody signed in: to the sign-in page
        ("POST", "/console/sign-in", 403),  # no CSRF token: the console's own refusal
    ],
)
async def test_every_answer_carries_the_request_id(api: Api, method: str, path: str, status: int) -> None:
    response = await api.client.request(method, path, headers={"X-Request-ID": "every-1"}, follow_redirects=False)

    assert response.status_code == status
    assert response.headers["x-request-id"] == "every-1"


async def test_a_console_page_carries_a_made_id(api: Api) -> None:
    response = await api.client.get("/console/sign-in")

    assert response.headers["content-type"].startswith("text/html")
    made(response)


# Problem bodies name it ---------------------------------------------------------------------------------------------


async def test_a_not_found_invoice_names_the_request(api: Api) -> None:
    response = await api.get(f"/invoices/{uuid.uuid4()}", with_id(OPERATOR, "find-invoice-1"))

    assert problem_of(response, 404, "not_found")["request_id"] == "find-invoice-1"


async def test_an_unknown_path_names_a_made_request_id(api: Api) -> None:
    response = await api.client.get("/nowhere")

    assert problem_of(response, 404, "not_found")["request_id"] == made(response)


async def test_a_wrong_method_names_the_request(api: Api) -> None:
    problem_of(await api.client.delete("/health"), 405, "method_not_allowed")


async def test_a_missing_token_names_the_request(api: Api) -> None:
    response = await api.get("/wallet/me", {"X-Request-ID": "no-token"})

    assert problem_of(response, 401, "unauthorized")["request_id"] == "no-token"


async def test_a_forbidden_action_names_the_request(api: Api) -> None:
    response = await api.post(f"/wallets/{CLINIC}/charges", CLINIC_USER, {"amount": "1.00", "reference_id": "m"})

    problem_of(response, 403, "forbidden")


async def test_a_validation_error_names_the_request(api: Api) -> None:
    response = await api.post(TOPUPS, with_id(CLINIC_USER, "bad-amount"), {"amount": "abc"})

    assert problem_of(response, 400, "validation_error")["request_id"] == "bad-amount"


async def test_the_frameworks_own_validation_error_names_the_request(api: Api) -> None:
    response = await api.get(TOPUPS + "/me", with_id(CLINIC_USER, "bad-page"), params={"page": "x"})

    assert problem_of(response, 400, "validation_error")["request_id"] == "bad-page"


async def test_a_conflict_names_the_request(api: Api) -> None:
    pending = await api.request_topup()
    await api.post(f"{TOPUPS}/{pending['id']}/reject", OPERATOR, {"reason": "first"})

    response = await api.post(f"{TOPUPS}/{pending['id']}/reject", OPERATOR, {"reason": "again"})

    problem_of(response, 409, "invalid_state")


async def test_a_reused_idempotency_key_names_the_request(api: Api) -> None:
    await api.post(TOPUPS, {**OPERATOR, "Idempotency-Key": "k"}, {"amount": "150.00"})

    response = await api.post(TOPUPS, {**OPERATOR, "Idempotency-Key": "k", "X-Request-ID": "k2"}, {"amount": "1.00"})

    assert problem_of(response, 422, "idempotency_key_reused")["request_id"] == "k2"


async def test_an_unexpected_error_names_the_request(container: Container) -> None:
    def broken() -> Any:
        raise RuntimeError("the database fell over")

    container.unit_of_work.override(providers.Callable(broken))
    async with AsyncTestClient(create_app(container, deliver_email=False, expire_holds=False)) as client:
        response = await client.get(BASE + "/wallet/me", headers=with_id(CLINIC_USER, "boom-1"))

    assert problem_of(response, 500, "internal_error")["request_id"] == "boom-1"


# An idempotent replay ----------------------------------------------------------------------------------------------


async def test_a_replayed_problem_keeps_the_first_id_in_its_body_and_the_new_one_in_its_header(api: Api) -> None:
    pending = await api.request_topup()
    await api.post(f"{TOPUPS}/{pending['id']}/reject", OPERATOR, {"reason": "first"})
    path, body = f"{TOPUPS}/{pending['id']}/reject", {"reason": "again"}

    first = await api.post(path, {**OPERATOR, "Idempotency-Key": "r", "X-Request-ID": "first"}, body)
    repeat = await api.post(path, {**OPERATOR, "Idempotency-Key": "r", "X-Request-ID": "second"}, body)

    assert problem_of(first, 409, "invalid_state")["request_id"] == "first"
    assert repeat.headers["idempotent-replayed"] == "true"
    assert repeat.content == first.content
    assert repeat.json()["request_id"] == "first"
    assert repeat.headers["x-request-id"] == "second"


async def test_a_replayed_success_carries_the_new_id(api: Api) -> None:
    first = await api.post(TOPUPS, {**CLINIC_USER, "Idempotency-Key": "o", "X-Request-ID": "first"}, {"amount": 5})
    repeat = await api.post(TOPUPS, {**CLINIC_USER, "Idempotency-Key": "o"}, {"amount": 5})

    assert (first.status_code, repeat.status_code) == (201, 201)
    assert repeat.content == first.content
    assert made(repeat) != "first"


# The application sees it ---------------------------------------------------------------------------------------------


async def test_the_application_sees_the_request_id_the_client_address_and_the_operation(
    api: Api, clock: WitnessClock
) -> None:
    clock.seen.clear()
    headers = {**CLINIC_USER, "X-Request-ID": "ctx-1", "X-Forwarded-For": "203.0.113.9"}

    response = await api.post(TOPUPS, headers, {"amount": "150.00"})

    assert response.status_code == 201
    # The test client's address; X-Forwarded-For is the client's word, never trusted.
    expected = RequestContext(request_id="ctx-1", ip="testclient", action="request_topup")
    assert clock.seen
    assert set(clock.seen) == {expected}


async def test_each_operation_is_its_own_action(api: Api, clock: WitnessClock) -> None:
    pending = await api.request_topup()
    clock.seen.clear()

    await api.approve(pending["id"])

    assert {seen.action for seen in clock.seen} == {"approve_topup_request"}
    assert len({seen.request_id for seen in clock.seen}) == 1
