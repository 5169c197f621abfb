"""A tenant's billing contact: who receives its invoices."""

from __future__ import annotations

import re
from datetime import datetime

import attrs

from billing.domain.errors import ValidationError

# Pragmatic, not RFC 5322: one @, no spaces, a dotted domain. Delivery is the real test.
_EMAIL = re.compile(
    r"[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 200


def validate_email(value: object, *, field: str = "email") -> str:
    if not isinstance(value, str) or len(value) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(value):
        raise ValidationError.of(field, "must be an email address such as billing@clinic.example")
    return value


@attrs.frozen
class BillingContact:
    tenant_id: str
    email: str
    name: str | None
    updated_by: str
    updated_at: datetime

    @classmethod
    def create(cls, tenant_id: str, email: object, name: object, by: str, at: datetime) -> BillingContact:
        if name is not None and (not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_NAME_LENGTH):
            raise ValidationError.of("name", f"must be 1-{MAX_NAME_LENGTH} characters")
        return cls(tenant_id, validate_email(email), name, by, at)
