"""Idempotency keys (contract §3), kept in the same unit of work as the effect they guard.

Within ONE unit of work: claim the key (held until the unit ends; another holder answers 409
`idempotency_in_progress`), look up an unexpired record (same fingerprint: replay its status and
bytes with `Idempotent-Replayed: true`; another fingerprint: 422 `idempotency_key_reused`), else run
the handler and store its response through `before_commit`, so key and effect commit together.
A domain 4xx (other than 401/403) is stored too, in a fresh unit of work after the rollback.

Requests refused before the use case starts (bad token, malformed body, bad path id) are not
recorded: they change nothing, and the key stays free for the corrected request.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Generic, TypeVar

import attrs
from litestar import Request, Response

from billing.application.caller import Caller
from billing.application.idempotency import IdempotencyRecord
from billing.application.ports import UnitOfWork
from billing.application.runtime import Guarded, Runtime, run_in_unit_of_work
from billing.application.service import BillingService
from billing.domain.errors import BillingError, ValidationError
from billing.entrypoints.http.problems import HttpError, Rendered, render_error

C = TypeVar("C")
R = TypeVar("R")

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"[\x20-\x7e]{1,255}")
# Codes never kept under a key: they say nothing about the request itself.
NOT_KEPT = frozenset({"unauthorized", "forbidden", "idempotency_in_progress", "idempotency_key_reused"})
PURGE_EVERY_SECONDS = 60.0
log = logging.getLogger("billing.http.idempotency")


@attrs.frozen
class Replay:
    record: IdempotencyRecord


@attrs.define
class Fresh(Generic[R]):
    value: R
    rendered: Rendered | None = None


@attrs.define
class ExpiredKeyPurger:
    """Purges expired keys at most once a minute per process, after a key was stored."""

    every_seconds: float = PURGE_EVERY_SECONDS
    _last: float = attrs.field(default=float("-inf"), init=False)

    async def maybe_purge(self, service: BillingService) -> None:
        now = time.monotonic()
        if now - self._last < self.every_seconds:
            return
        self._last = now
        try:
            # Its own unit of work: the effect's transaction stays within one tenant.
            async def purge(uow: UnitOfWork) -> int:
                return await uow.idempotency_keys.purge_expired(service.runtime.clock.now())

            await run_in_unit_of_work(service.uow_factory, purge)
        except Exception:  # a missed purge is retried later; it must not fail a request
            log.warning("purging expired idempotency keys failed", exc_info=True)


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


@attrs.frozen
class Idempotency:
    """One request's idempotency context; without a key it simply runs the use case."""

    service: BillingService
    ttl: timedelta
    purger: ExpiredKeyPurger
    key: str | None = None
    fingerprint: str = ""

    @classmethod
    async def of(
        cls, request: Request[Any, Any, Any], service: BillingService, ttl: timedelta, purger: ExpiredKeyPurger
    ) -> Idempotency:
        key = read_key(request) if request.method == "POST" else None
        if key is None:
            return cls(service, ttl, purger)
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return cls(service, ttl, purger, key, fingerprint(request.method, path, await request.body()))

    async def run(
        self,
        handler: Guarded[C, R],
        cmd: C,
        caller: Caller,
        render: Callable[[R], Rendered],
    ) -> Response[Any]:
        """Run the use case once per key; answer with the rendered result or its replay.

        The caller is authorized before the key is looked up: a replay answers only a caller who
        may make the request. The response is rendered inside the unit of work, so a result that
        cannot be rendered rolls the effect back: a 500 never leaves a committed change."""
        handler.authorize(caller, self.service.runtime)
        key = self.key

        async def guarded(cmd: C, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Replay | Fresh[R]:
            if key is None:
                return Fresh(await handler(cmd, caller, uow, rt))
            keys = uow.idempotency_keys
            if not await keys.claim(caller.tenant_id, key):
                raise HttpError("idempotency_in_progress", "a request with this Idempotency-Key is still running")
            record = await keys.get(caller.tenant_id, key, rt.clock.now())
            if record is not None:
                if record.fingerprint != self.fingerprint:
                    raise HttpError(
                        "idempotency_key_reused",
                        "this Idempotency-Key was used for another method, path or body",
                    )
                return Replay(record)
            return Fresh(await handler(cmd, caller, uow, rt))

        async def keep(uow: UnitOfWork, outcome: Replay | Fresh[R]) -> None:
            if isinstance(outcome, Fresh):
                outcome.rendered = render(outcome.value)
                if key is not None:
                    await uow.idempotency_keys.add(self._record(caller, outcome.rendered))

        try:
            outcome = await self.service.execute(guarded, cmd, caller, before_commit=keep)
        except BillingError as error:
            rendered = render_error(error)
            if key is None or error.code in NOT_KEPT or rendered.status >= 500:
                raise
            await self._keep_failure(caller, rendered)
            return rendered.to_response()
        if isinstance(outcome, Replay):
            stored = outcome.record
            replayed = Rendered(stored.status_code, stored.body, stored.content_type, {REPLAYED_HEADER: "true"})
            return replayed.to_response()
        if key is not None:
            await self.purger.maybe_purge(self.service)
        assert outcome.rendered is not None
        return outcome.rendered.to_response()

    def _record(self, caller: Caller, rendered: Rendered) -> IdempotencyRecord:
        assert self.key is not None
        now = self.service.runtime.clock.now()
        return IdempotencyRecord(
            tenant_id=caller.tenant_id,
            key=self.key,
            fingerprint=self.fingerprint,
            status_code=rendered.status,
            body=rendered.body,
            content_type=rendered.content_type,
            created_at=now,
            expires_at=now + self.ttl,
        )

    async def _keep_failure(self, caller: Caller, rendered: Rendered) -> None:
        """The use case failed and rolled back; keep its 4xx under the key, unless a repeat got there first."""
        assert self.key is not None
        key = self.key

        async def keep(uow: UnitOfWork) -> None:
            keys = uow.idempotency_keys
            now = self.service.runtime.clock.now()
            if await keys.claim(caller.tenant_id, key) and await keys.get(caller.tenant_id, key, now) is None:
                await keys.add(self._record(caller, rendered))

        try:
            await run_in_unit_of_work(self.service.uow_factory, keep)
        except Exception:  # nothing changed, so a repeat may safely run the use case again
            log.warning("keeping a failed response under its idempotency key failed", exc_info=True)
