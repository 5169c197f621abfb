"""The JSON the API speaks (contract §3): request bodies as they arrive, responses as they leave.

Amounts leave as strings with exactly the currency's minor digits. They arrive as raw JSON text
(`msgspec.Raw`) so that a JSON number never passes through a float: the literal is handed to
`Money.parse`, which accepts `150`, `150.5` and `"150.50"` and rejects `150.123` and `1e2`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, overload
from uuid import UUID

import msgspec

from billing.domain.adjustment import Adjustment
from billing.domain.audit import AuditEntry
from billing.domain.contact import BillingContact
from billing.domain.invoice import Invoice, InvoiceLine
from billing.domain.ledger import LedgerEntry, PriceSnapshot
from billing.domain.money import Money
from billing.domain.topup import TopupRequest
from billing.domain.wallet import Wallet
from billing.entrypoints.json_body import AwareDatetime, Body, RawAmount


@overload
def _utc(at: datetime) -> datetime: ...
@overload
def _utc(at: None) -> None: ...
def _utc(at: datetime | None) -> datetime | None:
    """Every time leaves in UTC, whatever zone the database handed it back in."""
    return None if at is None else at.astimezone(UTC)


def _amount(money: Money | None) -> str | None:
    return None if money is None else str(money)


class TopupCreate(Body):
    amount: RawAmount
    note: str | None = None


class TopupApprove(Body):
    note: str | None = None
    due_date: date | None = None


class TopupReject(Body):
    reason: str


class InvoiceMarkPaid(Body):
    payment_reference: str
    paid_at: AwareDatetime | None = None


class InvoiceVoid(Body):
    reason: str


class PaymentReverse(Body):
    reason: str


class AdjustmentCreate(Body):
    amount: RawAmount  # signed, up to 4 fractional digits, not zero
    reason: str
    reference_id: str


class AdjustmentReject(Body):
    reason: str


class ChargeCreate(Body):
    amount: RawAmount
    reference_id: str
    description: str | None = None


class RefundCreate(Body):
    reference_id: str
    amount: RawAmount | msgspec.UnsetType = msgspec.UNSET  # unset: the rest of the charge
    description: str | None = None


class ContactUpdate(Body):
    email: str
    name: str | None = None


class WalletOut(msgspec.Struct, kw_only=True):
    tenant_id: str
    currency: str
    balance: str
    updated_at: datetime
    held: str  # v2 §9: the sum of open holds; available = balance - held
    available: str
    status: str  # v2 §10: active | frozen
    frozen_reason: str | None
    daily_spend: str  # v2 §10: message charges less refunds over the last 14 days, / 14
    runway_days: float | None  # available / daily_spend, rounded down to one decimal; null without spend
    debt: str  # v3 §19: what a reversed payment took beyond `available`; repaid by the next credits and releases

    @classmethod
    def of(cls, wallet: Wallet) -> WalletOut:
        runway = wallet.runway
        return cls(
            tenant_id=wallet.tenant_id,
            currency=wallet.currency,
            balance=str(wallet.balance),
            updated_at=_utc(wallet.updated_at),
            held=str(wallet.held),
            available=str(wallet.available),
            status=wallet.status.value,
            frozen_reason=wallet.frozen_reason,
            daily_spend=str(runway.daily_spend),
            runway_days=None if runway.days is None else float(runway.days),
            debt=str(wallet.debt),
        )


class PriceOut(msgspec.Struct, kw_only=True):
    """A message charge's price snapshot (v2 §9), kept for disputes."""

    hold_id: UUID | None
    category: str
    market: str
    country: str
    tier: int
    rate_card_id: UUID
    unit_price: str
    free_reason: str | None
    # What the message cost the platform (contract v3 §15; null: uncosted): in root's answers only, absent for clinics.
    cost: str | msgspec.UnsetType | None = msgspec.UNSET
    cost_unit_price: str | msgspec.UnsetType | None = msgspec.UNSET
    cost_card_id: UUID | msgspec.UnsetType | None = msgspec.UNSET
    cost_tier: int | msgspec.UnsetType | None = msgspec.UNSET

    @classmethod
    def of(cls, price: PriceSnapshot, *, costs: bool = False) -> PriceOut:
        shown = cls(
            hold_id=price.hold_id,
            category=price.category.value,
            market=price.market,
            country=price.country,
            tier=price.tier,
            rate_card_id=price.rate_card_id,
            unit_price=str(price.unit_price),
            free_reason=None if price.free_reason is None else price.free_reason.value,
        )
        if costs:
            cost = price.cost
            shown.cost = None if cost is None else str(cost.amount)
            shown.cost_unit_price = None if cost is None else str(cost.unit_price)
            shown.cost_card_id = None if cost is None else cost.card_id
            shown.cost_tier = None if cost is None else cost.tier
        return shown


