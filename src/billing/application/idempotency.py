"""Idempotency keys (contract §3): a completed response kept per tenant and key, stored in the same
unit of work as the effect it guards."""

from __future__ import annotations

from datetime import datetime

import attrs


@attrs.frozen
class IdempotencyRecord:
    tenant_id: str
    key: str
    fingerprint: str  # what the key was first used for: a hash of method, path and body
    status_code: int
    body: bytes
    content_type: str
    created_at: datetime
    expires_at: datetime
