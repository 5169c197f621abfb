"""What every response of the app shares, applied around Litestar's router.

- `HEAD` is answered for every `GET` route (RFC 9110 §9.3.2): routed as a GET, its body dropped.
- Every answer says `X-Content-Type-Options: nosniff` and, unless a route chose otherwise,
  `Cache-Control: no-store`: balances, invoices and tokens must not stay in a shared cache.
- `before_routing`: ASGI middleware around Litestar's router and its exception handlers (the first is the
  outermost). Litestar's own `middleware` wraps each route, after routing: it never sees an unknown path's 404.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from litestar import Litestar
from litestar.types import ASGIApp

SHARED_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store"))


class BillingApp(Litestar):
    def __init__(self, *, before_routing: Sequence[Callable[[ASGIApp], ASGIApp]] = (), **options: Any) -> None:
        super().__init__(**options)
        for middleware in reversed(before_routing):
            self.asgi_handler = middleware(self.asgi_handler)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET"}

        async def send_shared(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {bytes(name).lower() for name, _ in headers}
                headers += [(name, value) for name, value in SHARED_HEADERS if name not in present]
                message = {**message, "headers": headers}
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await super().__call__(scope, receive, send_shared)
