"""Signing in to the console: a JWT pasted once, kept in a cookie, checked on every page like a Bearer token.

The cookie is Secure, HttpOnly and SameSite=Strict, scoped to /console: scripts cannot read it, other
sites cannot send it, and the JSON API never sees it (the API takes Bearer tokens only).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, Literal

import attrs
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie

from billing.application.audit import SignInFailures
from billing.application.caller import Caller
from billing.application.ports import TokenVerifier
from billing.domain.errors import BillingError

CONSOLE_PATH = "/console"
SESSION_COOKIE = "billing_console_session"
CSRF_COOKIE = "billing_console_csrf"

SignInReason = Literal["required", "expired", "invalid", "signed-out"]


class SignInRequiredError(Exception):
    """The page needs a signed-in user; the console answers with a redirect to the sign-in page."""

    def __init__(self, reason: SignInReason) -> None:
        super().__init__(reason)
        self.reason = reason


@attrs.frozen
class ConsoleAuth:
    verifier: TokenVerifier
    failures: SignInFailures = attrs.field(factory=SignInFailures)  # failed sign-ins, for the audit trail

    def verify(self, token: str) -> Caller:
        """The caller a pasted token proves, or the API's own `unauthorized` error."""
        return self.verifier.verify(f"Bearer {token}")

    def caller(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
        token = connection.cookies.get(SESSION_COOKIE)
        if not token:
            raise SignInRequiredError("required")
        try:
            return self.verify(token)
        except BillingError:
            raise SignInRequiredError("expired" if self.verifier.expired(token) else "invalid") from None


def session_cookie(token: str) -> Cookie:
    """A browser-session cookie: the token's own `exp` limits it, checked on every request."""
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        path=CONSOLE_PATH,
        secure=True,
        httponly=True,
        samesite="strict",
    )


def cleared_session_cookie() -> Cookie:
    """The same cookie, expired: the browser drops it."""
    cookie = session_cookie("")
    cookie.max_age = 0
    cookie.expires = 0
    return cookie


def csrf_config(jwt_secret: str) -> CSRFConfig:
    """Double-submit tokens for the console's forms (never for the API, which takes no cookies); once signed in,
    csrf.py binds them to the session.

    The signing key is derived from the JWT secret, so every worker of a deployment agrees on it."""
    secret = hmac.new(jwt_secret.encode(), b"billing console csrf", hashlib.sha256).hexdigest()
    return CSRFConfig(
        secret=secret,
        cookie_name=CSRF_COOKIE,
        cookie_path=CONSOLE_PATH,
        cookie_secure=True,
        cookie_httponly=True,  # the token reaches the page in a hidden field, never from script
        cookie_samesite="strict",
    )
