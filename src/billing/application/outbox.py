"""Outbox messages: email rendered inside a unit of work, delivered later by the dispatcher."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    UNDELIVERABLE = "undeliverable"


@attrs.frozen
class EmailMessage:
    id: UUID
    tenant_id: str
    kind: str
    recipient: str | None
    subject: str
    text: str
    html: str
    created_at: datetime

    def message_id(self, domain: str) -> str:
        """Stable across retries, so a receiver recognises a resend after a crash."""
        return f"<{self.id}@{domain}>"


@attrs.frozen
class OutboxEntry:
    message: EmailMessage
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    sent_at: datetime | None
