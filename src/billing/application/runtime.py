"""What every handler may use besides its unit of work, and how a unit of work is run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID, uuid4

import attrs

from billing.application.caller import Authorizer
from billing.application.ports import (
    Clock,
    ConcurrencyConflictError,
    IdGenerator,
    UnitOfWork,
    UnitOfWorkFactory,
)
from billing.application.settings import BillingSettings

R = TypeVar("R")
ATTEMPTS = 5


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class RandomIds:
    def new_id(self) -> UUID:
        return uuid4()


@attrs.frozen
class Runtime:
    clock: Clock
    ids: IdGenerator
    settings: BillingSettings

    @property
    def auth(self) -> Authorizer:
        return Authorizer(self.settings.root_tenant)


async def run_in_unit_of_work(
    uow_factory: UnitOfWorkFactory,
    work: Callable[[UnitOfWork], Awaitable[R]],
    before_commit: Callable[[UnitOfWork, R], Awaitable[None]] | None = None,
) -> R:
    """Run `work` in a fresh unit of work and commit it; run it again when a race lost.

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
    raise AssertionError("unreachable")  # pragma: no cover
