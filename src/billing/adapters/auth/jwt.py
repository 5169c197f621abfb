"""Bearer JWTs (contract §3): HS256 only, `exp`, `sub`, `tenant` and `permissions` required.

Any other algorithm (including `none`), a bad signature, a missing or mistyped claim, an expired
token or a malformed header is an UnauthorizedError, which the HTTP layer answers with a 401 and a
WWW-Authenticate header (RFC 6750).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs
import jwt

from billing.application.caller import Caller
from billing.config import ConfigError, JwtSettings
from billing.domain.contact import validate_email
from billing.domain.errors import UnauthorizedError, ValidationError
from billing.domain.protections import AUTO_REQUESTER
from billing.domain.tenant import validate_tenant_id

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ("exp", "sub", "tenant", "permissions")


def unauthorized(detail: str, *, invalid_token: bool = True) -> UnauthorizedError:
    """A refusal whose challenge repeats `detail`: always one of this module's fixed ASCII sentences,
    never anything taken from the token (a header cannot carry CR, LF or non-Latin-1 text)."""
    return UnauthorizedError(detail, invalid_token=invalid_token)


# What each of PyJWT's refusals tells the client, in our words (its own messages quote the token).
_REFUSALS: tuple[tuple[type[jwt.InvalidTokenError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidSignatureError, "the token's signature does not match"),
    (jwt.InvalidAlgorithmError, "the token must be signed with HS256"),
    (jwt.InvalidIssuerError, "the token's issuer is not accepted"),
    (jwt.InvalidAudienceError, "the token's audience is not accepted"),
    (jwt.DecodeError, "the token is malformed"),
)
# RFC 7519 §4.1: these claims are NumericDates (JSON numbers); PyJWT would also take "123" as a string.
NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")
# How many verified tokens a verifier remembers (least recently used first out): a client sends its token
# with every request, so its signature and claims are checked once, not once per request.
VERIFIED_TOKENS = 4096


class VerifiedTokens:
    """Tokens already verified, each with its Caller and `exp`, until `exp` passes.

    A token that passed every check stays valid until its `exp`: `nbf` and `iat` only ever move from "not
    yet" to "valid", and the claims are fixed by the signature. So a remembered token is answered with its
    Caller while `exp` lies ahead (PyJWT's own test, without leeway), and is checked afresh (and refused
    with the usual 401) once it does not. Keyed by the token's text, under one verifier's secret, issuer
    and audience."""

    def __init__(self, size: int = VERIFIED_TOKENS) -> None:
        self._size = size
        self._entries: OrderedDict[str, tuple[Caller, int]] = OrderedDict()

    def get(self, token: str) -> Caller | None:
        entry = self._entries.get(token)
        if entry is None:
            return None
        caller, expires = entry
        if expires <= time.time():
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return caller

    def add(self, token: str, caller: Caller, expires: int) -> None:
        self._entries[token] = (caller, expires)
        self._entries.move_to_end(token)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)


def _secret_of(settings: JwtSettings, purpose: str) -> str:
    if settings.secret is None:
        raise ConfigError(f"BILLING_JWT_SECRET: is required to {purpose}")
    return settings.secret


@attrs.frozen
class JwtTokenVerifier:
    """The TokenVerifier port on PyJWT."""

    secret: str = attrs.field(repr=False)
    issuer: str | None = None
    audience: str | None = None
    _verified: VerifiedTokens = attrs.field(factory=VerifiedTokens, init=False, repr=False, eq=False)

    @classmethod
    def from_settings(cls, settings: JwtSettings) -> JwtTokenVerifier:
        return cls(_secret_of(settings, "check the API's tokens"), settings.issuer, settings.audience)

    def verify(self, authorization: str | Sequence[str] | None) -> Caller:
        """The caller an `Authorization` header proves, or an UnauthorizedError.

        Given every value of the header, more than one is refused: which one counts would be a guess."""
        if not isinstance(authorization, str) and authorization is not None:
            if len(authorization) > 1:
                raise unauthorized("send exactly one Authorization header")
            authorization = authorization[0] if authorization else None
        if not authorization:
            raise unauthorized("an Authorization: Bearer <token> header is required", invalid_token=False)
        scheme, _, token = authorization.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise unauthorized("the Authorization header must be 'Bearer <token>'")
        caller = self._verified.get(token)
        if caller is None:
            claims = self._claims(token)
            caller = _caller(claims)
            self._verified.add(token, caller, int(claims["exp"]))  # PyJWT compares int(exp) too
        return caller

    def expired(self, token: str) -> bool:
        """A genuine token whose `exp` has passed: every check of `verify` but that one (and the claims' shapes)."""
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp"], "verify_exp": False, "verify_aud": self.audience is not None},
            )
        except jwt.InvalidTokenError:
            return False
        expiry = claims["exp"]
        return isinstance(expiry, int | float) and not isinstance(expiry, bool) and expiry <= time.time()

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
        except jwt.MissingRequiredClaimError as error:
            claim = error.claim if error.claim in required else "a required"
            raise unauthorized(f"the token lacks the '{claim}' claim") from None
        except jwt.InvalidTokenError as error:
            detail = next((text for kind, text in _REFUSALS if isinstance(error, kind)), "the token is not valid")
            raise unauthorized(detail) from None
        _check_numeric_dates(claims)  # PyJWT checked their values, having read "123" as 123
        return claims


def _check_numeric_dates(claims: dict[str, Any]) -> None:
    for name in NUMERIC_DATE_CLAIMS:
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise unauthorized(f"the token's '{name}' claim must be a number (an RFC 7519 NumericDate)")


def _caller(claims: dict[str, Any]) -> Caller:
    subject, tenant, permissions = claims["sub"], claims["tenant"], claims["permissions"]
    email = claims.get("email")
    if not isinstance(subject, str) or not subject:
        raise unauthorized("the token's 'sub' claim must be a non-empty string")
    if subject == AUTO_REQUESTER:  # contract v2 §10: who asks for automatic top-ups, never a person
        raise unauthorized(f"the token's 'sub' claim may not be {AUTO_REQUESTER!r}: it is reserved")
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise unauthorized("the token's 'permissions' claim must be an array of strings")
    if email is not None:
        try:
            validate_email(email)
        except ValidationError:
            raise unauthorized("the token's 'email' claim must be an email address") from None
    try:
        validate_tenant_id(tenant)
    except ValidationError:
        raise unauthorized("the token's 'tenant' claim is not a valid tenant id") from None
    try:
        return Caller(subject, tenant, frozenset(permissions), email)
    except ValidationError:
        raise unauthorized("the token's 'sub' claim must be 1-200 characters without control characters") from None


@attrs.frozen
class JwtTokenIssuer:
    """The TokenIssuer port on PyJWT: tokens the JwtTokenVerifier of the same settings accepts."""

    secret: str = attrs.field(repr=False)
    issuer: str | None = None
    audience: str | None = None

    @classmethod
    def from_settings(cls, settings: JwtSettings) -> JwtTokenIssuer:
        return cls(_secret_of(settings, "sign tokens"), settings.issuer, settings.audience)

    def issue(
        self,
        *,
        tenant: str,
        user: str,
        permissions: Iterable[str],
        now: datetime,
        ttl: timedelta,
        email: str | None = None,
    ) -> str:
        return issue_token(
            self.secret,
            tenant=tenant,
            user=user,
            permissions=permissions,
            now=now,
            ttl=ttl,
            email=email,
            issuer=self.issuer,
            audience=self.audience,
        )


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
