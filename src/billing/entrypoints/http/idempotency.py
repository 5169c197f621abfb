"""The HTTP side of idempotency keys (contract §3): the header, the request's fingerprint, the response.

Running the use case once per key is the application's (`billing.application.run_once`); this module
reads `Idempotency-Key`, fingerprints the request, and turns the answer into a response, marking a
replay with `Idempotent-Replayed: true`. Requests refused before the use case starts (bad token,
malformed body or path id) never reach it: they change nothing, and the key stays free.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
from litestar import Request, Response

from billing.application.caller import Caller
from billing.application.run_once import Answer, IdempotencyKey, RunOnce
from billing.application.runtime import Guarded
from billing.domain.errors import BillingError, ValidationError
from billing.entrypoints.http.problems import Rendered, render_error

C = TypeVar("C")
R = TypeVar("R")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"[\x20-\x7e]{1,255}")


def read_key(request: Request[Any, Any, Any]) -> str | None:
    """The request's Idempotency-Key, if any: 1-255 printable ASCII characters, else a 400."""
    values = request.headers.getall(HEADER, [])
    if not values:
        return None
    if len(values) > 1 or not _KEY.fullmatch(values[0]):
        raise ValidationError.of(HEADER, "must be one value of 1-255 printable ASCII characters")
    return values[0]


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _answer(rendered: Rendered) -> Answer:
    return Answer(rendered.status, rendered.body, rendered.content_type)


def _refusal(error: BillingError) -> Answer:
    return _answer(render_error(error))


@attrs.frozen
class Idempotency:
    """One request's key (if it sent one), and how its use case runs under it."""

    run_once: RunOnce
    key: IdempotencyKey | None = None

    @classmethod
    async def of(cls, request: Request[Any, Any, Any], run_once: RunOnce) -> Idempotency:
        key = read_key(request) if request.method == "POST" else None
        if key is None:
            return cls(run_once)
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return cls(run_once, IdempotencyKey(key, fingerprint(request.method, path, await request.body())))

    async def run(
        self, handler: Guarded[C, R], cmd: C, caller: Caller, render: Callable[[R], Rendered]
    ) -> Response[Any]:
        """Run the use case (once per key); answer with its rendered result or the kept answer."""
        answer = await self.run_once.run(handler, cmd, caller, self.key, lambda r: _answer(render(r)), _refusal)
        headers = {REPLAYED_HEADER: "true"} if answer.replayed else None
        return Response(content=answer.body, status_code=answer.status, media_type=answer.content_type, headers=headers)
