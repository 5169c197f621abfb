"""What the HTTP tests share: tokens as clients send them, a ticking clock, and API shortcuts."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import jwt
import pytest
from httpx import Response
from litestar.testing import AsyncTestClient

from billing.application.caller import MANAGE, VIEW

SECRET = "test-secret-of-at-least-thirty-two-bytes"
BASE = "/api/v1/billing"
ROOT = "root"
CLINIC = "clinic-a"
OTHER_CLINIC = "clinic-b"

BACKENDS = ["memory", pytest.param("postgres", marks=pytest.mark.postgres)]


@attrs.define
class TickingClock:
    """Real time to start with, then 1 ms further on every reading: 'newest first' is never a tie."""

    current: datetime = attrs.field(factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        self.current += timedelta(milliseconds=1)
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


def token(
    tenant: str,
    *permissions: str,
    user: str = "user-1",
    secret: str = SECRET,
    algorithm: str = "HS256",
    ttl: timedelta = timedelta(hours=3),  # module-level tokens outlive a whole (slow) CI run
    drop: Iterable[str] = (),
    **extra: Any,
) -> str:
    """A token as a client would send it; `drop` removes claims, `extra` adds or replaces them."""
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": user,
        "tenant": tenant,
        "permissions": list(permissions),
        "email": f"{user}@{tenant}.test",
        "exp": int((now + ttl).timestamp()),
        **extra,
    }
    for claim in drop:
        claims.pop(claim, None)
    with warnings.catch_warnings():  # a short key for HS512 is the point of one test
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm=algorithm)


def bearer(tenant: str, *permissions: str, **options: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(tenant, *permissions, **options)}"}


OPERATOR = bearer(ROOT, VIEW, MANAGE, user="operator-1")
ROOT_VIEWER = bearer(ROOT, VIEW, user="viewer-1")
CLINIC_USER = bearer(CLINIC, VIEW, user="clinic-user")
CLINIC_MANAGER = bearer(CLINIC, VIEW, MANAGE, user="clinic-manager")
OTHER_CLINIC_USER = bearer(OTHER_CLINIC, VIEW, user="other-user")


@attrs.frozen
class Api:
    """Short ways to bring the system into a state through the API itself."""

    client: AsyncTestClient[Any]
    clock: TickingClock

    async def post(self, path: str, headers: dict[str, str], body: Any = None, **options: Any) -> Response:
        return await self.client.post(BASE + path, headers=headers, json=body, **options)

    async def get(self, path: str, headers: dict[str, str], **options: Any) -> Response:
        return await self.client.get(BASE + path, headers=headers, **options)

    async def request_topup(self, amount: object = "150.00", headers: dict[str, str] = CLINIC_USER) -> dict[str, Any]:
        response = await self.post("/wallet/topup-requests", headers, {"amount": amount})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def approve(self, request_id: str) -> dict[str, Any]:
        response = await self.post(f"/wallet/topup-requests/{request_id}/approve", OPERATOR, {})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def invoiced(self, amount: str = "150.00", headers: dict[str, str] = CLINIC_USER) -> dict[str, Any]:
        """A top-up request approved: the request, with its issued invoice's id and number."""
        return await self.approve((await self.request_topup(amount, headers))["id"])

    async def fund(self, amount: str = "150.00", headers: dict[str, str] = CLINIC_USER) -> dict[str, Any]:
        """A paid top-up: the wallet credited with `amount`. Returns the paid invoice."""
        request = await self.invoiced(amount, headers)
        reference = f"bank-{request['invoice_number']}"  # one transfer per invoice (contract v2 §12)
        response = await self.post(
            f"/invoices/{request['invoice_id']}/mark-paid", OPERATOR, {"payment_reference": reference}
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def balance(self, tenant: str) -> str:
        response = await self.get(f"/wallets/{tenant}", OPERATOR)
        assert response.status_code == 200, response.text
        balance: str = response.json()["balance"]
        return balance


def assert_problem(response: Response, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem with the contract's fields, and nothing of a trace."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["code"] == code
    assert {"type", "title", "status", "detail", "code"} <= problem.keys()
    assert "Traceback" not in response.text
    return problem


def field_errors(response: Response) -> dict[str, str]:
    problem = assert_problem(response, 400, "validation_error")
    return {error["field"]: error["message"] for error in problem["errors"]}
