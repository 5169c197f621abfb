"""Tenant ids: 1-64 characters of A-Z a-z 0-9 _ -."""

from __future__ import annotations

import re

from billing.domain.errors import ValidationError

_TENANT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def validate_tenant_id(value: object, *, field: str = "tenant_id") -> str:
    if not isinstance(value, str) or not _TENANT_ID.fullmatch(value):
        raise ValidationError.of(field, "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'")
    return value
