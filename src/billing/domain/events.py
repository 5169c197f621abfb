"""Domain events: facts in the past tense. Handlers in the container's table react inside the unit of work
that recorded them (queue an email); subscribers on the service react after it committed."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import attrs

from billing.domain.money import Money


@attrs.frozen
class TopupRequested:
    request_id: UUID
    tenant_id: str
    amount: Money
    requested_by: str
    requester_email: str | None
    at: datetime


@attrs.frozen
class TopupRejected:
    request_id: UUID
    tenant_id: str
    reason: str
    at: datetime


@attrs.frozen
class TopupCancelled:
    request_id: UUID
    tenant_id: str
    at: datetime


@attrs.frozen
class InvoiceIssued:
    invoice_id: UUID
    tenant_id: str
    number: str
    total: Money
    due_date: date | None
    topup_request_id: UUID | None
    note: str | None
    at: datetime


@attrs.frozen
class InvoicePaid:
    invoice_id: UUID
    tenant_id: str
    number: str
    total: Money
    payment_reference: str
    at: datetime
    topup_request_id: UUID | None = None


@attrs.frozen
class InvoiceVoided:
    invoice_id: UUID
    tenant_id: str
    number: str
    reason: str
    at: datetime


@attrs.frozen
class HoldPlaced:
    hold_id: UUID
    tenant_id: str
    message_id: str
    amount: Money
    category: str
    at: datetime


@attrs.frozen
class HoldSettled:
    hold_id: UUID
    tenant_id: str
    message_id: str
    charged: Money
    shortfall: Money
    transaction_id: UUID | None  # None: settled free, no ledger row
    at: datetime


@attrs.frozen
class HoldVoided:
    hold_id: UUID
    tenant_id: str
    message_id: str
    amount: Money  # released back to `available`
    at: datetime


@attrs.frozen
class LowBalance:
    """A move took `available` from at or above a configured level to below it (contract v2 §10)."""

    alert_id: UUID
    tenant_id: str
    level: Money
    available: Money  # after the move
    at: datetime


DomainEvent = (
    TopupRequested
    | TopupRejected
    | TopupCancelled
    | InvoiceIssued
    | InvoicePaid
    | InvoiceVoided
    | HoldPlaced
    | HoldSettled
    | HoldVoided
    | LowBalance
)
