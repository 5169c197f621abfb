"""Request ids (contract v3 §20): every answer of the app carries one back in `X-Request-ID`, and every problem body
as `request_id` (`problems.py` reads it from the request context).

A client's `X-Request-ID` is kept when it is one value of 1-128 characters of `A-Z a-z 0-9 . _ -`; otherwise
(absent, invalid, or sent more than once) one is made: a random UUID in its canonical 36-character form.

Two middlewares, both registered in `entrypoints/web.py`, so the API and the console alike get them:
- `RequestIds` runs before routing, around Litestar's router and its exception handlers: for the whole request it
  binds the application's request context (`application/context.py`) to the id and the client's address, so an
  unknown path's 404, a 405 and a 500 carry the id too; it stamps the header on the way out, over any a route set.
- `bind_action` is a Litestar middleware, so it runs after routing, around each route: it adds the matched route's
  operation id as the action (None for routes without one: the console's, the OpenAPI pages).

The client's address is the connection's peer (`scope["client"]`), never `X-Forwarded-For`, which any client can
write; behind a proxy, uvicorn puts the forwarded address there only for the proxies it trusts
(`FORWARDED_ALLOW_IPS`, 127.0.0.1 unless set).
"""

from __future__ import annotations

import re
import uuid

from litestar.datastructures import ResponseHeader
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from billing.application.context import bound

HEADER = "X-Request-ID"
_NAME = HEADER.lower().encode("latin-1")
_KEPT = re.compile(rb"[A-Za-z0-9._-]{1,128}")
# OpenAPI: the header on every operation's answers (`RequestIds` sets it; Litestar only documents it).
DOCUMENTED = ResponseHeader(
    name=HEADER,
    description="The request's own X-Request-ID when it sent one value of 1-128 characters of A-Z a-z 0-9 . _ -, "
    "else a new UUID. Problem bodies carry it as request_id.",
    required=True,
    documentation_only=True,
)


def new_request_id() -> str:
    return str(uuid.uuid4())


def request_id_of(scope: Scope) -> str:
    """The request's own id if it sent one valid value, else a new one."""
    sent = [value for name, value in scope["headers"] if name.lower() == _NAME]
    if len(sent) == 1 and _KEPT.fullmatch(sent[0]):
        return sent[0].decode("ascii")
    return new_request_id()


class RequestIds:
    """ASGI middleware: the request's id and address bound for its duration, the id stamped on its answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        stamp = (_NAME, request_id.encode("ascii"))
        client = scope.get("client")

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [header for header in message.get("headers", ()) if bytes(header[0]).lower() != _NAME]
                message = {**message, "headers": [*headers, stamp]}
            await send(message)

        with bound(request_id=request_id, ip=client[0] if client else None, action=None):
            await self.app(scope, receive, stamped)


def bind_action(app: ASGIApp) -> ASGIApp:
    """Litestar middleware: the matched route's operation id bound as the request's action."""

    async def with_action(scope: Scope, receive: Receive, send: Send) -> None:
        operation_id = getattr(scope.get("route_handler"), "operation_id", None)
        with bound(action=operation_id if isinstance(operation_id, str) else None):
            await app(scope, receive, send)

    return with_action
