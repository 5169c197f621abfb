"""Explicit row <-> domain functions, one pair per table: every field is written and read back (a test
reloads them). The repositories build no domain object themselves."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any
from uuid import UUID

from billing.application.idempotency import IdempotencyRecord
from billing.application.outbox import EmailMessage, OutboxEntry, OutboxStatus
from billing.application.ports import Movement
from billing.domain.contact import BillingContact
from billing.domain.hold import Funds, Hold, HoldStatus
from billing.domain.invoice import Invoice, InvoiceLine, InvoicePurpose, InvoiceStatus
from billing.domain.ledger import EntryKind, LedgerEntry, Posting, PriceSnapshot
from billing.domain.money import Money
from billing.domain.pricing import Category, FreeReason, Quote, Rate, RateCard, Window
from billing.domain.protections import LowBalanceAlert
from billing.domain.topup import TopupRequest, TopupStatus
from billing.domain.wallet import Wallet, WalletStatus
from billing.domain.wallet_settings import AutoTopup, WalletSettings
from billing.domain.webhook_events import Outcome, WebhookEvent, WhatsAppNumber

Row = Mapping[Any, Any]


# wallets ------------------------------------------------------------------------------------------


def wallet_to_row(wallet: Wallet) -> dict[str, Any]:
    return {
        "tenant_id": wallet.tenant_id,
        "id": wallet.id,
        "currency": wallet.currency,
        "balance": wallet.balance.amount,
        "created_at": wallet.created_at,
        "updated_at": wallet.updated_at,
        "held": wallet.held.amount,
        "status": wallet.status.value,
        "frozen_reason": wallet.frozen_reason,
    }


def wallet_from_row(row: Row) -> Wallet:
    return Wallet(
        id=row["id"],
        tenant_id=row["tenant_id"],
        currency=row["currency"],
        balance=Money(row["balance"], row["currency"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        held=Money(row["held"], row["currency"]),
        status=WalletStatus(row["status"]),
        frozen_reason=row["frozen_reason"],
    )


def funds_from_row(row: Row) -> Funds:
    """A wallet's funds from its row and its settings' reserve (null: never set, so none)."""
    currency = row["currency"]
    return Funds(
        Money(row["balance"], currency),
        Money(row["held"], currency),
        WalletStatus(row["status"]),
        Money(decimal_or_zero(row["marketing_reserve"]), currency),
    )


def movement_from_row(row: Mapping[str, Any], amount: Money) -> Movement:
    """A move's `available` after it (and so before it: after + what it took) and its settings' `watch_below`."""
    currency = row["currency"]
    after = Money(row["available_after"], currency)
    watch_below = row["watch_below"]
    return Movement(
        row["tenant_id"], after + amount, after, None if watch_below is None else Money(watch_below, currency)
    )


# wallet_transactions ------------------------------------------------------------------------------


def posting_params(posting: Posting) -> dict[str, Any]:
    """The posting statements' parameters: the ledger row's own values (`wallet_id` and `balance_after` come
    from the wallet's row, `at` is also the wallet's `updated_at`)."""
    return {
        "tenant_id": posting.tenant_id,
        "id": posting.entry_id,
        "kind": posting.kind.value,
        "amount": posting.amount.amount,
        "currency": posting.amount.currency,
        "reference_id": posting.reference_id,
        "description": posting.description,
        "at": posting.at,
        "price": price_to_json(posting.price),
    }


def entry_from_posting(posting: Posting, row: Row) -> LedgerEntry:
    """The entry a posting became, from what its insert returned (`wallet_id`, `balance_after`)."""
    return LedgerEntry(
        id=posting.entry_id,
        wallet_id=row["wallet_id"],
        tenant_id=posting.tenant_id,
        kind=posting.kind,
        amount=posting.amount,
        balance_after=Money(row["balance_after"], posting.amount.currency),
        reference_id=posting.reference_id,
        description=posting.description,
        created_at=posting.at,
        price=posting.price,
    )


def entry_from_row(row: Row) -> LedgerEntry:
    currency = row["currency"]
    return LedgerEntry(
        id=row["id"],
        wallet_id=row["wallet_id"],
        tenant_id=row["tenant_id"],
        kind=EntryKind(row["kind"]),
        amount=Money(row["amount"], currency),
        balance_after=Money(row["balance_after"], currency),
        reference_id=row["reference_id"],
        description=row["description"],
        created_at=row["created_at"],
        price=price_from_json(row["price"], currency),
    )


def price_to_json(price: PriceSnapshot | None) -> str | None:
    """The `price` column (JSONB) of a message's charge row, as text: the statements cast it."""
    if price is None:
        return None
    return json.dumps(
        {
            "hold_id": None if price.hold_id is None else str(price.hold_id),
            "category": price.category.value,
            "market": price.market,
            "country": price.country,
            "tier": price.tier,
            "rate_card_id": str(price.rate_card_id),
            "unit_price": str(price.unit_price.amount),
            "free_reason": None if price.free_reason is None else price.free_reason.value,
        }
    )