class TransactionOut(msgspec.Struct, kw_only=True):
    id: UUID
    wallet_id: UUID
    tenant_id: str
    kind: str
    amount: str
    balance_after: str
    currency: str
    reference_id: str | None
    description: str | None
    created_at: datetime
    price: PriceOut | None  # a message charge's; null for every other row

    @classmethod
    def of(cls, entry: LedgerEntry, *, costs: bool = False) -> TransactionOut:
        """`costs`: the caller is the root tenant, who sees what a message cost (contract v3 §15)."""
        return cls(
            id=entry.id,
            wallet_id=entry.wallet_id,
            tenant_id=entry.tenant_id,
            kind=entry.kind.value,
            amount=str(entry.amount),
            balance_after=str(entry.balance_after),
            currency=entry.amount.currency,
            reference_id=entry.reference_id,
            description=entry.description,
            created_at=_utc(entry.created_at),
            price=None if entry.price is None else PriceOut.of(entry.price, costs=costs),
        )


class TopupRequestOut(msgspec.Struct, kw_only=True):
    id: UUID
    tenant_id: str
    amount: str
    currency: str
    note: str | None
    status: str
    requested_by: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
    rejection_reason: str | None
    invoice_id: UUID | None
    invoice_number: str | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    reversed_at: datetime | None  # v3 §19: its invoice's payment bounced

    @classmethod
    def of(cls, request: TopupRequest) -> TopupRequestOut:
        return cls(
            id=request.id,
            tenant_id=request.tenant_id,
            amount=str(request.amount),
            currency=request.currency,
            note=request.note,
            status=request.status.value,
            requested_by=request.requested_by,
            requested_at=_utc(request.requested_at),
            decided_by=request.decided_by,
            decided_at=_utc(request.decided_at),
            decision_note=request.decision_note,
            rejection_reason=request.rejection_reason,
            invoice_id=request.invoice_id,
            invoice_number=request.invoice_number,
            completed_at=_utc(request.completed_at),
            cancelled_at=_utc(request.cancelled_at),
            reversed_at=_utc(request.reversed_at),
        )


class InvoiceLineOut(msgspec.Struct, kw_only=True):
    description: str
    quantity: int
    unit_price: str
    amount: str

    @classmethod
    def of(cls, line: InvoiceLine) -> InvoiceLineOut:
        return cls(
            description=line.description,
            quantity=line.quantity,
            unit_price=str(line.unit_price),
            amount=str(line.amount),
        )


class InvoiceOut(msgspec.Struct, kw_only=True):
    id: UUID
    number: str
    tenant_id: str
    purpose: str
    status: str
    currency: str
    lines: list[InvoiceLineOut]
    total: str
    period: str
    topup_request_id: UUID | None
    issued_at: datetime | None
    due_date: date | None
    paid_at: datetime | None
    payment_reference: str | None
    voided_at: datetime | None
    void_reason: str | None
    created_at: datetime
    # v3 §19: who marked it paid (null before v3), and a bounced payment's reversal
    paid_by: str | None
    reversed_at: datetime | None
    reversed_by: str | None
    reversal_reason: str | None
    reversed_amount: str | None  # the reversal's ledger debit
    debt_added: str | None  # the rest, added to the wallet's debt

    @classmethod
    def of(cls, invoice: Invoice) -> InvoiceOut:
        return cls(
            id=invoice.id,
            number=invoice.number,
            tenant_id=invoice.tenant_id,
            purpose=invoice.purpose.value,
            status=invoice.status.value,
            currency=invoice.currency,
            lines=[InvoiceLineOut.of(line) for line in invoice.lines],
            total=str(invoice.total),
            period=invoice.period,
            topup_request_id=invoice.topup_request_id,
            issued_at=_utc(invoice.issued_at),
            due_date=invoice.due_date,
            paid_at=_utc(invoice.paid_at),
            payment_reference=invoice.payment_reference,
            voided_at=_utc(invoice.voided_at),
            void_reason=invoice.void_reason,
            created_at=_utc(invoice.created_at),
            paid_by=invoice.paid_by,
            reversed_at=_utc(invoice.reversed_at),
            reversed_by=invoice.reversed_by,
            reversal_reason=invoice.reversal_reason,
            reversed_amount=_amount(invoice.reversed_amount),
            debt_added=_amount(invoice.debt_added),
        )


