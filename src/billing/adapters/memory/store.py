"""The committed state of the in-memory adapters, and the uniqueness rules the database also has."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import attrs

from billing.application.idempotency import IdempotencyRecord
from billing.application.outbox import OutboxEntry
from billing.application.ports import ConcurrencyConflictError
from billing.domain.adjustment import Adjustment
from billing.domain.audit import AuditEntry
from billing.domain.contact import BillingContact
from billing.domain.errors import DuplicateError
from billing.domain.hold import Hold
from billing.domain.invoice import Invoice, InvoicePurpose
from billing.domain.ledger import EntryKind, LedgerEntry
from billing.domain.margins import MarginLine
from billing.domain.pricing import RateCard
from billing.domain.protections import LowBalanceAlert, spend_hour
from billing.domain.topup import TopupRequest
from billing.domain.wallet import Wallet
from billing.domain.wallet_settings import WalletSettings
from billing.domain.webhook_events import WebhookEvent, WhatsAppNumber


@attrs.define
class State:
    wallets: dict[str, Wallet] = attrs.field(factory=dict)
    entries: list[LedgerEntry] = attrs.field(factory=list)
    charges: dict[tuple[str, str], LedgerEntry] = attrs.field(factory=dict)
    topup_credits: set[str] = attrs.field(factory=set)
    requests: dict[UUID, TopupRequest] = attrs.field(factory=dict)
    invoices: dict[UUID, Invoice] = attrs.field(factory=dict)
    invoice_numbers: set[tuple[str, str]] = attrs.field(factory=set)
    subscription_periods: set[tuple[str, str]] = attrs.field(factory=set)
    # by (tenant, payment reference key): the paid invoice holding it (the partial unique index)
    payment_references: dict[tuple[str, str], UUID] = attrs.field(factory=dict)
    idempotency: dict[tuple[str, str], IdempotencyRecord] = attrs.field(factory=dict)
    contacts: dict[str, BillingContact] = attrs.field(factory=dict)
    outbox: dict[UUID, OutboxEntry] = attrs.field(factory=dict)
    rate_cards: dict[UUID, RateCard] = attrs.field(factory=dict)
    message_counts: dict[tuple[str, str, str, str], int] = attrs.field(factory=dict)
    cost_counts: dict[tuple[str, str, str, str], int] = attrs.field(factory=dict)
    holds: dict[tuple[str, str], Hold] = attrs.field(factory=dict)  # by (tenant, message id): the unique index
    wallet_settings: dict[str, WalletSettings] = attrs.field(factory=dict)
    whatsapp_numbers: dict[str, WhatsAppNumber] = attrs.field(factory=dict)  # by phone_number_id
    # by (tenant or None, phone_number_id for a None tenant, message id, status): the unique indexes
    webhook_events: dict[tuple[str | None, str | None, str | None, str | None], WebhookEvent] = attrs.field(
        factory=dict
    )
    alerts: dict[UUID, LowBalanceAlert] = attrs.field(factory=dict)
    spend: dict[tuple[str, datetime], Decimal] = attrs.field(factory=dict)  # by (tenant, UTC hour): wallet_spend
    adjustments: dict[UUID, Adjustment] = attrs.field(factory=dict)
    audit: list[AuditEntry] = attrs.field(factory=list)  # appended, never changed
    margins: list[MarginLine] = attrs.field(factory=list)  # each message's and refund's line (summed on read)

    def copy(self) -> State:
        """A staging copy: containers are copied; stored objects are replaced, never mutated."""
        return State(
            wallets=dict(self.wallets),
            entries=list(self.entries),
            charges=dict(self.charges),
            topup_credits=set(self.topup_credits),
            requests=dict(self.requests),
            invoices=dict(self.invoices),
            invoice_numbers=set(self.invoice_numbers),
            subscription_periods=set(self.subscription_periods),
            payment_references=dict(self.payment_references),
            idempotency=dict(self.idempotency),
            contacts=dict(self.contacts),
            outbox=dict(self.outbox),
            rate_cards=dict(self.rate_cards),
            message_counts=dict(self.message_counts),
            cost_counts=dict(self.cost_counts),
            holds=dict(self.holds),
            wallet_settings=dict(self.wallet_settings),
            whatsapp_numbers=dict(self.whatsapp_numbers),
            webhook_events=dict(self.webhook_events),
            alerts=dict(self.alerts),
            spend=dict(self.spend),
            adjustments=dict(self.adjustments),
            audit=list(self.audit),
            margins=list(self.margins),
        )

    def append_entry(self, entry: LedgerEntry) -> None:
        """The same exactly-once rules as the partial unique indexes in PostgreSQL."""
        if entry.kind is EntryKind.CHARGE:
            key = (entry.tenant_id, entry.reference_id or "")
            if key in self.charges:
                raise ConcurrencyConflictError(f"charge {key} already exists")
            self.charges[key] = entry
        if entry.kind is EntryKind.PAYMENT_REVERSAL and self._reversed(entry.reference_id):
            raise ConcurrencyConflictError(f"top-up {entry.reference_id} already reversed")
        if entry.kind is EntryKind.TOPUP:
            if entry.reference_id in self.topup_credits:
                raise ConcurrencyConflictError(f"top-up {entry.reference_id} already credited")
            self.topup_credits.add(entry.reference_id or "")
        if entry.kind in (EntryKind.CHARGE, EntryKind.REFUND):  # as the ledger's trigger keeps wallet_spend
            bucket = (entry.tenant_id, spend_hour(entry.created_at))
            self.spend[bucket] = self.spend.get(bucket, Decimal(0)) - entry.amount.amount
        self.entries.append(entry)

    def _reversed(self, request_id: str | None) -> bool:
        """One reversal row per top-up request, as `ux_wallet_transactions_payment_reversal`."""
        return any(e.kind is EntryKind.PAYMENT_REVERSAL and e.reference_id == request_id for e in self.entries)

    def insert_invoice(self, invoice: Invoice) -> None:
        number = (invoice.tenant_id, invoice.number)
        if number in self.invoice_numbers:
            raise DuplicateError(f"invoice number {invoice.number} already exists")
        if invoice.purpose is InvoicePurpose.SUBSCRIPTION:
            period = (invoice.tenant_id, invoice.period)
            if period in self.subscription_periods:
                raise DuplicateError(
                    f"tenant {invoice.tenant_id} already has a subscription invoice for {invoice.period}"
                )
            self.subscription_periods.add(period)
        self._hold_payment_reference(invoice)
        self.invoice_numbers.add(number)
        self.invoices[invoice.id] = invoice

    def replace_invoice(self, invoice: Invoice) -> None:
        self._hold_payment_reference(invoice)
        self.invoices[invoice.id] = invoice

    def _hold_payment_reference(self, invoice: Invoice) -> None:
        """One paid invoice per tenant and payment reference key, as `ux_invoices_payment_reference`."""
        if invoice.payment_reference_key is None:
            return
        key = (invoice.tenant_id, invoice.payment_reference_key)
        if self.payment_references.get(key, invoice.id) != invoice.id:
            raise DuplicateError(f"payment reference {invoice.payment_reference!r} is already used by a paid invoice")
        self.payment_references[key] = invoice.id


@attrs.define
class InMemoryStore:
    """Committed state plus the lock that makes in-memory units of work serializable."""

    state: State = attrs.field(factory=State)
    lock: asyncio.Lock = attrs.field(factory=asyncio.Lock)