def price_from_json(value: Mapping[str, Any] | None, currency: str) -> PriceSnapshot | None:
    if value is None:
        return None
    return PriceSnapshot(
        hold_id=None if value["hold_id"] is None else UUID(value["hold_id"]),
        category=Category(value["category"]),
        market=value["market"],
        country=value["country"],
        tier=value["tier"],
        rate_card_id=UUID(value["rate_card_id"]),
        unit_price=Money(Decimal(value["unit_price"]), currency),
        free_reason=None if value["free_reason"] is None else FreeReason(value["free_reason"]),
    )


# holds: the quote they were placed at is copied onto the row -----------------------------------------


def hold_to_row(hold: Hold) -> dict[str, Any]:
    quote = hold.quote
    return {
        "tenant_id": hold.tenant_id,
        "id": hold.id,
        "message_id": hold.message_id,
        "recipient": quote.recipient,
        "country": quote.country,
        "market": quote.market,
        "category": quote.category.value,
        "tier": quote.tier,
        "rate_card_id": quote.rate_card_id,
        "unit_price": quote.unit_price.amount,
        "amount": quote.amount.amount,
        "free_reason": None if quote.free_reason is None else quote.free_reason.value,
        "message_window": hold.window.value,
        "currency": quote.amount.currency,
        "created_at": hold.created_at,
        "expires_at": hold.expires_at,
        **hold_state_to_row(hold),
    }


def hold_state_to_row(hold: Hold) -> dict[str, Any]:
    """What settling, voiding, expiring or a late charge changes on a hold's row."""
    return {
        "status": hold.status.value,
        "settled_at": hold.settled_at,
        "voided_at": hold.voided_at,
        "charged": None if hold.charged is None else hold.charged.amount,
        "shortfall": None if hold.shortfall is None else hold.shortfall.amount,
        "transaction_id": hold.transaction_id,
        "settled_category": None if hold.settled_category is None else hold.settled_category.value,
    }


def hold_from_row(row: Row) -> Hold:
    currency = row["currency"]
    return Hold(
        id=row["id"],
        tenant_id=row["tenant_id"],
        message_id=row["message_id"],
        quote=Quote(
            recipient=row["recipient"],
            country=row["country"],
            market=row["market"],
            category=Category(row["category"]),
            tier=row["tier"],
            rate_card_id=row["rate_card_id"],
            unit_price=Money(row["unit_price"], currency),
            amount=Money(row["amount"], currency),
            free_reason=None if row["free_reason"] is None else FreeReason(row["free_reason"]),
        ),
        window=Window(row["message_window"]),
        status=HoldStatus(row["status"]),
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        settled_at=row["settled_at"],
        voided_at=row["voided_at"],
        charged=None if row["charged"] is None else Money(row["charged"], currency),
        shortfall=None if row["shortfall"] is None else Money(row["shortfall"], currency),
        transaction_id=row["transaction_id"],
        settled_category=None if row["settled_category"] is None else Category(row["settled_category"]),
    )


