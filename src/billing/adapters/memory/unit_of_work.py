"""The in-memory unit of work: stages changes on a copy and swaps them in on commit."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from billing.adapters.memory.base import InMemoryRepository
from billing.adapters.memory.holds import InMemoryHoldRepository
from billing.adapters.memory.repositories import (
    InMemoryContactRepository,
    InMemoryCostCountRepository,
    InMemoryIdempotencyKeyRepository,
    InMemoryInvoiceRepository,
    InMemoryLowBalanceAlertRepository,
    InMemoryMarginRepository,
    InMemoryMessageCountRepository,
    InMemoryOutboxRepository,
    InMemoryRateCardRepository,
    InMemoryTopupRequestRepository,
    InMemoryWalletRepository,
    InMemoryWalletSettingsRepository,
)
from billing.adapters.memory.store import InMemoryStore, State
from billing.adapters.memory.trail import InMemoryAdjustmentRepository, InMemoryAuditTrail
from billing.adapters.memory.whatsapp import InMemoryWebhookEventRepository, InMemoryWhatsAppNumberRepository
from billing.application.ports import Repositories
from billing.domain.events import DomainEvent

# The roster's in-memory classes, by the names application/ports.py's Repositories gives them; every repository is
# given the unit's events (those whose aggregates record events add them as they save).
REPOSITORIES: dict[str, type[InMemoryRepository]] = {
    "wallets": InMemoryWalletRepository,
    "topups": InMemoryTopupRequestRepository,
    "invoices": InMemoryInvoiceRepository,
    "idempotency_keys": InMemoryIdempotencyKeyRepository,
    "contacts": InMemoryContactRepository,
    "outbox": InMemoryOutboxRepository,
    "rate_cards": InMemoryRateCardRepository,
    "message_counts": InMemoryMessageCountRepository,
    "cost_counts": InMemoryCostCountRepository,
    "margins": InMemoryMarginRepository,
    "holds": InMemoryHoldRepository,
    "wallet_settings": InMemoryWalletSettingsRepository,
    "whatsapp_numbers": InMemoryWhatsAppNumberRepository,
    "webhook_events": InMemoryWebhookEventRepository,
    "alerts": InMemoryLowBalanceAlertRepository,
    "adjustments": InMemoryAdjustmentRepository,
    "audit_trail": InMemoryAuditTrail,
}


class InMemoryUnitOfWork(Repositories):
    """Units run one at a time (the store's lock), so they are serializable like the database. Its repositories
    (`wallets`, `holds`, …) are built on entering, from REPOSITORIES."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._staged: State | None = None
        self.events: list[DomainEvent] = []

    async def __aenter__(self) -> Self:
        await self._store.lock.acquire()
        self._staged = self._store.state.copy()
        self.events = []
        for name, repository in REPOSITORIES.items():
            setattr(self, name, repository(self._staged, self.events))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self.rollback()
        finally:
            self._store.lock.release()

    def record(self, *events: DomainEvent) -> None:
        self.events.extend(events)

    async def commit(self) -> None:
        if self._staged is None:
            raise RuntimeError("commit outside of the unit of work's block")
        self._store.state = self._staged
        self._staged = None
        self.events = []

    async def rollback(self) -> None:
        self._staged = None
        self.events = []
