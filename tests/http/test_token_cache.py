"""A verified token is checked once: its Caller is remembered until its `exp` passes, and never longer."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt as pyjwt
import pytest

from billing.adapters.auth import jwt
from billing.adapters.auth.jwt import JwtTokenVerifier, VerifiedTokens, issue_token
from billing.domain.errors import UnauthorizedError

SECRET = "token-cache-tests-secret-of-32-bytes-or-more"


def token(user: str = "ana", ttl: timedelta = timedelta(minutes=5), **claims: Any) -> str:
    if claims:
        now = datetime.now(UTC)
        body = {"sub": user, "tenant": "clinic-a", "permissions": ["Billing.View"], "exp": int((now + ttl).timestamp())}
        return pyjwt.encode({**body, **claims}, SECRET, algorithm="HS256")
    return issue_token(
        SECRET, tenant="clinic-a", user=user, permissions=["Billing.View"], now=datetime.now(UTC), ttl=ttl
    )


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token PyJWT is asked to check."""
    seen: list[str] = []
    real = pyjwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        seen.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(jwt.jwt, "decode", counting)
    return seen


def test_a_token_sent_again_is_answered_without_checking_it_again(decodes: list[str]) -> None:
    verifier = JwtTokenVerifier(SECRET)
    signed = token()

    first = verifier.verify(f"Bearer {signed}")
    again = verifier.verify(f"Bearer {signed}")

    assert first == again
    assert (again.user_id, again.tenant_id, again.permissions) == ("ana", "clinic-a", frozenset({"Billing.View"}))
    assert decodes == [signed]


def test_a_remembered_token_is_refused_once_its_exp_has_passed(
    monkeypatch: pytest.MonkeyPatch, decodes: list[str]
) -> None:
    verifier = JwtTokenVerifier(SECRET)
    signed = token(ttl=timedelta(seconds=30))
    verifier.verify(f"Bearer {signed}")
    expires = pyjwt.decode(signed, options={"verify_signature": False})["exp"]

    monkeypatch.setattr(jwt.time, "time", lambda: float(expires))  # PyJWT: expired when exp <= now
    monkeypatch.setattr(pyjwt.api_jwt, "datetime", _Frozen(expires))
    with pytest.raises(UnauthorizedError, match="the token has expired"):
        verifier.verify(f"Bearer {signed}")
    with pytest.raises(UnauthorizedError, match="the token has expired"):
        verifier.verify(f"Bearer {signed}")


def test_a_refused_token_is_never_remembered(decodes: list[str]) -> None:
    verifier = JwtTokenVerifier(SECRET)
    not_yet = token(nbf=int(time.time()) + 3600)

    for _ in range(2):
        with pytest.raises(UnauthorizedError, match="not valid yet"):
            verifier.verify(f"Bearer {not_yet}")

    assert decodes == [not_yet, not_yet]


def test_a_verifier_with_another_secret_does_not_share_what_one_remembered() -> None:
    signed = token()
    JwtTokenVerifier(SECRET).verify(f"Bearer {signed}")

    with pytest.raises(UnauthorizedError, match="signature does not match"):
        JwtTokenVerifier("another-secret-of-at-least-thirty-two-bytes").verify(f"Bearer {signed}")


def test_the_memory_is_bounded_least_recently_used_first_out() -> None:
    remembered = VerifiedTokens(size=2)
    verifier = JwtTokenVerifier(SECRET)
    callers = {name: verifier.verify(f"Bearer {token(name)}") for name in ("a", "b", "c")}
    expires = int(time.time()) + 60

    remembered.add("a", callers["a"], expires)
    remembered.add("b", callers["b"], expires)
    assert remembered.get("a") == callers["a"]  # now "b" is the least recently used
    remembered.add("c", callers["c"], expires)

    assert remembered.get("b") is None
    assert (remembered.get("a"), remembered.get("c")) == (callers["a"], callers["c"])


class _Frozen:
    """PyJWT's `datetime`, stopped at `at` (a Unix time)."""

    def __init__(self, at: float) -> None:
        self._at = at

    def now(self, tz: Any = None) -> datetime:
        return datetime.fromtimestamp(self._at, tz)

    def __getattr__(self, name: str) -> Any:
        return getattr(datetime, name)
