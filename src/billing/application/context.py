"""Where a use case was asked from: the request's id, the client's address and the action's name (contract v3
§20). An entry point binds it around the call; the audit trail reads it. In-process calls leave it empty, and the
action is then the facade method's name."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import attrs


@attrs.frozen
class RequestContext:
    request_id: str | None = None
    ip: str | None = None
    action: str | None = None  # the HTTP operation id, or the in-process method's name


_NONE = RequestContext()  # frozen: one shared empty context is safe
_current: ContextVar[RequestContext | None] = ContextVar("billing_request_context", default=None)


def current() -> RequestContext:
    return _current.get() or _NONE


@contextmanager
def bound(**fields: Any) -> Iterator[RequestContext]:
    """The current context with these fields replaced, for the duration of the block (an unset field is kept)."""
    context = attrs.evolve(current(), **fields)
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
