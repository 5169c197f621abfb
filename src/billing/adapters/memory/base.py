"""What every in-memory repository shares: the unit of work's staged state and the events it hears."""

from __future__ import annotations

from billing.adapters.memory.store import State
from billing.application.ports import RecordsEvents
from billing.domain.events import DomainEvent


class InMemoryRepository:
    """A repository on the unit of work's staged copy of the store; `events` hears what the aggregates it saves
    recorded (`_collect`, as each aggregate is written)."""

    def __init__(self, state: State, events: list[DomainEvent] | None = None) -> None:
        self._state = state
        self._events = [] if events is None else events

    def _collect(self, aggregate: RecordsEvents) -> None:
        """What an aggregate recorded, heard by the unit of work once the aggregate is written."""
        self._events.extend(aggregate.pull_events())
