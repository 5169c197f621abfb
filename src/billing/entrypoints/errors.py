"""What an error means to whoever asked, in ONE table: its stable code, its status and its title.

Both faces read it: the API answers it as problem+json (`http/problems.py`), the console as a page or a message beside a
form's fields (`console/views.py`). Domain errors carry their code; the framework's own errors (malformed JSON, unknown
route, wrong method, body too large, bad query parameter) are translated to the same codes, so a client's mistake is
never a 500. An unexpected exception is a 500 without a trace (the trace is logged).
"""

from __future__ import annotations

import logging
import re

import attrs
from litestar.exceptions import HTTPException, ValidationException

from billing.application.ports import ConcurrencyConflictError, DatabaseUnavailableError
from billing.domain.errors import BillingError, FieldError, UnauthorizedError, ValidationError

log = logging.getLogger("billing.http")


@attrs.frozen
class Kind:
    status: int
    title: str


# The one table: code -> HTTP status and title. Contract §3, plus the codes the contract leaves open.
PROBLEMS: dict[str, Kind] = {
    "validation_error": Kind(400, "The request is not valid"),
    "unauthorized": Kind(401, "Authentication is required"),
    "forbidden": Kind(403, "This action is not allowed"),
    "not_found": Kind(404, "Not found"),
    "method_not_allowed": Kind(405, "Method not allowed"),
    "invalid_state": Kind(409, "The resource is not in a state that allows this"),
    "insufficient_funds": Kind(409, "Insufficient funds"),
    "duplicate": Kind(409, "Already exists"),
    "lane_closed": Kind(409, "The marketing reserve keeps this money for clinical messages"),
    "wallet_frozen": Kind(409, "The wallet is frozen"),
    "wallet_in_debt": Kind(409, "The wallet is in debt"),
    "idempotency_in_progress": Kind(409, "A request with this idempotency key is still running"),
    "payload_too_large": Kind(413, "The request body is too large"),
    "idempotency_key_reused": Kind(422, "The idempotency key was used for another request"),
    "not_priced": Kind(422, "No rate card prices this message"),
    "internal_error": Kind(500, "Internal server error"),
    "unavailable": Kind(503, "The service is unavailable"),
}

# The framework's exceptions carry only a status; this is the code each status stands for.
CODE_OF_STATUS = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    503: "unavailable",
}


def status_of(code: str) -> int:
    return PROBLEMS[code].status


@attrs.frozen
class Fault:
    """An error as the entry points answer it: its code (a key of PROBLEMS), what went wrong, the fields at fault and
    the headers the answer carries."""

    code: str
    detail: str
    errors: tuple[FieldError, ...] | None = None
    headers: dict[str, str] = attrs.field(factory=dict)

    @property
    def kind(self) -> Kind:
        return PROBLEMS[self.code]


def fault_of_error(error: BillingError) -> Fault:
    """A domain or application error as its fault."""
    if isinstance(error, ValidationError):
        return Fault(error.code, error.detail, error.errors)
    if isinstance(error, UnauthorizedError):  # RFC 6750's challenge; the detail is a fixed ASCII sentence
        challenge = 'Bearer realm="billing"'
        if error.invalid_token:
            challenge += f', error="invalid_token", error_description="{error.detail}"'
        return Fault(error.code, error.detail, headers={"WWW-Authenticate": challenge})
    code = error.code if error.code in PROBLEMS else "validation_error"
    return Fault(code, error.detail)


def fault_of(exc: Exception) -> Fault:
    """Any exception as a fault; the single place errors get their meaning."""
    if isinstance(exc, BillingError):
        return fault_of_error(exc)
    if isinstance(exc, ValidationException):
        errors = _framework_errors(exc)
        return Fault("validation_error", "; ".join(f"{e.field}: {e.message}" for e in errors), errors)
    if isinstance(exc, DatabaseUnavailableError):
        return Fault("unavailable", str(exc) or "the database is unavailable", headers={"Retry-After": "5"})
    if isinstance(exc, ConcurrencyConflictError):
        return Fault("unavailable", "too many concurrent changes to the same data; retry", headers={"Retry-After": "1"})
    if isinstance(exc, HTTPException) and (exc.status_code < 500 or exc.status_code in CODE_OF_STATUS):
        code = CODE_OF_STATUS.get(exc.status_code, "validation_error")  # any other 4xx: a bad request
        headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() in ("allow", "www-authenticate")}
        return Fault(code, exc.detail, headers=headers)
    log.error("unexpected error", exc_info=exc)
    return Fault("internal_error", "an unexpected error occurred; it has been logged")


_PLAIN = {
    "Invalid RFC3339 encoded date": "must be a date as YYYY-MM-DD",
    "Invalid RFC3339 encoded datetime": "must be a date-time with a UTC offset, e.g. 2026-11-26T12:00:00Z",
    "Expected `datetime` with a timezone component": "must carry a UTC offset, e.g. 2026-11-26T12:00:00Z",
}
_EXPECTED = re.compile(r"Expected `(?P<types>[^`]+)`, got `(?P<got>[^`]+)`")
_TYPE_NAMES = {"str": "a string", "date": "a date as YYYY-MM-DD", "datetime": "a date-time", "int": "an integer"}


MAX_MESSAGE_LENGTH = 200  # Litestar quotes the bad value: a 60 KB query string is not echoed back whole


def plain_message(message: str) -> str:
    """msgspec's and Litestar's wording of a bad value, as a client-facing message."""
    if len(message) > MAX_MESSAGE_LENGTH:
        message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
    if message in _PLAIN:
        return _PLAIN[message]
    if expected := _EXPECTED.fullmatch(message):
        wanted = [t for t in expected["types"].split(" | ") if t != "null"]
        names = " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
        return f"must be {names}, not {expected['got']}"
    return message.replace("Expected `int`", "must be an integer").replace("`", "")


def _framework_errors(exc: ValidationException) -> tuple[FieldError, ...]:
    """Litestar's own validation errors (query parameters, missing body) name their key."""
    errors = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if isinstance(item, dict):
            field = str(item.get("key") or item.get("source") or "request")
            if field == "data":  # the body was empty where one is required
                errors.append(FieldError("body", "is required: a JSON object"))
            else:
                errors.append(FieldError(field, plain_message(str(item.get("message", "is invalid")))))
    return tuple(errors) or (FieldError("request", exc.detail),)
