"""Invoice numbers, exactly as the contract spells them.

TOP-{yyyyMM}-{tenantToken}-{requestSuffix}    SUB-{yyyyMM}-{tenantToken}
tenantToken: first 12 hex digits of SHA-256 of the UTF-8 tenant id, upper-cased.
requestSuffix: last 8 hex digits of the top-up request id, upper-cased.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from uuid import UUID


def tenant_token(tenant_id: str) -> str:
    return hashlib.sha256(tenant_id.encode("utf-8")).hexdigest()[:12].upper()


def topup_invoice_number(tenant_id: str, request_id: UUID, approved_at: datetime) -> str:
    """`approved_at` must be timezone-aware; the month is taken in UTC."""
    month = approved_at.astimezone(UTC).strftime("%Y%m")
    return f"TOP-{month}-{tenant_token(tenant_id)}-{request_id.hex[-8:].upper()}"


def subscription_invoice_number(tenant_id: str, period: str) -> str:
    """`period` is `YYYY-MM`: one subscription invoice per tenant and period, so its month names it."""
    return f"SUB-{period.replace('-', '')}-{tenant_token(tenant_id)}"
