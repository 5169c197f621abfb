"""Invoices: draft --issue--> issued --mark paid--> paid --reverse payment--> payment_reversed (a top-up's bounced
transfer, terminal); draft|issued --void--> void."""

from __future__ import annotations

import enum
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID

import attrs

from billing.domain.errors import InvalidStateError, ValidationError
from billing.domain.events import DomainEvent, InvoiceIssued, InvoicePaid, InvoiceVoided, PaymentReversed
from billing.domain.money import MAX_AMOUNT, Money
from billing.domain.numbering import subscription_invoice_number, topup_invoice_number
from billing.domain.text import validate_text
from billing.domain.topup import TopupRequest, validate_note

TOPUP_LINE_DESCRIPTION = "WhatsApp wallet top-up"
MAX_PAYMENT_REFERENCE_LENGTH = 200
_PERIOD = re.compile(r"([0-9]{4})-(0[1-9]|1[0-2])")


class InvoicePurpose(enum.StrEnum):
    SUBSCRIPTION = "subscription"
    TOPUP = "topup"


class InvoiceStatus(enum.StrEnum):
    DRAFT = "draft"
    ISSUED = "issued"
    PAID = "paid"
    VOID = "void"
    PAYMENT_REVERSED = "payment_reversed"


def validate_period(value: object, *, field: str = "period") -> str:
    if not isinstance(value, str) or not _PERIOD.fullmatch(value):
        raise ValidationError.of(field, "must be a month as YYYY-MM")
    return value


