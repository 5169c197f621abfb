"""Run a use case once per idempotency key (contract §3): claim, replay, or run and keep the answer.

Within ONE unit of work: claim the key (held until the unit ends; another holder is
`idempotency_in_progress`), look up an unexpired record (same fingerprint: replay its answer; another:
`idempotency_key_reused`), else run the use case and keep its answer in the same transaction, so key
and effect commit together. A refusal the caller caused (a 4xx other than 401/403) is kept too, in a
fresh unit of work after the rollback. Any entry point can use it: it knows answers as bytes, not HTTP.

The caller is authorized before the key is looked up (a replay answers only a caller who may make the
request), and the answer is rendered inside the unit of work: a result that cannot be rendered rolls
the effect back, so an error never leaves a committed change behind.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Generic, TypeVar

import attrs

from billing.application.caller import Authorizer, Caller
from billing.application.idempotency import IdempotencyRecord
from billing.application.ports import UnitOfWork
from billing.application.runtime import Audited, Guarded, Runtime, run_in_unit_of_work
from billing.application.service import BillingService
from billing.domain.errors import BillingError

C = TypeVar("C")
R = TypeVar("R")

PURGE_EVERY_SECONDS = 60.0
# Refusals never kept under a key: they say nothing about the request itself.
NOT_KEPT = frozenset({"unauthorized", "forbidden", "idempotency_in_progress", "idempotency_key_reused"})
log = logging.getLogger("billing.idempotency")


class IdempotencyInProgressError(BillingError):
    code = "idempotency_in_progress"


class IdempotencyKeyReusedError(BillingError):
    code = "idempotency_key_reused"


@attrs.frozen
class IdempotencyKey:
    """A key as an entry point read it, and the fingerprint of what it was sent with."""

    key: str
    fingerprint: str


@attrs.frozen
class Answer:
    """What a use case answered, as the entry point sends it: what a key keeps and replays."""

    status: int
    body: bytes
    content_type: str
    replayed: bool = False


@attrs.frozen
class _Replay:
    record: IdempotencyRecord


@attrs.define
class _Fresh(Generic[R]):
    value: R
    answer: Answer | None = None


def _authorized_already(auth: Authorizer, caller: Caller) -> None:
    """`run` checked the handler's own rule before it looked for a stored answer."""


def _audit_of_fresh(audited: Audited | None) -> Audited | None:
    """The handler's audit, for a run under a key: a replay changed nothing and writes no row."""
    if audited is None:
        return None

    def target(cmd: Any, outcome: _Replay | _Fresh[Any]) -> tuple[str | None, str] | None:
        return None if isinstance(outcome, _Replay) else audited.target(cmd, outcome.value)

    return attrs.evolve(audited, target=target)


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


@attrs.frozen
class RunOnce:
    service: BillingService
    ttl: timedelta
    purger: ExpiredKeyPurger = attrs.field(factory=ExpiredKeyPurger)

    async def run(
        self,
        handler: Guarded[C, R],
        cmd: C,
        caller: Caller,
        key: IdempotencyKey | None,
        render: Callable[[R], Answer],
        render_refusal: Callable[[BillingError], Answer],
    ) -> Answer:
        """The use case's answer, run at most once per key; a replay is the first answer, marked."""
        handler.authorize(caller, self.service.runtime)

        async def once(cmd: C, caller: Caller, uow: UnitOfWork, rt: Runtime) -> _Replay | _Fresh[R]:
            if key is not None:
                record = await self._claim(uow, caller, key, rt)
                if record is not None:
                    return _Replay(record)
            return _Fresh(await handler(cmd, caller, uow, rt))

        async def keep(uow: UnitOfWork, outcome: _Replay | _Fresh[R]) -> None:
            if isinstance(outcome, _Fresh):
                outcome.answer = render(outcome.value)
                if key is not None:
                    await uow.idempotency_keys.add(self._record(caller, key, outcome.answer))

        try:
            run = Guarded(_authorized_already, once, _audit_of_fresh(handler.audit))
            outcome = await self.service.execute(run, cmd, caller, before_commit=keep)
        except BillingError as error:
            refusal = render_refusal(error)
            if key is None or error.code in NOT_KEPT or refusal.status >= 500:
                raise
            await self._keep_refusal(caller, key, refusal)
            return refusal
        if isinstance(outcome, _Replay):
            stored = outcome.record
            return Answer(stored.status_code, stored.body, stored.content_type, replayed=True)
        if key is not None:
            await self.purger.maybe_purge(self.service)
        assert outcome.answer is not None
        return outcome.answer

    async def _claim(
        self, uow: UnitOfWork, caller: Caller, key: IdempotencyKey, rt: Runtime
    ) -> IdempotencyRecord | None:
        """Hold the key for this unit of work; the record kept under it, if any."""
        keys = uow.idempotency_keys
        if not await keys.claim(caller.tenant_id, key.key):
            raise IdempotencyInProgressError("a request with this Idempotency-Key is still running")
        record = await keys.get(caller.tenant_id, key.key, rt.clock.now())
        if record is not None and record.fingerprint != key.fingerprint:
            raise IdempotencyKeyReusedError("this Idempotency-Key was used for another method, path or body")
        return record

    def _record(self, caller: Caller, key: IdempotencyKey, answer: Answer) -> IdempotencyRecord:
        now = self.service.runtime.clock.now()
        return IdempotencyRecord(
            tenant_id=caller.tenant_id,
            key=key.key,
            fingerprint=key.fingerprint,
            status_code=answer.status,
            body=answer.body,
            content_type=answer.content_type,
            created_at=now,
            expires_at=now + self.ttl,
        )

    async def _keep_refusal(self, caller: Caller, key: IdempotencyKey, refusal: Answer) -> None:
        """The use case was refused and rolled back; keep the refusal under the key, unless a repeat got
        there first."""

        async def keep(uow: UnitOfWork) -> None:
            keys = uow.idempotency_keys
            now = self.service.runtime.clock.now()
            if await keys.claim(caller.tenant_id, key.key) and await keys.get(caller.tenant_id, key.key, now) is None:
                await keys.add(self._record(caller, key, refusal))

        try:
            await run_in_unit_of_work(self.service.uow_factory, keep)
        except Exception:  # nothing changed, so a repeat may safely run the use case again
            log.warning("keeping a refusal under its idempotency key failed", exc_info=True)