# wallet_settings ------------------------------------------------------------------------------------


def settings_to_row(settings: WalletSettings) -> dict[str, Any]:
    if settings.updated_by is None or settings.updated_at is None:
        raise ValueError("only saved settings (with who and when) are stored; the defaults are not")
    auto = settings.auto_topup
    watch_below = settings.watch_below
    return {
        "tenant_id": settings.tenant_id,
        "currency": settings.marketing_reserve.currency,
        "marketing_reserve": settings.marketing_reserve.amount,
        "updated_by": settings.updated_by,
        "updated_at": settings.updated_at,
        "low_balance_levels": [level.amount for level in settings.low_balance_levels],
        "auto_topup_enabled": auto.enabled,
        "auto_topup_threshold": _amount_or_none(auto.threshold),
        "auto_topup_target": _amount_or_none(auto.target),
        "auto_topup_monthly_cap": _amount_or_none(auto.monthly_cap),
        "watch_below": _amount_or_none(watch_below),
    }


def _amount_or_none(money: Money | None) -> Decimal | None:
    return None if money is None else money.amount


def _money_or_none(amount: Decimal | None, currency: str) -> Money | None:
    return None if amount is None else Money(amount, currency)


def settings_from_row(row: Row) -> WalletSettings:
    currency = row["currency"]
    return WalletSettings(
        tenant_id=row["tenant_id"],
        marketing_reserve=Money(row["marketing_reserve"], currency),
        low_balance_levels=tuple(Money(level, currency) for level in row["low_balance_levels"]),
        auto_topup=AutoTopup(
            row["auto_topup_enabled"],
            _money_or_none(row["auto_topup_threshold"], currency),
            _money_or_none(row["auto_topup_target"], currency),
            _money_or_none(row["auto_topup_monthly_cap"], currency),
        ),
        updated_by=row["updated_by"],
        updated_at=row["updated_at"],
    )


# low_balance_alerts ----------------------------------------------------------------------------------


def alert_to_row(alert: LowBalanceAlert) -> dict[str, Any]:
    return {
        "tenant_id": alert.tenant_id,
        "id": alert.id,
        "level": alert.level.amount,
        "available": alert.available.amount,
        "currency": alert.level.currency,
        "created_at": alert.created_at,
    }


def alert_from_row(row: Row) -> LowBalanceAlert:
    currency = row["currency"]
    return LowBalanceAlert(
        row["id"], row["tenant_id"], Money(row["level"], currency), Money(row["available"], currency), row["created_at"]
    )


# whatsapp_numbers, webhook_events, webhook_unknown_events (Meta's status webhook) ---------------------------


def whatsapp_number_to_row(number: WhatsAppNumber) -> dict[str, Any]:
    return {
        "phone_number_id": number.phone_number_id,
        "tenant_id": number.tenant_id,
        "created_by": number.created_by,
        "created_at": number.created_at,
    }


def whatsapp_number_from_row(row: Row) -> WhatsAppNumber:
    return WhatsAppNumber(
        phone_number_id=row["phone_number_id"],
        tenant_id=row["tenant_id"],
        created_by=row["created_by"],
        created_at=row["created_at"],
    )


def webhook_event_to_row(event: WebhookEvent) -> dict[str, Any]:
    """A tenant's event (`webhook_events`); an unknown number's (no tenant) leaves out the three columns
    `webhook_unknown_events` does not have, which are always null for it."""
    row = {
        "id": event.id,
        "phone_number_id": event.phone_number_id,
        "message_id": event.message_id,
        "status": event.status,
        "outcome": event.outcome.value,
        "reason": event.reason,
        "received_at": event.received_at,
    }
    if event.tenant_id is None:
        if event.hold_id is not None or event.transaction_id is not None:
            raise ValueError("a status of no tenant touches no hold and no ledger")
        return row
    return {"tenant_id": event.tenant_id, **row, "hold_id": event.hold_id, "transaction_id": event.transaction_id}