def period_of(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m")


def reference_key(reference: str) -> str:
    """What a payment reference is compared by: trimmed and case-folded, so `" Ref-1 "` and `"ref-1"` are one
    bank transfer (contract v2 §12). Inner spacing is kept: `"ref 1"` and `"ref-1"` may be two transfers."""
    return reference.strip().casefold()


@attrs.frozen
class InvoiceLine:
    description: str
    quantity: int
    unit_price: Money

    @property
    def amount(self) -> Money:
        return Money(self.unit_price.amount * Decimal(self.quantity), self.unit_price.currency)


@attrs.define
class Invoice:
    id: UUID
    number: str
    tenant_id: str
    purpose: InvoicePurpose
    status: InvoiceStatus
    currency: str
    lines: tuple[InvoiceLine, ...]
    period: str
    created_at: datetime
    topup_request_id: UUID | None = None
    issued_at: datetime | None = None
    due_date: date | None = None
    paid_at: datetime | None = None
    payment_reference: str | None = None
    # The reference as compared (`reference_key`); at most one paid invoice of a tenant holds a key. None while
    # unpaid, and for one paid before the rule existed with a reference an earlier paid invoice holds.
    payment_reference_key: str | None = None
    voided_at: datetime | None = None
    void_reason: str | None = None
    paid_by: str | None = None  # who marked it paid; None for invoices paid before v3
    reversed_at: datetime | None = None
    reversed_by: str | None = None
    reversal_reason: str | None = None
    reversed_amount: Money | None = None  # what the reversal's ledger row took back
    debt_added: Money | None = None  # the rest, which `available` could not cover
    events: list[DomainEvent] = attrs.field(factory=list, eq=False, repr=False)

    @property
    def total(self) -> Money:
        total = Money.zero(self.currency)
        for line in self.lines:
            total = total + line.amount
        return total

    @classmethod
    def draft_for_topup(cls, invoice_id: UUID, request: TopupRequest, at: datetime) -> Invoice:
        return cls(
            id=invoice_id,
            number=topup_invoice_number(request.tenant_id, request.id, at),
            tenant_id=request.tenant_id,
            purpose=InvoicePurpose.TOPUP,
            status=InvoiceStatus.DRAFT,
            currency=request.currency,
            lines=(InvoiceLine(TOPUP_LINE_DESCRIPTION, 1, request.amount),),
            period=period_of(at),
            created_at=at,
            topup_request_id=request.id,
        )

    @classmethod
    def draft_for_subscription(
        cls,
        invoice_id: UUID,
        tenant_id: str,
        period: str,
        lines: tuple[InvoiceLine, ...],
        currency: str,
        at: datetime,
    ) -> Invoice:
        if not lines:
            raise ValidationError.of("lines", "an invoice needs at least one line")
        if any(line.unit_price.currency != currency for line in lines):
            raise ValidationError.of("lines", f"every line must be in {currency}")
        if sum(line.amount.amount for line in lines) > MAX_AMOUNT:
            raise ValidationError.of("lines", f"the invoice's total must be at most {MAX_AMOUNT}")
        return cls(
            id=invoice_id,
            number=subscription_invoice_number(tenant_id, validate_period(period)),
            tenant_id=tenant_id,
            purpose=InvoicePurpose.SUBSCRIPTION,
            status=InvoiceStatus.DRAFT,
            currency=currency,
            lines=lines,
            period=period,
            created_at=at,
        )

    def _require(self, allowed: set[InvoiceStatus], action: str) -> None:
        if self.status not in allowed:
            raise InvalidStateError(f"cannot {action} invoice {self.number}: it is {self.status}")

    def issue(self, at: datetime, due_date: date, note: str | None = None) -> None:
        self._require({InvoiceStatus.DRAFT}, "issue")
        issue_date = at.astimezone(UTC).date()
        if due_date < issue_date:
            raise ValidationError.of("due_date", "must not be before the issue date")
        self.status = InvoiceStatus.ISSUED
        self.issued_at = at
        self.due_date = due_date
        self.events.append(
            InvoiceIssued(
                self.id,
                self.tenant_id,
                self.number,
                self.total,
                due_date,
                self.topup_request_id,
                note,
                at,
            )
        )

    def mark_paid(self, payment_reference: str, paid_at: datetime, now: datetime, by: str | None = None) -> None:
        """`paid_at` is when the money arrived: after the invoice was issued and not after `now`."""
        self._require({InvoiceStatus.ISSUED}, "mark paid")
        paid_at = utc_instant(paid_at, field="paid_at")
        validate_text(
            payment_reference, field="payment_reference", max_length=MAX_PAYMENT_REFERENCE_LENGTH, required=True
        )
        if paid_at > now:
            raise ValidationError.of("paid_at", "must not be in the future")
        if self.issued_at is not None and paid_at < self.issued_at:
            raise ValidationError.of("paid_at", "must not be before the invoice was issued")
        self.status = InvoiceStatus.PAID
        self.paid_at = paid_at
        self.paid_by = by
        self.payment_reference = payment_reference
        self.payment_reference_key = reference_key(payment_reference)
        self.events.append(
            InvoicePaid(
                self.id, self.tenant_id, self.number, self.total, payment_reference, paid_at, self.topup_request_id
            )
        )

    def void(self, reason: str, at: datetime) -> None:
        self._require({InvoiceStatus.DRAFT, InvoiceStatus.ISSUED}, "void")
        self.void_reason = validate_note(reason, field="reason", required=True)
        self.status = InvoiceStatus.VOID
        self.voided_at = at
        self.events.append(InvoiceVoided(self.id, self.tenant_id, self.number, reason, at))

    def check_reversible(self) -> None:
        """Only a paid top-up invoice's payment can be reversed, once."""
        if self.purpose is not InvoicePurpose.TOPUP:
            raise InvalidStateError(f"cannot reverse the payment of invoice {self.number}: it is a {self.purpose}")
        self._require({InvoiceStatus.PAID}, "reverse the payment of")

    def reverse_payment(self, by: str, reason: str, reversed_amount: Money, debt_added: Money, at: datetime) -> None:
        """The paid top-up's transfer bounced: `reversed_amount` is taken back from the wallet and `debt_added`
        (what its `available` could not cover) is owed; together they are the invoice's total."""
        self.check_reversible()
        reason = validate_note(reason, field="reason", required=True) or ""
        if reversed_amount + debt_added != self.total or reversed_amount.is_negative or debt_added.is_negative:
            raise ValueError(f"a reversal of {self.total} cannot take {reversed_amount} and owe {debt_added}")
        self.status = InvoiceStatus.PAYMENT_REVERSED
        self.reversed_at = at
        self.reversed_by = by
        self.reversal_reason = reason
        self.reversed_amount = reversed_amount
        self.debt_added = debt_added
        self.events.append(
            PaymentReversed(
                self.id,
                self.tenant_id,
                self.number,
                self.total,
                reversed_amount,
                debt_added,
                reason,
                self.topup_request_id,
                at,
            )
        )

    def pull_events(self) -> list[DomainEvent]:
        events, self.events = self.events, []
        return events


def utc_instant(value: datetime, *, field: str) -> datetime:
    """An aware time in UTC; a naive one, or one whose UTC falls outside years 1-9999, is refused."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError.of(field, "must carry a UTC offset, e.g. 2026-11-26T12:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValidationError.of(field, "must be a time between the years 1 and 9999 in UTC") from None


def default_due_date(issued_at: datetime, due_days: int) -> date:
    return issued_at.astimezone(UTC).date() + timedelta(days=due_days)
