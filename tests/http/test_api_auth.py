"""Authentication: only a valid HS256 token with every required claim gets in."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
from api_support import CLINIC, Api, assert_problem, bearer, token


def _unsigned(claims: dict[str, Any]) -> str:
    """An `alg: none` token, which PyJWT would refuse to make for us."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _claims_of(signed: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(signed, options={"verify_signature": False})
    return claims


REFUSED = {
    "no header": {},
    "not bearer": {"Authorization": f"Basic {token(CLINIC, 'Billing.View')}"},
    "bearer without token": {"Authorization": "Bearer "},
    "garbage": {"Authorization": "Bearer not-a-jwt"},
    "alg none": {"Authorization": f"Bearer {_unsigned(_claims_of(token(CLINIC, 'Billing.View')))}"},
    "HS512": bearer(CLINIC, "Billing.View", algorithm="HS512"),
    "bad signature": bearer(CLINIC, "Billing.View", secret="another-secret-of-at-least-32-bytes!!"),
    "expired": bearer(CLINIC, "Billing.View", ttl=timedelta(seconds=-10)),
    "no exp": bearer(CLINIC, "Billing.View", drop=["exp"]),
    "no sub": bearer(CLINIC, "Billing.View", drop=["sub"]),
    "no tenant": bearer(CLINIC, "Billing.View", drop=["tenant"]),
    "no permissions": bearer(CLINIC, "Billing.View", drop=["permissions"]),
    "permissions not a list": bearer(CLINIC, permissions="Billing.View"),
    "permissions not strings": bearer(CLINIC, permissions=[1]),
    "invalid tenant id": bearer("clinic a!", "Billing.View"),
    "email not a string": bearer(CLINIC, "Billing.View", email=5),
}


@pytest.mark.parametrize("headers", REFUSED.values(), ids=REFUSED.keys())
async def test_a_request_without_a_valid_token_is_unauthorized(api: Api, headers: dict[str, str]) -> None:
    response = await api.get("/wallet/me", headers)

    assert_problem(response, 401, "unauthorized")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_the_token_is_checked_before_the_body(api: Api) -> None:
    response = await api.client.post(
        "/api/v1/billing/wallet/topup-requests", content=b"{not json", headers={"content-type": "application/json"}
    )

    assert_problem(response, 401, "unauthorized")


async def test_a_valid_token_without_an_email_is_enough(api: Api) -> None:
    response = await api.get("/wallet/me", bearer(CLINIC, "Billing.View", drop=["email"]))

    assert response.status_code == 200