def webhook_event_from_row(row: Row) -> WebhookEvent:
    """From either table (an unknown number's rows are read with null tenant, hold and transaction)."""
    return WebhookEvent(
        id=row["id"],
        tenant_id=row["tenant_id"],
        phone_number_id=row["phone_number_id"],
        message_id=row["message_id"],
        status=row["status"],
        outcome=Outcome(row["outcome"]),
        reason=row["reason"],
        received_at=row["received_at"],
        hold_id=row["hold_id"],
        transaction_id=row["transaction_id"],
    )


# topup_requests -----------------------------------------------------------------------------------


def request_to_row(request: TopupRequest) -> dict[str, Any]:
    return {
        "tenant_id": request.tenant_id,
        "id": request.id,
        "amount": request.amount.amount,
        "currency": request.currency,
        "note": request.note,
        "status": request.status.value,
        "requested_by": request.requested_by,
        "requester_email": request.requester_email,
        "requested_at": request.requested_at,
        "decided_by": request.decided_by,
        "decided_at": request.decided_at,
        "decision_note": request.decision_note,
        "rejection_reason": request.rejection_reason,
        "invoice_id": request.invoice_id,
        "invoice_number": request.invoice_number,
        "completed_at": request.completed_at,
        "cancelled_at": request.cancelled_at,
    }


def request_from_row(row: Row) -> TopupRequest:
    return TopupRequest(
        id=row["id"],
        tenant_id=row["tenant_id"],
        amount=Money(row["amount"], row["currency"]),
        note=row["note"],
        status=TopupStatus(row["status"]),
        requested_by=row["requested_by"],
        requester_email=row["requester_email"],
        requested_at=row["requested_at"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        decision_note=row["decision_note"],
        rejection_reason=row["rejection_reason"],
        invoice_id=row["invoice_id"],
        invoice_number=row["invoice_number"],
        completed_at=row["completed_at"],
        cancelled_at=row["cancelled_at"],
    )


# invoices and invoice_lines -----------------------------------------------------------------------


def invoice_to_row(invoice: Invoice) -> dict[str, Any]:
    return {
        "tenant_id": invoice.tenant_id,
        "id": invoice.id,
        "number": invoice.number,
        "purpose": invoice.purpose.value,
        "status": invoice.status.value,
        "currency": invoice.currency,
        "total": invoice.total.amount,
        "period": invoice.period,
        "topup_request_id": invoice.topup_request_id,
        "issued_at": invoice.issued_at,
        "due_date": invoice.due_date,
        "paid_at": invoice.paid_at,
        "payment_reference": invoice.payment_reference,
        "payment_reference_key": invoice.payment_reference_key,
        "voided_at": invoice.voided_at,
        "void_reason": invoice.void_reason,
        "created_at": invoice.created_at,
    }


def line_rows(invoice: Invoice) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": invoice.tenant_id,
            "invoice_id": invoice.id,
            "line_no": number,
            "description": line.description,
            "quantity": line.quantity,
            "unit_price": line.unit_price.amount,
            "amount": line.amount.amount,
        }
        for number, line in enumerate(invoice.lines, start=1)
    ]


def invoice_from_rows(row: Row, lines: Sequence[Row]) -> Invoice:
    currency = row["currency"]
    return Invoice(
        id=row["id"],
        number=row["number"],
        tenant_id=row["tenant_id"],
        purpose=InvoicePurpose(row["purpose"]),
        status=InvoiceStatus(row["status"]),
        currency=currency,
        lines=tuple(
            InvoiceLine(line["description"], line["quantity"], Money(line["unit_price"], currency))
            for line in sorted(lines, key=lambda line: int(line["line_no"]))
        ),
        period=row["period"],
        created_at=row["created_at"],
        topup_request_id=row["topup_request_id"],
        issued_at=row["issued_at"],
        due_date=row["due_date"],
        paid_at=row["paid_at"],
        payment_reference=row["payment_reference"],
        payment_reference_key=row["payment_reference_key"],
        voided_at=row["voided_at"],
        void_reason=row["void_reason"],
    )


