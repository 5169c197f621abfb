"""Meta's phone numbers and the webhook's events in memory, with the unique keys PostgreSQL enforces."""

from __future__ import annotations

from collections.abc import Sequence

from billing.adapters.memory.base import InMemoryRepository
from billing.adapters.memory.repositories import paginate
from billing.application.pagination import Page, PageRequest
from billing.application.ports import WebhookEventFilter
from billing.domain.webhook_events import WebhookEvent, WhatsAppNumber

EventKey = tuple[str | None, str | None, str | None, str | None]


class InMemoryWhatsAppNumberRepository(InMemoryRepository):
    async def add(self, number: WhatsAppNumber) -> tuple[WhatsAppNumber, bool]:
        mapped = self._state.whatsapp_numbers.setdefault(number.phone_number_id, number)
        return mapped, mapped is number

    async def tenants_of(self, phone_number_ids: Sequence[str]) -> dict[str, str]:
        numbers = self._state.whatsapp_numbers
        return {pid: numbers[pid].tenant_id for pid in phone_number_ids if pid in numbers}

    async def list(self, tenant_id: str | None, page: PageRequest) -> Page[WhatsAppNumber]:
        numbers = [n for n in self._state.whatsapp_numbers.values() if tenant_id is None or n.tenant_id == tenant_id]
        return paginate(numbers, lambda n: (n.created_at, n.phone_number_id), page)

    async def remove(self, phone_number_id: str) -> bool:
        return self._state.whatsapp_numbers.pop(phone_number_id, None) is not None


def event_key(event: WebhookEvent) -> EventKey:
    """A status is recorded once per (tenant, message id, status); an unknown number's by its number instead of a
    tenant. A status too malformed to name its message is recorded each time it comes (keyed by its own id)."""
    if event.message_id is None or event.status is None:
        return (None, None, str(event.id), None)
    number = event.phone_number_id if event.tenant_id is None else None
    return (event.tenant_id, number, event.message_id, event.status)


class InMemoryWebhookEventRepository(InMemoryRepository):
    async def seen(self, tenant_id: str, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        return {(m, s) for m, s in keys if (tenant_id, None, m, s) in self._state.webhook_events}

    async def record(self, events: Sequence[WebhookEvent]) -> None:
        for event in events:
            self._state.webhook_events.setdefault(event_key(event), event)

    async def list(self, filters: WebhookEventFilter, page: PageRequest) -> Page[WebhookEvent]:
        matches = [
            e
            for e in self._state.webhook_events.values()
            if (filters.outcome is None or e.outcome is filters.outcome)
            and (filters.tenant_id is None or e.tenant_id == filters.tenant_id)
        ]
        return paginate(matches, lambda e: (e.received_at, e.id), page)
