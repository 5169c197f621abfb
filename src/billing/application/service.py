"""The executor: every use case runs here, in its own unit of work, with its events handled in the same
transaction and published to subscribers after the commit. `acting_as` and `as_platform` bind it to a caller: the
facade (`billing.application.facade.BillingSession`), which other modules call.

billing = build_in_memory_billing()              # or the container's, on PostgreSQL
clinic = billing.acting_as(Caller("u1", "clinic-a", {"Billing.View"}))
request = await clinic.request_topup("150.00")
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TypeVar, cast

import attrs

from billing.application import audit, inputs
from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.facade import BillingSession
from billing.application.ports import UnitOfWork, UnitOfWorkFactory
from billing.application.runtime import Handler, Runtime, run_in_unit_of_work
from billing.domain.events import DomainEvent
from billing.domain.money import Money, Scale

__all__ = ["BillingService", "BillingSession", "EventHandler", "Handler", "Subscriber"]

C = TypeVar("C")
R = TypeVar("R")
E = TypeVar("E", bound=DomainEvent)
log = logging.getLogger("billing.events")

# Runs inside the unit of work that recorded the event: what must commit with it (queue an email).
EventHandler = Callable[[DomainEvent, UnitOfWork, Runtime], Awaitable[None]]
# Runs after the commit, in-process (another module's reaction): its failure is logged, never undoes.
Subscriber = Callable[[DomainEvent], Awaitable[None]]


@attrs.frozen
class BillingService:
    uow_factory: UnitOfWorkFactory
    runtime: Runtime
    # The container's table: event type -> the handlers that run in the same transaction.
    event_handlers: Mapping[type[DomainEvent], Sequence[EventHandler]] = attrs.field(factory=dict)
    _subscribers: dict[type[DomainEvent], list[Subscriber]] = attrs.field(factory=dict, init=False)

    def subscribe(self, event_type: type[E], subscriber: Callable[[E], Awaitable[None]]) -> None:
        """Call `subscriber` with every `event_type` event once its unit of work has committed."""
        self._subscribers.setdefault(cast(type[DomainEvent], event_type), []).append(cast(Subscriber, subscriber))

    async def execute(
        self,
        handler: Handler[C, R],
        cmd: C,
        caller: Caller,
        before_commit: Callable[[UnitOfWork, R], Awaitable[None]] | None = None,
    ) -> R:
        """Run one use case in its own unit of work (every entry point calls this).

        The events it records are handled in the same transaction (the event table), then, once
        committed, handed to the subscribers."""
        committed: list[DomainEvent] = []

        async def work(uow: UnitOfWork) -> R:
            result = await handler(cmd, caller, uow, self.runtime)
            await self._handle_in_transaction(uow)
            await audit.record_use_case(handler, cmd, caller, result, uow, self.runtime)
            return result

        async def finish(uow: UnitOfWork, result: R) -> None:
            if before_commit is not None:
                await before_commit(uow, result)
            committed[:] = uow.events  # of the attempt that commits: a retried one starts afresh

        result = await run_in_unit_of_work(self.uow_factory, work, finish)
        await self._publish(committed)
        return result

    async def _handle_in_transaction(self, uow: UnitOfWork) -> None:
        """Each recorded event's handlers, in order; events they record are handled in turn."""
        handled = 0
        while handled < len(uow.events):
            event = uow.events[handled]
            handled += 1
            for event_handler in self.event_handlers.get(type(event), ()):
                await event_handler(event, uow, self.runtime)

    async def _publish(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            for subscriber in self._subscribers.get(type(event), ()):
                try:
                    await subscriber(event)
                except Exception:  # committed is committed: a subscriber's failure is its own
                    log.exception("a subscriber of %s failed", type(event).__name__)

    def money(
        self,
        value: object,
        *,
        field: str = "amount",
        allow_negative: bool = False,
        allow_zero: bool = False,
        scale: Scale = Scale.MINOR,
    ) -> Money:
        """A caller's amount in the wallets' currency (`inputs.money`), for another module building a command."""
        currency = self.runtime.settings.currency
        return inputs.money(
            value, currency, field=field, allow_negative=allow_negative, allow_zero=allow_zero, scale=scale
        )

    def acting_as(self, caller: Caller) -> BillingSession:
        return BillingSession(self, caller)

    def as_platform(self, module: str) -> BillingSession:
        """A platform module (e.g. messaging) acting as an operator of the root tenant."""
        root = self.runtime.settings.root_tenant
        return self.acting_as(Caller(f"module:{module}", root, frozenset([VIEW, MANAGE])))
