"""The console's CSRF check: Litestar's double-submit token until sign-in, a token bound to the session after it.

Litestar's token is a random value with its HMAC, kept in a cookie and echoed by the form; any pair that matches
passes, whoever it was made for. So a pair taken from another session, or planted by whoever can set cookies for the
console's host (a sibling subdomain, a plain-http answer on the way), would pass as well. Once a session cookie is
present, the form must carry the session's own token instead: the HMAC of that cookie under a key derived from the
deployment's secret, compared in constant time. Nobody can compute it without the secret, and it is worth nothing in
any other session; the CSRF cookie no longer counts. Before sign-in (the sign-in form) there is no session to bind
to, and Litestar's check stands.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from litestar import Request
from litestar.config.csrf import CSRFConfig
from litestar.enums import RequestEncodingType, ScopeType
from litestar.exceptions import PermissionDeniedException
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import ASGIApp, Receive, Scope, Send
from litestar.utils.scope.state import ScopeState

from billing.entrypoints.console.session import SESSION_COOKIE

FORM_FIELD = "_csrf_token"  # Litestar's, which the templates' `csrf_input` writes
FORM_TYPES = (RequestEncodingType.URL_ENCODED, RequestEncodingType.MULTI_PART)


class SessionCSRFMiddleware(CSRFMiddleware):
    def __init__(self, app: ASGIApp, config: CSRFConfig) -> None:
        super().__init__(app, config)
        self._key = hmac.new(config.secret.encode(), b"bound to the console session", hashlib.sha256).digest()

    def token_for(self, session: str) -> str:
        return hmac.new(self._key, session.encode(), hashlib.sha256).hexdigest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await super().__call__(scope, receive, send)
            return
        request: Request[Any, Any, Any] = scope["litestar_app"].request_class(scope=scope, receive=receive)
        session = request.cookies.get(SESSION_COOKIE)
        if not session:
            await super().__call__(scope, receive, send)
            return
        expected = self.token_for(session)
        if request.method not in self.config.safe_methods:
            sent = await self._sent(request)
            if sent is None or not sent.isascii() or not hmac.compare_digest(sent, expected):
                raise PermissionDeniedException("CSRF token verification failed")
        ScopeState.from_scope(scope).csrf_token = expected  # what the pages' forms carry
        await self.app(scope, receive, send)

    async def _sent(self, request: Request[Any, Any, Any]) -> str | None:
        """The token in the request's header or, for a form, in its field (as Litestar reads them)."""
        token = request.headers.get(self.config.header_name)
        if not token and request.content_type[0] in FORM_TYPES:
            field = (await request.form()).get(FORM_FIELD)
            token = field if isinstance(field, str) else None
        return token
