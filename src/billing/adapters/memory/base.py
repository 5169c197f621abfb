"""What every in-memory repository shares: the unit of work's staged state and the events it hears."""

from __future__ import annotations

from billing.adapters.memory.store import State
from billing.domain.events import DomainEvent


class InMemoryRepository:
    """A repository on the unit of work's staged copy of the store; `events` hears what the aggregates it saves
    recorded (only top-ups and invoices record any)."""

    def __init__(self, state: State, events: list[DomainEvent] | None = None) -> None:
        self._state = state
        self._events = [] if events is None else events
