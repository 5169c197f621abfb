"""A clinic's request to top up its wallet, and the state machine it moves through.

pending --approve--> invoiced --invoice paid--> completed
pending --reject---> rejected
pending --cancel---> cancelled          (by the tenant itself)
invoiced --invoice voided--> cancelled
completed --payment reversed--> reversed   (the bank transfer bounced, contract v3 §19)
"""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs

from billing.domain.errors import InvalidStateError
from billing.domain.events import DomainEvent, TopupCancelled, TopupRejected, TopupRequested
from billing.domain.money import Money
from billing.domain.text import validate_text

MAX_NOTE_LENGTH = 512


class TopupStatus(enum.StrEnum):
    PENDING = "pending"
    INVOICED = "invoiced"
    COMPLETED = "completed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    REVERSED = "reversed"


def validate_note(value: str | None, *, field: str, required: bool = False) -> str | None:
    return validate_text(value, field=field, max_length=MAX_NOTE_LENGTH, required=required, multiline=True)


@attrs.define
class TopupRequest:
    id: UUID
    tenant_id: str
    amount: Money
    note: str | None
    status: TopupStatus
    requested_by: str
    requester_email: str | None
    requested_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_note: str | None = None
    rejection_reason: str | None = None
    invoice_id: UUID | None = None
    invoice_number: str | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    reversed_at: datetime | None = None
    events: list[DomainEvent] = attrs.field(factory=list, eq=False, repr=False)

    @property
    def currency(self) -> str:
        return self.amount.currency

    @classmethod
    def submit(
        cls,
        request_id: UUID,
        tenant_id: str,
        amount: Money,
        note: str | None,
        requested_by: str,
        requester_email: str | None,
        at: datetime,
    ) -> TopupRequest:
        request = cls(
            id=request_id,
            tenant_id=tenant_id,
            amount=amount,
            note=validate_note(note, field="note"),
            status=TopupStatus.PENDING,
            requested_by=requested_by,
            requester_email=requester_email,
            requested_at=at,
        )
        request.events.append(TopupRequested(request_id, tenant_id, amount, requested_by, requester_email, at))
        return request

    def _require(self, status: TopupStatus, action: str) -> None:
        if self.status is not status:
            raise InvalidStateError(f"cannot {action} a top-up request that is {self.status}; it must be {status}")

    def approve(self, invoice_id: UUID, invoice_number: str, by: str, note: str | None, at: datetime) -> None:
        self._require(TopupStatus.PENDING, "approve")
        note = validate_note(note, field="note")  # before any change: a refusal leaves it pending
        self.status = TopupStatus.INVOICED
        self.invoice_id = invoice_id
        self.invoice_number = invoice_number
        self.decided_by = by
        self.decided_at = at
        self.decision_note = note

    def reject(self, by: str, reason: str, at: datetime) -> None:
        self._require(TopupStatus.PENDING, "reject")
        reason = validate_note(reason, field="reason", required=True) or ""
        self.status = TopupStatus.REJECTED
        self.decided_by = by
        self.decided_at = at
        self.decision_note = reason
        self.rejection_reason = reason
        self.events.append(TopupRejected(self.id, self.tenant_id, reason, at))

    def cancel(self, at: datetime) -> None:
        """The tenant withdraws its own pending request."""
        self._require(TopupStatus.PENDING, "cancel")
        self._cancelled(at)

    def cancel_for_voided_invoice(self, at: datetime) -> None:
        self._require(TopupStatus.INVOICED, "cancel for a voided invoice")
        self._cancelled(at)

    def complete(self, at: datetime) -> None:
        self._require(TopupStatus.INVOICED, "complete")
        self.status = TopupStatus.COMPLETED
        self.completed_at = at

    def reverse(self, at: datetime) -> None:
        """Its invoice's payment bounced: the credit it brought is taken back (terminal)."""
        self._require(TopupStatus.COMPLETED, "reverse")
        self.status = TopupStatus.REVERSED
        self.reversed_at = at

    def _cancelled(self, at: datetime) -> None:
        self.status = TopupStatus.CANCELLED
        self.cancelled_at = at
        self.events.append(TopupCancelled(self.id, self.tenant_id, at))

    def pull_events(self) -> list[DomainEvent]:
        events, self.events = self.events, []
        return events
