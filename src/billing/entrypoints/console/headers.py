"""The security headers of every console answer, whatever produced it: a page, a redirect, a static file, an
error page, the CSRF check's refusal.

They are stamped in one place, the console's outermost middleware, on the way out. A route's own errors become
pages inside it (Litestar answers them next to the route), and what the middleware inside it raises (the CSRF
check's refusal, a form it could not read) is answered here, by the console's error page, so that it passes the
same stamp.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# No framing (clickjacking an "approve" button), no script or style from anywhere else, no caching.
CONTENT_SECURITY_POLICY = "default-src 'self'; frame-ancestors 'none'; form-action 'self'"
# A year, as the HSTS preload list asks; the console's host and the hosts under it.
STRICT_TRANSPORT_SECURITY = "max-age=31536000; includeSubDomains"

ErrorAnswer = Callable[[Request[Any, Any, Any], Exception], Response[Any]]


def security_headers(public_url: str | None) -> tuple[tuple[str, str], ...]:
    """The console's headers; Strict-Transport-Security only when the service is published over https (over http,
    or unset as in local use, a browser would ignore it at best and lock a host out of http at worst)."""
    headers = (
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Frame-Options", "DENY"),
        ("Referrer-Policy", "same-origin"),
        ("Cache-Control", "no-store"),
    )
    if public_url is not None and urlsplit(public_url).scheme.lower() == "https":
        return (*headers, ("Strict-Transport-Security", STRICT_TRANSPORT_SECURITY))
    return headers


class SecurityHeadersMiddleware:
    """Adds `headers` to every answer that has not set one of them itself; answers with `on_error` what the
    middleware inside raised before any answer began."""

    def __init__(self, app: ASGIApp, headers: Sequence[tuple[str, str]], on_error: ErrorAnswer) -> None:
        self.app = app
        self.headers = tuple(headers)
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def stamped(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = MutableScopeHeaders.from_message(message)
                for name, value in self.headers:
                    if name not in present:
                        present.add(name, value)
            await send(message)

        try:
            await self.app(scope, receive, stamped)
        except Exception as error:
            if started or scope["type"] != ScopeType.HTTP:
                raise
            request: Request[Any, Any, Any] = scope["litestar_app"].request_class(scope=scope, receive=receive)
            answer = self.on_error(request, error)
            await answer.to_asgi_response(app=None, request=request)(scope, receive, stamped)
