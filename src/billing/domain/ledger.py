"""The append-only ledger: signed entries, each carrying the balance after it."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs

from billing.domain.costs import Cost
from billing.domain.errors import InvalidStateError, ValidationError
from billing.domain.money import Money
from billing.domain.pricing import Category, FreeReason, Quote

MAX_DESCRIPTION_LENGTH = 512  # the ledger's `description` column


def describe(text: str) -> str:
    """A description the service writes, kept within the column: a long one (a reason quoted in it) is cut with
    an ellipsis rather than refused, since the move it explains must not fail for its wording."""
    return text if len(text) <= MAX_DESCRIPTION_LENGTH else text[: MAX_DESCRIPTION_LENGTH - 1] + "…"


class EntryKind(enum.StrEnum):
    TOPUP = "topup"
    CHARGE = "charge"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"
    PAYMENT_REVERSAL = "payment_reversal"  # a paid top-up's bank transfer bounced (contract v3 §19)
    DEBT_REPAYMENT = "debt_repayment"  # money that came in or was released pays the wallet's debt


@attrs.frozen
class PriceSnapshot:
    """What a message's `charge` row was priced by (contract v2 §9), kept for disputes."""

    hold_id: UUID | None
    category: Category
    market: str
    country: str
    tier: int
    rate_card_id: UUID
    unit_price: Money
    free_reason: FreeReason | None
    # Contract v3 §15: what the message cost (None: uncosted; root's answers only) and its message time (kept so a
    # refund counts on its message's day; None for a charge made before v3).
    cost: Cost | None = None
    message_at: datetime | None = None

    @classmethod
    def of(
        cls, quote: Quote, hold_id: UUID | None, *, cost: Cost | None = None, message_at: datetime | None = None
    ) -> PriceSnapshot:
        return cls(
            hold_id=hold_id,
            category=quote.category,
            market=quote.market,
            country=quote.country,
            tier=quote.tier,
            rate_card_id=quote.rate_card_id,
            unit_price=quote.unit_price,
            free_reason=quote.free_reason,
            cost=cost,
            message_at=message_at,
        )


@attrs.frozen
class Posting:
    """A signed amount to apply to one tenant's wallet; becomes a `LedgerEntry` once applied."""

    entry_id: UUID
    tenant_id: str
    kind: EntryKind
    amount: Money
    reference_id: str | None
    description: str | None
    at: datetime
    price: PriceSnapshot | None = None  # a message's charge only

    def __attrs_post_init__(self) -> None:
        credit_only = {EntryKind.TOPUP, EntryKind.REFUND}
        if self.kind in credit_only and not self.amount.is_positive:
            raise ValidationError.of("amount", f"a {self.kind} must be a credit")
        debit_only = {EntryKind.CHARGE, EntryKind.PAYMENT_REVERSAL, EntryKind.DEBT_REPAYMENT}
        if self.kind in debit_only and not self.amount.is_negative:
            raise ValidationError.of("amount", f"a {self.kind} must be a debit")
        if self.amount.amount == 0:
            raise ValidationError.of("amount", "must not be zero")

    @classmethod
    def topup(
        cls,
        entry_id: UUID,
        tenant_id: str,
        amount: Money,
        request_id: UUID,
        at: datetime,
        invoice_number: str | None = None,
        payment_reference: str | None = None,
    ) -> Posting:
        """The credit of a paid top-up; its description names the invoice and the bank transfer, so a statement
        explains the movement without the invoices page."""
        description = "Wallet top-up"
        if invoice_number is not None:
            description += f": invoice {invoice_number}, payment reference {payment_reference}"
        return cls(entry_id, tenant_id, EntryKind.TOPUP, amount, str(request_id), describe(description), at)

    @classmethod
    def payment_reversal(
        cls,
        entry_id: UUID,
        tenant_id: str,
        amount: Money,
        request_id: UUID,
        invoice_number: str,
        payment_reference: str | None,
        reason: str,
        at: datetime,
    ) -> Posting:
        """The part of a reversed top-up that `available` covered, taken back (contract v3 §19)."""
        description = f"Payment reversed: invoice {invoice_number}, payment reference {payment_reference} ({reason})"
        return cls(entry_id, tenant_id, EntryKind.PAYMENT_REVERSAL, -amount, str(request_id), describe(description), at)

    @classmethod
    def debt_repayment(
        cls, entry_id: UUID, tenant_id: str, amount: Money, reference_id: str, description: str, at: datetime
    ) -> Posting:
        """`amount` of the wallet's debt paid from what `reference_id` (a credit or a release) made available."""
        return cls(entry_id, tenant_id, EntryKind.DEBT_REPAYMENT, -amount, reference_id, describe(description), at)

    @classmethod
    def charge(
        cls,
        entry_id: UUID,
        tenant_id: str,
        amount: Money,
        reference_id: str,
        description: str | None,
        at: datetime,
        price: PriceSnapshot | None = None,
    ) -> Posting:
        return cls(entry_id, tenant_id, EntryKind.CHARGE, -amount, reference_id, description, at, price)


@attrs.frozen
class LedgerEntry:
    id: UUID
    wallet_id: UUID
    tenant_id: str
    kind: EntryKind
    amount: Money
    balance_after: Money
    reference_id: str | None
    description: str | None
    created_at: datetime
    price: PriceSnapshot | None = None


def refund_posting(
    charge: LedgerEntry,
    already_refunded: Money,
    amount: Money | None,
    entry_id: UUID,
    at: datetime,
    description: str | None = None,
) -> Posting:
    """A refund of `charge`: the rest by default, never more than charged minus already refunded."""
    if charge.kind is not EntryKind.CHARGE:
        raise InvalidStateError("only a charge can be refunded")
    refundable = -charge.amount - already_refunded
    if not refundable.is_positive:
        raise InvalidStateError(f"charge {charge.reference_id!r} is already fully refunded")
    amount = refundable if amount is None else amount
    if amount > refundable:
        raise ValidationError.of("amount", f"must be at most {refundable}, what is left to refund of this charge")
    return Posting(
        entry_id,
        charge.tenant_id,
        EntryKind.REFUND,
        amount,
        charge.reference_id,
        description or f"Refund of charge {charge.reference_id}",
        at,
    )
