"""Bearer JWTs (contract §3): HS256 only, `exp`, `sub`, `tenant` and `permissions` required.

Any other algorithm (including `none`), a bad signature, a missing or mistyped claim, an expired
token or a malformed header is a 401 with a WWW-Authenticate header (RFC 6750).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import attrs
import jwt

from billing.application.caller import Caller
from billing.config import ConfigError, JwtSettings
from billing.domain.errors import ValidationError
from billing.entrypoints.http.problems import HttpError

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("exp", "sub", "tenant", "permissions")


def unauthorized(detail: str, *, invalid_token: bool = True) -> HttpError:
    challenge = 'Bearer realm="billing"'
    if invalid_token:
        description = detail.replace('"', "'")
        challenge += f', error="invalid_token", error_description="{description}"'
    return HttpError("unauthorized", detail, {"WWW-Authenticate": challenge})


@attrs.frozen
class JwtAuthenticator:
    secret: str = attrs.field(repr=False)
    issuer: str | None = None
    audience: str | None = None

    @classmethod
    def from_settings(cls, settings: JwtSettings) -> JwtAuthenticator:
        if settings.secret is None:
            raise ConfigError("BILLING_JWT_SECRET: is required to check the API's tokens")
        return cls(settings.secret, settings.issuer, settings.audience)

    def authenticate(self, authorization: str | None) -> Caller:
        """The caller an `Authorization` header proves, or an HttpError("unauthorized")."""
        if not authorization:
            raise unauthorized("an Authorization: Bearer <token> header is required", invalid_token=False)
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise unauthorized("the Authorization header must be 'Bearer <token>'")
        return _caller(self._claims(token))

    def _claims(self, token: str) -> dict[str, Any]:
        required = [*REQUIRED_CLAIMS, *(["iss"] if self.issuer else []), *(["aud"] if self.audience else [])]
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": required, "verify_aud": self.audience is not None},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("the token has expired") from None
        except jwt.InvalidTokenError as error:
            raise unauthorized(f"the token is not valid: {error}") from None
        return claims


def _caller(claims: dict[str, Any]) -> Caller:
    subject, tenant, permissions = claims["sub"], claims["tenant"], claims["permissions"]
    email = claims.get("email")
    if not isinstance(subject, str) or not subject:
        raise unauthorized("the token's 'sub' claim must be a non-empty string")
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise unauthorized("the token's 'permissions' claim must be an array of strings")
    if email is not None and not isinstance(email, str):
        raise unauthorized("the token's 'email' claim must be a string")
    try:
        return Caller(subject, tenant, frozenset(permissions), email)
    except ValidationError:
        raise unauthorized("the token's 'tenant' claim is not a valid tenant id") from None


def issue_token(
    secret: str,
    *,
    tenant: str,
    user: str,
    permissions: Iterable[str],
    now: datetime,
    ttl: timedelta,
    email: str | None = None,
    issuer: str | None = None,
    audience: str | None = None,
) -> str:
    """A signed token for local use (`billing token`, `billing serve`'s demo tokens, tests)."""
    claims: dict[str, Any] = {
        "sub": user,
        "tenant": tenant,
        "permissions": list(permissions),
        "iat": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
    }
    if email is not None:
        claims["email"] = email
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm=ALGORITHM)
