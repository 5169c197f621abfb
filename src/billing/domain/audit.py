"""The audit trail (contract v3 §20): who changed what, when, from where. Rows are appended, never changed.

`details` keep a command's input as its author gave it, less what must not be kept: secrets are dropped, phone
numbers and BSUIDs masked as quotes mask them, bulk input reduced to its SHA-256 and size.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs

from billing.domain.money import Money
from billing.domain.recipients import mask


class ActorKind(enum.StrEnum):
    USER = "user"
    SYSTEM = "system"


# The service's own jobs, as a system actor's `sub`.
SWEEPER = "sweeper"
AUTO_TOPUP = "auto_topup"
RECONCILIATION = "reconciliation"
ALERTS = "alerts"


@attrs.frozen
class Actor:
    kind: ActorKind
    sub: str | None
    tenant: str | None

    @classmethod
    def user(cls, sub: str, tenant: str) -> Actor:
        return cls(ActorKind.USER, sub, tenant)

    @classmethod
    def system(cls, job: str) -> Actor:
        return cls(ActorKind.SYSTEM, job, None)


@attrs.frozen
class Target:
    type: str  # topup_request, invoice, adjustment, rate_card, whatsapp_number, wallet, …
    id: str


@attrs.frozen
class AuditEntry:
    id: UUID
    at: datetime
    tenant_id: str | None  # the affected tenant; None for a platform-wide change
    actor: Actor
    action: str
    target: Target
    request_id: str | None
    ip: str | None
    details: Mapping[str, Any]

    def as_seen_by_tenant(self, root_tenant: str) -> AuditEntry:
        """The clinic's own view (`/wallet/me/audit`): no client address, and an operator of the platform named
        only as the platform."""
        actor = self.actor
        if actor.kind is ActorKind.USER and actor.tenant == root_tenant:
            actor = Actor(ActorKind.USER, None, root_tenant)
        return attrs.evolve(self, actor=actor, ip=None)


_SECRET = re.compile(r"token|password|secret|signature|authorization", re.IGNORECASE)
_RECIPIENT = re.compile(r"recipient|phone|wa_id|user_id|bsuid|number$", re.IGNORECASE)
# Fields that are bulk input (a reconciliation's data, a rate card file): kept as their hash and size.
BULK_FIELDS = frozenset({"data", "content", "file", "body"})


def redacted(value: object, key: str = "") -> Any:
    """A command's input as JSON-ready details, without secrets, masked numbers and hashed bulk."""
    if key and _SECRET.search(key):
        return None
    if key in BULK_FIELDS and isinstance(value, str | bytes):
        raw = value.encode() if isinstance(value, str) else value
        return {"sha256": hashlib.sha256(raw).hexdigest(), "size": len(raw)}
    if attrs.has(type(value)) and not isinstance(value, Money):
        value = attrs.asdict(value, recurse=False)  # type: ignore[arg-type]
    if isinstance(value, Mapping):
        return {str(k): redacted(v, str(k)) for k, v in value.items() if not _SECRET.search(str(k))}
    if isinstance(value, list | tuple | set | frozenset):
        return [redacted(item, key) for item in value]
    if isinstance(value, str) and key and _RECIPIENT.search(key) and key != "phone_number_id":
        return mask(value)  # a BSUID as "US.…1918", a phone number as "…3210"
    return _scalar(value)


def _scalar(value: object) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Money):
        return str(value)  # its wire form, as the caller wrote it: "10.00", "0.0118"
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return str(value)
