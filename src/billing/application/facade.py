"""The in-process facade (contract §2, v3 §23): other modules call these, with the same checks as HTTP.

billing = build_in_memory_billing()              # or the container's, on PostgreSQL
clinic = billing.acting_as(Caller("u1", "clinic-a", {"Billing.View"}))
request = await clinic.request_topup("150.00")

Each method is one line: plain values parsed (`inputs`), a command, and `run` (the executor in `service`). Any use
case runs with `run(handler, command)`; the named methods are the contract's in-process names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

import attrs

from billing.application import inputs, queries
from billing.application.audit import ListAudit, ListMyAudit, list_audit, list_my_audit
from billing.application.caller import Caller
from billing.application.handlers.adjustments import (
    AdjustWallet,
    ApproveAdjustment,
    ListAdjustments,
    RejectAdjustment,
    adjust_wallet,
    approve_adjustment,
    list_adjustments,
    reject_adjustment,
)
from billing.application.handlers.alerts import ListAlerts, list_alerts
from billing.application.handlers.contacts import (
    GetBillingContact,
    SetBillingContact,
    get_billing_contact,
    set_billing_contact,
)
from billing.application.handlers.holds import (
    ExpireHolds,
    GetHold,
    HoldBatch,
    HoldResult,
    ListHolds,
    PlaceHold,
    PlaceHolds,
    SettleHold,
    VoidHold,
    expire_holds,
    get_hold,
    list_holds,
    place_hold,
    place_holds,
    settle_hold,
    void_hold,
)
from billing.application.handlers.invoices import (
    CreateSubscriptionInvoice,
    IssueInvoice,
    MarkInvoicePaid,
    ReversePayment,
    SubscriptionLine,
    VoidInvoice,
    create_subscription_invoice,
    issue_invoice,
    mark_invoice_paid,
    reverse_payment,
    void_invoice,
)
from billing.application.handlers.margins import GetMarginReport, margin_report
from billing.application.handlers.quotes import QuoteMessages, QuoteSet, quote_messages
from billing.application.handlers.rate_cards import (
    CreateRateCard,
    GetCurrentRateCard,
    GetRateCard,
    ListRateCards,
    create_rate_card,
    get_current_rate_card,
    get_rate_card,
    list_rate_cards,
)
from billing.application.handlers.topups import (
    ApproveTopup,
    CancelTopup,
    RejectTopup,
    RequestTopup,
    approve_topup,
    cancel_topup,
    reject_topup,
    request_topup,
)
from billing.application.handlers.wallet_settings import (
    GetWalletSettings,
    get_wallet_settings,
    put_wallet_settings,
)
from billing.application.handlers.wallets import (
    ChargeResult,
    ChargeWallet,
    FreezeWallet,
    RefundCharge,
    UnfreezeWallet,
    charge_wallet,
    freeze_wallet,
    refund_charge,
    unfreeze_wallet,
)
from billing.application.handlers.whatsapp import (
    ListNumbers,
    ListWebhookEvents,
    MapNumber,
    NumberMapping,
    UnmapNumber,
    apply_body,
    list_numbers,
    list_webhook_events,
    map_number,
    unmap_number,
)
from billing.application.pagination import Page, PageRequest
from billing.application.ports import (
    HoldFilter,
    Sweep,
    WebhookEventFilter,
)
from billing.application.runtime import Handler
from billing.application.statements import CHUNK as STATEMENT_CHUNK
from billing.application.statements import Statement, StatementPeriod, open_statement
from billing.domain.adjustment import Adjustment, AdjustmentStatus
from billing.domain.audit import AuditEntry
from billing.domain.contact import BillingContact
from billing.domain.hold import Hold, HoldStatus
from billing.domain.invoice import Invoice, InvoicePurpose, InvoiceStatus
from billing.domain.ledger import LedgerEntry
from billing.domain.margins import MarginReport
from billing.domain.money import Money, Scale
from billing.domain.pricing import Category, RateCard, parse_category, parse_window
from billing.domain.protections import LowBalanceAlert
from billing.domain.topup import TopupRequest, TopupStatus
from billing.domain.wallet import Wallet
from billing.domain.wallet_settings import WalletSettings
from billing.domain.webhook_events import Outcome, WebhookEvent, WhatsAppNumber
from billing.domain.whatsapp import ParsedWebhook

if TYPE_CHECKING:
    from billing.application.service import BillingService

C = TypeVar("C")
R = TypeVar("R")
MESSAGE = Scale.MESSAGE  # charges, refunds and adjustments carry up to 4 digits (contract v2 §7)


@attrs.frozen
class BillingSession:
    """The facade bound to one caller; every method is one unit of work.

    Any use case runs with `run(handler, command)`; the named methods below are the contract's
    in-process entry points (§2), taking plain values and parsing them as the HTTP API does."""

    service: BillingService
    caller: Caller

    async def run(self, handler: Handler[C, R], cmd: C) -> R:
        return await self.service.execute(handler, cmd, self.caller)

    def _money(
        self, value: object, field: str = "amount", *, allow_negative: bool = False, scale: Scale = Scale.MINOR
    ) -> Money:
        currency = self.service.runtime.settings.currency
        return inputs.money(value, currency, field=field, allow_negative=allow_negative, scale=scale)

    # Wallets and their ledgers
    async def wallet(self, tenant_id: str | None = None) -> Wallet:
        return await self.run(queries.get_wallet, queries.GetWallet(tenant_id))

    async def balance(self, tenant_id: str | None = None) -> Money:
        """The wallet's balance alone (the caller's own, or a tenant's for an operator)."""
        return (await self.wallet(tenant_id)).balance

    async def transactions(self, tenant_id: str | None = None, page: int = 1, page_size: int = 20) -> Page[LedgerEntry]:
        query = queries.ListTransactions(tenant_id, PageRequest(page, page_size))
        return await self.run(queries.list_transactions, query)

    async def charge(
        self, tenant_id: str, amount: object, reference_id: str, description: str | None = None
    ) -> ChargeResult:
        return await self.run(
            charge_wallet, ChargeWallet(tenant_id, self._money(amount, scale=MESSAGE), reference_id, description)
        )

    async def refund(
        self,
        tenant_id: str,
        reference_id: str,
        amount: object | None = None,
        description: str | None = None,
    ) -> LedgerEntry:
        money = None if amount is None else self._money(amount, scale=MESSAGE)
        return await self.run(refund_charge, RefundCharge(tenant_id, reference_id, money, description))

    async def adjust(self, tenant_id: str, amount: object, reason: str, reference_id: str | None = None) -> Adjustment:
        """Applied at once, or proposed with `BILLING_FOUR_EYES=true` (contract v3 §19)."""
        money = self._money(amount, allow_negative=True, scale=MESSAGE)
        result = await self.run(adjust_wallet, AdjustWallet(tenant_id, money, reason, reference_id))
        return result.adjustment

    async def approve_adjustment(self, adjustment_id: UUID) -> Adjustment:
        return await self.run(approve_adjustment, ApproveAdjustment(adjustment_id))

    async def reject_adjustment(self, adjustment_id: UUID, reason: str) -> Adjustment:
        return await self.run(reject_adjustment, RejectAdjustment(adjustment_id, reason))

    async def adjustments(
        self, tenant_id: str, status: str | None = None, page: int = 1, page_size: int = 20
    ) -> Page[Adjustment]:
        wanted = None if status is None else queries.parse_choice(AdjustmentStatus, status, "status")
        return await self.run(list_adjustments, ListAdjustments(tenant_id, wanted, PageRequest(page, page_size)))

    async def reverse_payment(self, invoice_id: UUID, reason: str) -> Invoice:
        return await self.run(reverse_payment, ReversePayment(invoice_id, reason))

    async def margin(
        self, from_day: date | None = None, to_day: date | None = None, group_by: str = "tenant"
    ) -> MarginReport:
        """Root + View: billed against Meta's cost per tenant, market, category or day (contract v3 §15)."""
        return await self.run(margin_report, GetMarginReport(from_day, to_day, group_by))

    async def audit(
        self,
        tenant_id: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        target_id: str | None = None,
        from_day: date | None = None,
        to_day: date | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> Page[AuditEntry]:
        """Root + View: the audit trail (contract v3 §20), newest first."""
        query = ListAudit(tenant_id, actor, action, target_id, from_day, to_day, PageRequest(page, page_size))
        return await self.run(list_audit, query)

    async def my_audit(
        self,
        actor: str | None = None,
        action: str | None = None,
        target_id: str | None = None,
        from_day: date | None = None,
        to_day: date | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> Page[AuditEntry]:
        """The caller's own tenant's audit rows, as a clinic sees them."""
        query = ListMyAudit(actor, action, target_id, from_day, to_day, PageRequest(page, page_size))
        return await self.run(list_my_audit, query)

    # Top-up requests
    async def request_topup(self, amount: object, note: str | None = None) -> TopupRequest:
        return await self.run(request_topup, RequestTopup(self._money(amount), note))

    async def approve_topup(
        self, request_id: UUID, note: str | None = None, due_date: date | None = None
    ) -> TopupRequest:
        return await self.run(approve_topup, ApproveTopup(request_id, note, due_date))

    async def create_topup_invoice(
        self, request_id: UUID, note: str | None = None, due_date: date | None = None
    ) -> Invoice:
        """The seed's name for approving: creates and issues the top-up invoice."""
        request = await self.approve_topup(request_id, note, due_date)
        assert request.invoice_id is not None
        return await self.invoice(request.invoice_id)

    async def reject_topup(self, request_id: UUID, reason: str) -> TopupRequest:
        return await self.run(reject_topup, RejectTopup(request_id, reason))

    async def cancel_topup(self, request_id: UUID) -> TopupRequest:
        return await self.run(cancel_topup, CancelTopup(request_id))

    async def topup_request(self, request_id: UUID) -> TopupRequest:
        return await self.run(queries.get_topup_request, queries.GetTopupRequest(request_id))

    async def topup_requests(
        self,
        tenant_id: str | None = None,
        status: str | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> Page[TopupRequest]:
        chosen = queries.parse_choice(TopupStatus, status, "status")
        query = queries.ListTopupRequests(tenant_id, chosen, PageRequest(page, page_size))
        return await self.run(queries.list_topup_requests, query)

    # Billing contact: the recipient of invoice email
    async def billing_contact(self, tenant_id: str | None = None) -> BillingContact:
        return await self.run(get_billing_contact, GetBillingContact(tenant_id))

    async def set_billing_contact(
        self, email: str, name: str | None = None, tenant_id: str | None = None
    ) -> BillingContact:
        return await self.run(set_billing_contact, SetBillingContact(email, name, tenant_id))

    # Invoices
    async def invoice(self, invoice_id: UUID) -> Invoice:
        return await self.run(queries.get_invoice, queries.GetInvoice(invoice_id))

    async def invoices(
        self,
        tenant_id: str | None = None,
        status: str | None = None,
        purpose: str | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> Page[Invoice]:
        query = queries.ListInvoices(
            tenant_id,
            queries.parse_choice(InvoiceStatus, status, "status"),
            queries.parse_choice(InvoicePurpose, purpose, "purpose"),
            PageRequest(page, page_size),
        )
        return await self.run(queries.list_invoices, query)

    async def mark_invoice_paid(
        self, invoice_id: UUID, payment_reference: str, paid_at: datetime | None = None
    ) -> Invoice:
        return await self.run(mark_invoice_paid, MarkInvoicePaid(invoice_id, payment_reference, paid_at))

    async def void_invoice(self, invoice_id: UUID, reason: str) -> Invoice:
        return await self.run(void_invoice, VoidInvoice(invoice_id, reason))

    async def create_subscription_invoice(
        self,
        tenant_id: str,
        period: str,
        lines: Sequence[SubscriptionLine],
        due_date: date | None = None,
        issue: bool = True,
    ) -> Invoice:
        priced = tuple(
            attrs.evolve(line, unit_price=self._money(line.unit_price, f"lines[{index}].unit_price"))
            for index, line in enumerate(lines)
        )
        return await self.run(
            create_subscription_invoice, CreateSubscriptionInvoice(tenant_id, period, priced, due_date, issue)
        )

    async def issue_invoice(self, invoice_id: UUID, due_date: date | None = None) -> Invoice:
        return await self.run(issue_invoice, IssueInvoice(invoice_id, due_date))

    # Rate cards and quotes (contract v2 §8)
    async def create_rate_card(
        self,
        name: str,
        effective_from: datetime,
        markets: Mapping[str, str],
        rates: Sequence[Mapping[str, object]],
        *,
        tenant_id: str | None = None,
        free_in_service_window: Sequence[str] = (),
        currency: str | None = None,
        kind: str = "price",
    ) -> RateCard:
        """A card as the API takes it: `rates` as dicts of market, category, unit_price and tier_from; `kind="cost"`
        for Meta's price list to the platform (contract v3 §15, no tenant)."""
        cmd = CreateRateCard(
            name,
            currency or self.service.runtime.settings.currency,
            effective_from,
            tenant_id,
            list(free_in_service_window),
            dict(markets),
            [dict(rate) for rate in rates],
            kind=kind,
        )
        return await self.run(create_rate_card, cmd)

    async def rate_cards(
        self, tenant_id: str | None = None, page: int = 1, page_size: int = 20, kind: str = "price"
    ) -> Page[RateCard]:
        return await self.run(list_rate_cards, ListRateCards(tenant_id, PageRequest(page, page_size), kind))

    async def rate_card(self, card_id: UUID) -> RateCard:
        return await self.run(get_rate_card, GetRateCard(card_id))

    async def current_rate_card(self, tenant_id: str | None = None, kind: str = "price") -> RateCard:
        return await self.run(get_current_rate_card, GetCurrentRateCard(tenant_id, kind))

    async def quote(
        self,
        category: str,
        recipients: Sequence[str],
        window: str | None = None,
        tenant_id: str | None = None,
        phone_number_id: str | None = None,
    ) -> QuoteSet:
        """What messages of `category` (Meta's names too) to `recipients` would cost now; no money moves."""
        parsed, free_reason = parse_category(category)
        cmd = QuoteMessages(parsed, tuple(recipients), parse_window(window), tenant_id, free_reason, phone_number_id)
        return await self.run(quote_messages, cmd)

    # Holds (contract v2 §9): the messaging module reserves, settles and voids as the platform
    async def hold(
        self,
        tenant_id: str,
        message_id: str,
        category: str,
        recipient: str,
        window: str | None = None,
        expires_in_seconds: int | None = None,
        phone_number_id: str | None = None,
    ) -> HoldResult:
        """Reserve one message's price; the same message id asked again the same way answers the first hold.
        `phone_number_id`: the business number sending it (v3 §16), mapped to the tenant."""
        message = inputs.hold_message(message_id, category, recipient, window, phone_number_id=phone_number_id)
        return await self.run(place_hold, PlaceHold(tenant_id, message, expires_in_seconds))

    async def hold_batch(
        self, tenant_id: str, messages: Sequence[Mapping[str, str]], expires_in_seconds: int | None = None
    ) -> HoldBatch:
        """All or nothing: `messages` as dicts of message_id, category, recipient and (optional) window and
        phone_number_id."""
        parsed = tuple(
            inputs.hold_message(
                m.get("message_id", ""),
                m.get("category", ""),
                m.get("recipient", ""),
                m.get("window"),
                index,
                m.get("phone_number_id"),
            )
            for index, m in enumerate(messages)
        )
        return await self.run(place_holds, PlaceHolds(tenant_id, parsed, expires_in_seconds))

    async def settle(
        self,
        tenant_id: str,
        message_id: str,
        category: str | None = None,
        pricing_type: str | None = None,
        billable: bool | None = None,
    ) -> Hold:
        return await self.run(settle_hold, SettleHold(tenant_id, message_id, category, pricing_type, billable))

    async def void(self, tenant_id: str, message_id: str) -> Hold:
        return await self.run(void_hold, VoidHold(tenant_id, message_id))

    async def get_hold(self, tenant_id: str, hold_id: UUID) -> Hold:
        return await self.run(get_hold, GetHold(tenant_id, hold_id))

    async def holds(
        self,
        tenant_id: str | None = None,
        status: str | None = None,
        category: str | None = None,
        message_id: str | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> Page[Hold]:
        """The caller's own holds, or (root + View) a tenant's; newest first."""
        filters = HoldFilter(
            queries.parse_choice(HoldStatus, status, "status"),
            queries.parse_choice(Category, category, "category"),
            message_id,
        )
        return await self.run(list_holds, ListHolds(tenant_id, filters, PageRequest(page, page_size)))

    async def expire_holds(self, limit: int = 500) -> Sweep:
        """One bounded sweep of expired holds (`billing serve` runs it every 15 s): how many expired, and whether
        another sweeper was at work (this one then expired none)."""
        return await self.run(expire_holds, ExpireHolds(limit))

    # Freeze (contract v2 §10)
    async def freeze(self, tenant_id: str, reason: str) -> Wallet:
        return await self.run(freeze_wallet, FreezeWallet(tenant_id, reason))

    async def unfreeze(self, tenant_id: str) -> Wallet:
        return await self.run(unfreeze_wallet, UnfreezeWallet(tenant_id))

    # Wallet settings (contract v2 §10)
    async def settings(self, tenant_id: str | None = None) -> WalletSettings:
        return await self.run(get_wallet_settings, GetWalletSettings(tenant_id))

    async def set_settings(
        self,
        marketing_reserve: object = "0",
        tenant_id: str | None = None,
        *,
        low_balance_levels: Sequence[object] = (),
        auto_topup: Mapping[str, object] | None = None,
        timezone: str | None = None,
    ) -> WalletSettings:
        """Replace the whole settings (PUT): `auto_topup` as `{enabled, threshold, target, monthly_cap}`, `timezone`
        an IANA name (None: `"UTC"`)."""
        currency = self.service.runtime.settings.currency
        cmd = inputs.wallet_settings(currency, marketing_reserve, low_balance_levels, auto_topup, tenant_id, timezone)
        return await self.run(put_wallet_settings, cmd)

    # Low-balance alerts (contract v2 §10)
    async def alerts(self, tenant_id: str | None = None, page: int = 1, page_size: int = 50) -> Page[LowBalanceAlert]:
        """The caller's own alerts, or (root) a tenant's; newest first."""
        return await self.run(list_alerts, ListAlerts(tenant_id, PageRequest(page, page_size)))

    # Meta's status webhook and its phone numbers (contract v2 §11)
    async def map_whatsapp_number(self, phone_number_id: str, tenant_id: str) -> NumberMapping:
        return await self.run(map_number, MapNumber(phone_number_id, tenant_id))

    async def whatsapp_numbers(
        self, tenant_id: str | None = None, page: int = 1, page_size: int = 20
    ) -> Page[WhatsAppNumber]:
        return await self.run(list_numbers, ListNumbers(tenant_id, PageRequest(page, page_size)))

    async def unmap_whatsapp_number(self, phone_number_id: str) -> None:
        await self.run(unmap_number, UnmapNumber(phone_number_id))

    async def webhook_events(
        self, outcome: str | None = None, tenant_id: str | None = None, page: int = 1, page_size: int = 20
    ) -> Page[WebhookEvent]:
        filters = WebhookEventFilter(queries.parse_choice(Outcome, outcome, "outcome"), tenant_id)
        return await self.run(list_webhook_events, ListWebhookEvents(filters, PageRequest(page, page_size)))

    async def apply_whatsapp_statuses(self, parsed: ParsedWebhook) -> list[WebhookEvent]:
        """Apply a verified body's statuses, one tenant per unit of work; the events recorded now (a status
        recorded before is skipped). A failure leaves the tenants not yet applied to Meta's redelivery."""
        return await apply_body(self, parsed)

    # Statements (contract v2 §12)
    async def statement(
        self,
        first_day: date | None = None,
        last_day: date | None = None,
        tenant_id: str | None = None,
        *,
        chunk: int = STATEMENT_CHUNK,
    ) -> Statement:
        """The ledger rows of whole UTC days (default: this UTC month), oldest first. The first chunk is read
        now, so a refused caller or a bad period fails here; `entries()` streams the rest."""
        today = self.service.runtime.clock.now().astimezone(UTC).date()
        return await open_statement(self, StatementPeriod.of(first_day, last_day, today), tenant_id, chunk)
