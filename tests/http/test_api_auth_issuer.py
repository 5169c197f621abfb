"""Issuer and audience: checked when BILLING_JWT_ISSUER / BILLING_JWT_AUDIENCE are set."""

from __future__ import annotations

import pytest
from api_support import CLINIC, SECRET, Api, bearer

from billing.config import JwtSettings, Settings


@pytest.fixture
def settings() -> Settings:
    return Settings(jwt=JwtSettings(secret=SECRET, issuer="https://id.example", audience="billing-api"))


@pytest.mark.parametrize(
    ("extra", "drop", "status"),
    [
        ({"iss": "https://id.example", "aud": "billing-api"}, [], 200),
        ({"iss": "https://evil.example", "aud": "billing-api"}, [], 401),
        ({"iss": "https://id.example", "aud": "other-api"}, [], 401),
        ({"aud": "billing-api"}, [], 401),
        ({"iss": "https://id.example"}, [], 401),
    ],
    ids=["both match", "wrong issuer", "wrong audience", "no issuer", "no audience"],
)
async def test_issuer_and_audience_must_match_when_configured(
    api: Api, extra: dict[str, str], drop: list[str], status: int
) -> None:
    response = await api.get("/wallet/me", bearer(CLINIC, "Billing.View", drop=drop, **extra))

    assert response.status_code == status, response.text
