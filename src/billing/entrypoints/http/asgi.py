"""What every response of the app shares, applied around Litestar's router.

- `HEAD` is answered for every `GET` route (RFC 9110 §9.3.2): routed as a GET, its body dropped.
- Every answer says `X-Content-Type-Options: nosniff` and, unless a route chose otherwise,
  `Cache-Control: no-store`: balances, invoices and tokens must not stay in a shared cache.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar

SHARED_HEADERS = ((b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store"))


class BillingApp(Litestar):
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
