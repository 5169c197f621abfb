"""In-memory adapters: real implementations of the ports, for unit tests and quick in-process use."""

from billing.adapters.memory.store import InMemoryStore
from billing.adapters.memory.unit_of_work import InMemoryUnitOfWork

__all__ = ["InMemoryStore", "InMemoryUnitOfWork"]