def transaction_for_root(entry: LedgerEntry) -> TransactionOut:
    """A ledger row as an operator's write answers it (only root writes to another tenant's ledger)."""
    return TransactionOut.of(entry, costs=True)


class TransactionPage(msgspec.Struct, kw_only=True):
    items: list[TransactionOut]
    page: int
    page_size: int
    total: int


class TopupRequestPage(msgspec.Struct, kw_only=True):
    items: list[TopupRequestOut]
    page: int
    page_size: int
    total: int


class InvoicePage(msgspec.Struct, kw_only=True):
    items: list[InvoiceOut]
    page: int
    page_size: int
    total: int


class ContactOut(msgspec.Struct, kw_only=True):
    tenant_id: str
    email: str
    name: str | None
    updated_by: str
    updated_at: datetime

    @classmethod
    def of(cls, contact: BillingContact) -> ContactOut:
        return cls(
            tenant_id=contact.tenant_id,
            email=contact.email,
            name=contact.name,
            updated_by=contact.updated_by,
            updated_at=_utc(contact.updated_at),
        )


class AdjustmentOut(msgspec.Struct, kw_only=True):
    id: UUID
    tenant_id: str
    amount: str
    reason: str
    reference_id: str | None
    status: str  # proposed | applied | rejected
    proposed_by: str | None
    proposed_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    transaction_id: UUID | None
    rejection_reason: str | None

    @classmethod
    def of(cls, adjustment: Adjustment) -> AdjustmentOut:
        return cls(
            id=adjustment.id,
            tenant_id=adjustment.tenant_id,
            amount=str(adjustment.amount),
            reason=adjustment.reason,
            reference_id=adjustment.reference_id,
            status=adjustment.status.value,
            proposed_by=adjustment.proposed_by,
            proposed_at=_utc(adjustment.proposed_at),
            decided_by=adjustment.decided_by,
            decided_at=_utc(adjustment.decided_at),
            transaction_id=adjustment.transaction_id,
            rejection_reason=adjustment.rejection_reason,
        )


class AdjustmentPage(msgspec.Struct, kw_only=True):
    items: list[AdjustmentOut]
    page: int
    page_size: int
    total: int


class ActorOut(msgspec.Struct, kw_only=True):
    kind: str  # user | system
    sub: str | None
    tenant: str | None


class TargetOut(msgspec.Struct, kw_only=True):
    type: str
    id: str


class AuditOut(msgspec.Struct, kw_only=True):
    id: UUID
    at: datetime
    tenant_id: str | None
    actor: ActorOut
    action: str
    target: TargetOut
    request_id: str | None
    ip: str | None
    details: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditOut:
        actor = entry.actor
        return cls(
            id=entry.id,
            at=_utc(entry.at),
            tenant_id=entry.tenant_id,
            actor=ActorOut(kind=actor.kind.value, sub=actor.sub, tenant=actor.tenant),
            action=entry.action,
            target=TargetOut(type=entry.target.type, id=entry.target.id),
            request_id=entry.request_id,
            ip=entry.ip,
            details=dict(entry.details),
        )


class AuditPage(msgspec.Struct, kw_only=True):
    items: list[AuditOut]
    page: int
    page_size: int
    total: int


class HealthOut(msgspec.Struct):
    status: str


def encode(value: msgspec.Struct) -> bytes:
    """The one JSON encoder of responses, so a stored response replays byte for byte."""
    return msgspec.json.encode(value)
