"""An operator's correction of a wallet (contract v3 §19), under four eyes when the deployment asks for them.

proposed --approve (another operator)--> applied
proposed --reject--> rejected
Without four eyes an adjustment is proposed and applied in one step, its proposer deciding.
"""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs

from billing.domain.errors import ForbiddenError, InvalidStateError, ValidationError
from billing.domain.events import AdjustmentApplied, AdjustmentProposed, AdjustmentRejected, DomainEvent
from billing.domain.ledger import EntryKind, Posting
from billing.domain.money import Money
from billing.domain.text import validate_text

MAX_REASON_LENGTH = 512
MAX_REFERENCE_LENGTH = 200


class AdjustmentStatus(enum.StrEnum):
    PROPOSED = "proposed"
    APPLIED = "applied"
    REJECTED = "rejected"


def validate_reason(value: object, *, field: str = "reason") -> str:
    reason = validate_text(value, field=field, max_length=MAX_REASON_LENGTH, required=True, multiline=True)
    assert reason is not None
    return reason


def validate_reference(value: object) -> str:
    reference = validate_text(value, field="reference_id", max_length=MAX_REFERENCE_LENGTH, required=True)
    assert reference is not None
    return reference


@attrs.define
class Adjustment:
    id: UUID
    tenant_id: str
    amount: Money  # signed, never zero
    reason: str
    reference_id: str | None  # None only for in-process adjustments without one and v1's rows
    status: AdjustmentStatus
    proposed_by: str | None  # None only for v1's rows, listed as applied
    proposed_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    transaction_id: UUID | None = None  # the ledger row, once applied
    rejection_reason: str | None = None
    events: list[DomainEvent] = attrs.field(factory=list, eq=False, repr=False)

    @classmethod
    def propose(
        cls,
        adjustment_id: UUID,
        tenant_id: str,
        amount: Money,
        reason: object,
        reference_id: str | None,
        by: str,
        at: datetime,
    ) -> Adjustment:
        if amount.amount == 0:
            raise ValidationError.of("amount", "must not be zero")
        adjustment = cls(
            id=adjustment_id,
            tenant_id=tenant_id,
            amount=amount,
            reason=validate_reason(reason),
            reference_id=reference_id,
            status=AdjustmentStatus.PROPOSED,
            proposed_by=by,
            proposed_at=at,
        )
        adjustment.events.append(AdjustmentProposed(adjustment_id, tenant_id, amount, by, at))
        return adjustment

    def posting(self, entry_id: UUID, at: datetime) -> Posting:
        """Its ledger row, to be applied by `applied` once the wallet took it (funds are checked then)."""
        return Posting(entry_id, self.tenant_id, EntryKind.ADJUSTMENT, self.amount, self.reference_id, self.reason, at)

    def check_approver(self, by: str, *, four_eyes: bool) -> None:
        """Before anything moves: it must still be proposed, and under four eyes its proposer may not apply it."""
        self._require_proposed("approve")
        if four_eyes and by == self.proposed_by:
            raise ForbiddenError(
                "four eyes: another operator than the one who proposed this adjustment must approve it"
            )

    def applied(self, by: str, transaction_id: UUID, at: datetime) -> None:
        self.check_approver(by, four_eyes=False)
        self.status = AdjustmentStatus.APPLIED
        self.decided_by = by
        self.decided_at = at
        self.transaction_id = transaction_id
        self.events.append(AdjustmentApplied(self.id, self.tenant_id, self.amount, by, transaction_id, at))

    def reject(self, by: str, reason: object, at: datetime) -> None:
        self._require_proposed("reject")
        self.rejection_reason = validate_reason(reason)
        self.status = AdjustmentStatus.REJECTED
        self.decided_by = by
        self.decided_at = at
        self.events.append(AdjustmentRejected(self.id, self.tenant_id, by, self.rejection_reason, at))

    def same_as(self, amount: Money) -> bool:
        """A repeat of its `reference_id` with this amount is the same adjustment (answered again)."""
        return self.amount == amount

    def _require_proposed(self, action: str) -> None:
        if self.status is not AdjustmentStatus.PROPOSED:
            raise InvalidStateError(f"cannot {action} an adjustment that is {self.status}")

    def pull_events(self) -> list[DomainEvent]:
        events, self.events = self.events, []
        return events
