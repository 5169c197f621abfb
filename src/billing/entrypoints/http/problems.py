"""Every error as application/problem+json (RFC 9457), from its fault in `entrypoints/errors.py`'s one table.

Each body names the request it answers (`request_id`, contract v3 §20): the id `request_ids.py` bound to the request
context. A body kept for an idempotent replay keeps the first request's id.
"""

from __future__ import annotations

from typing import Annotated, Any

import attrs
import msgspec
from litestar import Request, Response
from litestar.openapi import ResponseSpec

from billing.application.context import current
from billing.domain.errors import BillingError, FieldError
from billing.entrypoints.errors import PROBLEMS, Fault, fault_of, fault_of_error, status_of
from billing.entrypoints.http.request_ids import new_request_id

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE = "urn:billing:problem:{code}"


class FieldErrorOut(msgspec.Struct):
    field: str
    message: str


class Problem(msgspec.Struct, kw_only=True, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    code: str
    request_id: Annotated[str, msgspec.Meta(description="The request's id, as in the answer's `X-Request-ID` header.")]
    errors: list[FieldErrorOut] | None = None


@attrs.frozen
class Rendered:
    """A response as bytes: what is sent, and what an idempotency key keeps and replays."""

    status: int
    body: bytes
    content_type: str
    headers: dict[str, str] = attrs.field(factory=dict)

    def to_response(self) -> Response[Any]:
        return Response(content=self.body, status_code=self.status, media_type=self.content_type, headers=self.headers)


def render_problem(
    code: str,
    detail: str,
    errors: tuple[FieldError, ...] | None = None,
    headers: dict[str, str] | None = None,
) -> Rendered:
    kind = PROBLEMS[code]
    problem = Problem(
        type=PROBLEM_TYPE.format(code=code),
        title=kind.title,
        status=kind.status,
        detail=detail,
        code=code,
        request_id=current().request_id or new_request_id(),  # outside a request (none bound): one of its own
        errors=[FieldErrorOut(e.field, e.message) for e in errors] if errors is not None else None,
    )
    return Rendered(kind.status, msgspec.json.encode(problem), PROBLEM_JSON, headers or {})


def render_error(error: BillingError) -> Rendered:
    """A domain or application error as its problem response."""
    return render_fault(fault_of_error(error))


def render_fault(fault: Fault) -> Rendered:
    return render_problem(fault.code, fault.detail, fault.errors, fault.headers)


def problem_for(exc: Exception) -> Rendered:
    """Any exception as a problem response; the single place errors become HTTP."""
    return render_fault(fault_of(exc))


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return problem_for(exc).to_response()


WRITE_PROBLEMS = ("idempotency_in_progress", "idempotency_key_reused", "payload_too_large")


def problem_responses(*codes: str, write: bool = False, public: bool = False) -> dict[int, ResponseSpec]:
    """OpenAPI: the problem responses a route may answer with (a write adds the idempotency ones)."""
    by_status: dict[int, list[str]] = {}
    usual = () if public else ("validation_error", "unauthorized")
    for code in (*usual, *codes, *(WRITE_PROBLEMS if write else ()), "internal_error", "unavailable"):
        by_status.setdefault(status_of(code), []).append(code)
    return {
        status: ResponseSpec(
            data_container=Problem,
            description="Problem: " + ", ".join(dict.fromkeys(codes_here)),
            media_type=PROBLEM_JSON,
            generate_examples=False,
        )
        for status, codes_here in sorted(by_status.items())
    }
