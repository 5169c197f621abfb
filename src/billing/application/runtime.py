"""What every handler may use besides its unit of work, and how a unit of work is run."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar
from uuid import UUID, uuid4

import attrs

from billing.application.caller import MANAGE, VIEW, Authorizer, Caller
from billing.application.ports import (
    Clock,
    ConcurrencyConflictError,
    CountryOfNumber,
    IdGenerator,
    UnitOfWork,
    UnitOfWorkFactory,
)
from billing.application.settings import BillingSettings
from billing.domain.errors import ForbiddenError

R = TypeVar("R")
ATTEMPTS = 5
# Before a re-run: a random pause of up to BACKOFF_SECONDS * 2**(attempt - 1), so that racers who lost together do
# not meet again in step. A backstop only: the lock order (docs/decisions.md) keeps our own units from deadlocking,
# so a re-run follows a serialization failure or a unique index's verdict, not a circle of locks.
BACKOFF_SECONDS = 0.005


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    def new_id(self) -> UUID:
        return uuid4()


class NoNumberingPlan:
    """A runtime built without a phone-number adapter (the container always wires one) cannot quote."""

    def country_of(self, number: str) -> str | None:
        raise RuntimeError("no CountryOfNumber adapter is wired: build the service through the container")


@attrs.frozen
class Runtime:
    clock: Clock
    ids: IdGenerator
    settings: BillingSettings
    countries: CountryOfNumber = attrs.field(factory=NoNumberingPlan)

    @property
    def auth(self) -> Authorizer:
        return Authorizer(self.settings.root_tenant)


async def run_in_unit_of_work(
    uow_factory: UnitOfWorkFactory,
    work: Callable[[UnitOfWork], Awaitable[R]],
    before_commit: Callable[[UnitOfWork, R], Awaitable[None]] | None = None,
) -> R:
    """Run `work` in a fresh unit of work and commit it; run it again, after a jittered pause, when a race lost.

    `before_commit` writes more into the same transaction (the HTTP layer's idempotency key).
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            async with uow_factory() as uow:
                result = await work(uow)
                if before_commit is not None:
                    await before_commit(uow, result)
                await uow.commit()
                return result
        except ConcurrencyConflictError:
            if attempt == ATTEMPTS:
                raise
        await asyncio.sleep(random.uniform(0, BACKOFF_SECONDS * 2 ** (attempt - 1)))
    raise AssertionError("unreachable")  # pragma: no cover


C = TypeVar("C")
C_contra = TypeVar("C_contra", contravariant=True)
R_co = TypeVar("R_co", covariant=True)
Rule = Callable[[Authorizer, Caller], None]


class Handler(Protocol[C_contra, R_co]):
    """A use case: the command, who asks, its unit of work and the runtime."""

    def __call__(self, cmd: C_contra, caller: Caller, uow: UnitOfWork, rt: Runtime, /) -> Awaitable[R_co]: ...


class Runner(Protocol):
    """Runs use cases for one caller, each in its own unit of work (the facade's `BillingSession`): what a flow of
    several units (a webhook body of many tenants, a statement read in chunks) is given."""

    async def run(self, handler: Handler[C, R], cmd: C) -> R: ...


def signed_in(auth: Authorizer, caller: Caller) -> None:
    """Anyone whose token was verified (the console's sign-in and sign-out)."""


def operator(auth: Authorizer, caller: Caller) -> None:
    auth.require_operator(caller)


def viewer(auth: Authorizer, caller: Caller) -> None:
    auth.require(caller, VIEW)


def manager(auth: Authorizer, caller: Caller) -> None:
    auth.require(caller, MANAGE)


def root_viewer(auth: Authorizer, caller: Caller) -> None:
    auth.require_root_viewer(caller)


def operators_viewer(auth: Authorizer, caller: Caller) -> None:
    """The root tenant with View, for the operators' own figures (not another tenant's wallet)."""
    auth.require(caller, VIEW)
    if not auth.is_root(caller):
        raise ForbiddenError("only an operator of the platform may see the top-up queue's figures")


# What an audited use case changed, from its command and result: (the affected tenant or None for a platform-wide
# change, the target's id), or None when it changed nothing (a repeat answered with the first result).
TargetOf = Callable[[Any, Any], tuple[str | None, str] | None]


def _result_itself(cmd: Any, result: Any) -> tuple[str | None, str] | None:
    return result.tenant_id, str(result.id)


@attrs.frozen
class Audited:
    """How a use case's change is written to the audit trail (contract v3 §20): the target's type, the in-process
    method's name (the action when no HTTP operation id is bound) and where the target is found."""

    target_type: str
    method: str
    target: TargetOf = _result_itself


@attrs.frozen
class Guarded(Generic[C, R]):
    """A use case with the permission rule its caller must pass before anything is read, and how its change is
    audited (None: not audited, a read or a per-message move the ledger and holds record).

    Calling it checks the rule and runs the use case; `authorize` checks the rule alone, so that an
    entry point can refuse a caller before it even looks for a stored answer (an idempotent replay)."""

    rule: Rule
    handler: Callable[[C, Caller, UnitOfWork, Runtime], Awaitable[R]]
    audit: Audited | None = None

    def authorize(self, caller: Caller, rt: Runtime) -> None:
        self.rule(rt.auth, caller)

    async def __call__(self, cmd: C, caller: Caller, uow: UnitOfWork, rt: Runtime, /) -> R:
        self.authorize(caller, rt)
        return await self.handler(cmd, caller, uow, rt)


def requires(
    rule: Rule, *, audit: Audited | None = None
) -> Callable[[Callable[[C, Caller, UnitOfWork, Runtime], Awaitable[R]]], Guarded[C, R]]:
    """`@requires(operator, audit=Audited("invoice", "void_invoice"))` above a handler: its permission rule,
    checked first on every path, and its audit row, written by the executor in the handler's transaction."""

    def guard(handler: Callable[[C, Caller, UnitOfWork, Runtime], Awaitable[R]]) -> Guarded[C, R]:
        return Guarded(rule, handler, audit)

    return guard
