"""Commands: what a caller asks for, as it arrived. Handlers validate and carry them out.

Amounts stay as given (a string, an int or a Decimal) so that every entry point gets the same
validation and the same messages.
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import attrs


@attrs.frozen
class RequestTopup:
    amount: object
    note: str | None = None


@attrs.frozen
class ApproveTopup:
    request_id: UUID
    note: str | None = None
    due_date: date | None = None


@attrs.frozen
class RejectTopup:
    request_id: UUID
    reason: str


@attrs.frozen
class CancelTopup:
    request_id: UUID


@attrs.frozen
class MarkInvoicePaid:
    invoice_id: UUID
    payment_reference: str
    paid_at: datetime | None = None


@attrs.frozen
class VoidInvoice:
    invoice_id: UUID
    reason: str


@attrs.frozen
class SubscriptionLine:
    description: str
    unit_price: object
    quantity: int = 1


@attrs.frozen
class CreateSubscriptionInvoice:
    tenant_id: str
    period: str
    lines: tuple[SubscriptionLine, ...]
    due_date: date | None = None
    issue: bool = True


@attrs.frozen
class IssueInvoice:
    invoice_id: UUID
    due_date: date | None = None


@attrs.frozen
class ChargeWallet:
    tenant_id: str
    amount: object
    reference_id: str
    description: str | None = None


@attrs.frozen
class RefundCharge:
    tenant_id: str
    reference_id: str
    amount: object | None = None
    description: str | None = None


@attrs.frozen
class AdjustWallet:
    tenant_id: str
    amount: object
    description: str
    reference_id: str | None = None
