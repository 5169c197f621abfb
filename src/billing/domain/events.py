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


@attrs.frozen
class PaymentReversed:
    """A paid top-up's payment bounced (contract v3 §19): `reversed_amount` left the wallet, `debt_added` is owed."""

    invoice_id: UUID
    tenant_id: str
    number: str
    total: Money
    reversed_amount: Money
    debt_added: Money
    reason: str
    topup_request_id: UUID | None
    at: datetime


@attrs.frozen
class DebtRepaid:
    """Money that came in or was released paid (part of) the wallet's debt."""

    tenant_id: str
    amount: Money
    debt_left: Money
    reference_id: str
    transaction_id: UUID
    at: datetime


@attrs.frozen
class AdjustmentProposed:
    adjustment_id: UUID
    tenant_id: str
    amount: Money
    proposed_by: str
    at: datetime


@attrs.frozen
class AdjustmentApplied:
    adjustment_id: UUID
    tenant_id: str
    amount: Money
    decided_by: str
    transaction_id: UUID
    at: datetime


@attrs.frozen
class AdjustmentRejected:
    adjustment_id: UUID
    tenant_id: str
    decided_by: str
    reason: str
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
    | PaymentReversed
    | DebtRepaid
    | AdjustmentProposed
    | AdjustmentApplied
    | AdjustmentRejected
)