# billing_contacts ---------------------------------------------------------------------------------


def contact_to_row(contact: BillingContact) -> dict[str, Any]:
    return {
        "tenant_id": contact.tenant_id,
        "email": contact.email,
        "name": contact.name,
        "updated_by": contact.updated_by,
        "updated_at": contact.updated_at,
    }


def contact_from_row(row: Row) -> BillingContact:
    return BillingContact(
        tenant_id=row["tenant_id"],
        email=row["email"],
        name=row["name"],
        updated_by=row["updated_by"],
        updated_at=row["updated_at"],
    )


# idempotency_keys ---------------------------------------------------------------------------------


def idempotency_record_to_row(record: IdempotencyRecord) -> dict[str, Any]:
    return {
        "tenant_id": record.tenant_id,
        "key": record.key,
        "fingerprint": record.fingerprint,
        "status_code": record.status_code,
        "body": record.body,
        "content_type": record.content_type,
        "created_at": record.created_at,
        "expires_at": record.expires_at,
    }


def idempotency_record_from_row(row: Row) -> IdempotencyRecord:
    return IdempotencyRecord(
        tenant_id=row["tenant_id"],
        key=row["key"],
        fingerprint=row["fingerprint"],
        status_code=row["status_code"],
        body=bytes(row["body"]),
        content_type=row["content_type"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
    )


# outbox_messages ----------------------------------------------------------------------------------


def outbox_entry_to_row(entry: OutboxEntry) -> dict[str, Any]:
    message = entry.message
    return {
        "tenant_id": message.tenant_id,
        "id": message.id,
        "kind": message.kind,
        "recipient": message.recipient,
        "subject": message.subject,
        "text_body": message.text,
        "html_body": message.html,
        "status": entry.status.value,
        "attempts": entry.attempts,
        "next_attempt_at": entry.next_attempt_at,
        "last_error": entry.last_error,
        "created_at": message.created_at,
        "sent_at": entry.sent_at,
    }


def outbox_entry_from_row(row: Row) -> OutboxEntry:
    message = EmailMessage(
        id=row["id"],
        tenant_id=row["tenant_id"],
        kind=row["kind"],
        recipient=row["recipient"],
        subject=row["subject"],
        text=row["text_body"],
        html=row["html_body"],
        created_at=row["created_at"],
    )
    return OutboxEntry(
        message=message,
        status=OutboxStatus(row["status"]),
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
        sent_at=row["sent_at"],
    )


def decimal_or_zero(value: Decimal | None) -> Decimal:
    return value if value is not None else Decimal(0)


# rate_cards, default_rate_cards: a card is immutable and read whole, its markets and rates JSONB -----


def card_to_row(card: RateCard) -> dict[str, Any]:
    return {
        "tenant_id": card.tenant_id,
        "id": card.id,
        "name": card.name,
        "currency": card.currency,
        "effective_from": card.effective_from,
        "free_in_service_window": sorted(category.value for category in card.free_in_service_window),
        "markets": dict(card.markets),
        "rates": [
            {
                "market": rate.market,
                "category": rate.category.value,
                "unit_price": str(rate.unit_price.amount),
                "tier_from": rate.tier_from,
            }
            for rate in card.rates
        ],
        "created_by": card.created_by,
        "created_at": card.created_at,
    }


def card_from_row(row: Row) -> RateCard:
    currency = row["currency"]
    return RateCard(
        id=row["id"],
        name=row["name"],
        currency=currency,
        effective_from=row["effective_from"],
        tenant_id=row["tenant_id"],
        free_in_service_window=frozenset(Category(value) for value in row["free_in_service_window"]),
        markets=dict(row["markets"]),
        rates=tuple(
            Rate(
                rate["market"],
                Category(rate["category"]),
                Money(Decimal(rate["unit_price"]), currency),
                rate["tier_from"],
            )
            for rate in row["rates"]
        ),
        created_by=row["created_by"],
        created_at=row["created_at"],
    )
