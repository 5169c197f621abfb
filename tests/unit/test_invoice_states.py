"""Invoices: draft --issue--> issued --mark paid--> paid; draft|issued --void--> void; nothing else."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from billing.domain.errors import InvalidStateError, ValidationError
from billing.domain.events import InvoiceIssued, InvoicePaid, InvoiceVoided
from billing.domain.invoice import (
    TOPUP_LINE_DESCRIPTION,
    Invoice,
    InvoiceLine,
    InvoicePurpose,
    InvoiceStatus,
    default_due_date,
)
from billing.domain.money import Money
from billing.domain.topup import TopupRequest

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LATER = AT + timedelta(hours=1)
DUE = date(2026, 12, 10)

Snapshot = Callable[[Any], dict[str, Any]]


def _usd(text: str) -> Money:
    return Money(Decimal(text), "USD")


def _subscription(period: str = "2026-11") -> Invoice:
    lines = (InvoiceLine("Plan", 1, _usd("49.00")), InvoiceLine("Extra seats", 3, _usd("5.50")))
    return Invoice.draft_for_subscription(uuid4(), "clinic-a", period, lines, "USD", AT)


def _issue(invoice: Invoice) -> None:
    invoice.issue(AT, DUE)


def _mark_paid(invoice: Invoice) -> None:
    invoice.mark_paid("bank-transfer-1", AT, LATER)


def _void(invoice: Invoice) -> None:
    invoice.void("issued by mistake", LATER)


ACTIONS: dict[str, Callable[[Invoice], None]] = {"issue": _issue, "mark_paid": _mark_paid, "void": _void}
PATHS: dict[InvoiceStatus, tuple[str, ...]] = {
    InvoiceStatus.DRAFT: (),
    InvoiceStatus.ISSUED: ("issue",),
    InvoiceStatus.PAID: ("issue", "mark_paid"),
    InvoiceStatus.VOID: ("void",),
}
LEGAL: dict[tuple[InvoiceStatus, str], InvoiceStatus] = {
    (InvoiceStatus.DRAFT, "issue"): InvoiceStatus.ISSUED,
    (InvoiceStatus.ISSUED, "mark_paid"): InvoiceStatus.PAID,
    (InvoiceStatus.DRAFT, "void"): InvoiceStatus.VOID,
    (InvoiceStatus.ISSUED, "void"): InvoiceStatus.VOID,
}
ILLEGAL = [(status, action) for status in PATHS for action in ACTIONS if (status, action) not in LEGAL]
# A voided issued invoice is a second way into `void`; it must be just as final.
ILLEGAL_AFTER_VOIDING_ISSUED = [("issue", "void", action) for action in ACTIONS]


def _in(status: InvoiceStatus) -> Invoice:
    invoice = _subscription()
    for step in PATHS[status]:
        ACTIONS[step](invoice)
    invoice.pull_events()
    assert invoice.status is status
    return invoice


def test_topup_draft_has_one_line_for_the_requested_amount(
    new_request: Callable[..., TopupRequest],
) -> None:
    request = new_request("150.00")

    invoice = Invoice.draft_for_topup(uuid4(), request, AT)

    token = hashlib.sha256(b"clinic-a").hexdigest()[:12].upper()
    assert invoice.number == f"TOP-202611-{token}-{request.id.hex[-8:].upper()}"
    assert invoice.purpose is InvoicePurpose.TOPUP
    assert invoice.status is InvoiceStatus.DRAFT
    assert invoice.lines == (InvoiceLine(TOPUP_LINE_DESCRIPTION, 1, request.amount),)
    assert TOPUP_LINE_DESCRIPTION == "WhatsApp wallet top-up"
    assert invoice.total == request.amount
    assert (invoice.tenant_id, invoice.currency, invoice.period) == ("clinic-a", "USD", "2026-11")
    assert invoice.topup_request_id == request.id


def test_topup_period_is_the_utc_month_of_approval(new_request: Callable[..., TopupRequest]) -> None:
    approved_at = datetime(2026, 12, 1, 1, 0, tzinfo=timezone(timedelta(hours=3)))

    invoice = Invoice.draft_for_topup(uuid4(), new_request(), approved_at)

    assert invoice.period == "2026-11"
    assert invoice.number.startswith("TOP-202611-")


def test_subscription_draft_totals_its_lines() -> None:
    invoice = _subscription()

    token = hashlib.sha256(b"clinic-a").hexdigest()[:12].upper()
    assert invoice.number == f"SUB-202611-{token}"
    assert invoice.purpose is InvoicePurpose.SUBSCRIPTION
    assert invoice.lines[1].amount == _usd("16.50")
    assert invoice.total == _usd("65.50")
    assert str(invoice.total) == "65.50"


@pytest.mark.parametrize("period", ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", "", "2026-11-01"])
def test_subscription_needs_a_yyyy_mm_period(period: str) -> None:
    with pytest.raises(ValidationError) as caught:
        _subscription(period)

    assert [e.field for e in caught.value.errors] == ["period"]


def test_subscription_needs_lines_in_its_currency() -> None:
    with pytest.raises(ValidationError) as caught:
        Invoice.draft_for_subscription(uuid4(), "clinic-a", "2026-11", (), "USD", AT)
    assert [e.field for e in caught.value.errors] == ["lines"]

    euro_line = (InvoiceLine("Plan", 1, Money(Decimal(10), "EUR")),)
    with pytest.raises(ValidationError) as caught:
        Invoice.draft_for_subscription(uuid4(), "clinic-a", "2026-11", euro_line, "USD", AT)
    assert [e.field for e in caught.value.errors] == ["lines"]


@pytest.mark.parametrize(("status", "action"), sorted(LEGAL, key=str), ids=lambda v: str(v))
def test_every_legal_transition_reaches_its_status(status: InvoiceStatus, action: str) -> None:
    invoice = _in(status)

    ACTIONS[action](invoice)

    assert invoice.status is LEGAL[(status, action)]


def test_issue_sets_the_dates_and_records_it() -> None:
    invoice = _in(InvoiceStatus.DRAFT)

    invoice.issue(AT, DUE, "thanks")

    assert (invoice.issued_at, invoice.due_date) == (AT, DUE)
    assert invoice.pull_events() == [
        InvoiceIssued(invoice.id, "clinic-a", invoice.number, invoice.total, DUE, None, "thanks", AT)
    ]


def test_mark_paid_keeps_the_payment_and_records_it() -> None:
    invoice = _in(InvoiceStatus.ISSUED)

    invoice.mark_paid("bank-transfer-1", AT, LATER)

    assert (invoice.paid_at, invoice.payment_reference) == (AT, "bank-transfer-1")
    assert invoice.pull_events() == [
        InvoicePaid(invoice.id, "clinic-a", invoice.number, invoice.total, "bank-transfer-1", AT)
    ]


def test_void_keeps_the_reason_and_records_it() -> None:
    invoice = _in(InvoiceStatus.ISSUED)

    invoice.void("issued by mistake", LATER)

    assert (invoice.voided_at, invoice.void_reason) == (LATER, "issued by mistake")
    assert invoice.pull_events() == [InvoiceVoided(invoice.id, "clinic-a", invoice.number, "issued by mistake", LATER)]


@pytest.mark.parametrize(("status", "action"), ILLEGAL, ids=lambda v: str(v))
def test_every_illegal_transition_is_a_conflict_that_changes_nothing(
    status: InvoiceStatus, action: str, snapshot: Snapshot
) -> None:
    invoice = _in(status)
    before = snapshot(invoice)

    with pytest.raises(InvalidStateError) as caught:
        ACTIONS[action](invoice)

    assert caught.value.code == "invalid_state"
    assert snapshot(invoice) == before


@pytest.mark.parametrize("action", list(ACTIONS))
def test_a_voided_issued_invoice_is_final(action: str, snapshot: Snapshot) -> None:
    invoice = _in(InvoiceStatus.ISSUED)
    _void(invoice)
    before = snapshot(invoice)

    with pytest.raises(InvalidStateError):
        ACTIONS[action](invoice)

    assert snapshot(invoice) == before


def test_due_date_before_the_issue_date_is_refused(snapshot: Snapshot) -> None:
    invoice = _in(InvoiceStatus.DRAFT)
    before = snapshot(invoice)

    with pytest.raises(ValidationError) as caught:
        invoice.issue(AT, AT.date() - timedelta(days=1))

    assert [e.field for e in caught.value.errors] == ["due_date"]
    assert snapshot(invoice) == before


def test_due_date_on_the_issue_date_is_fine() -> None:
    invoice = _in(InvoiceStatus.DRAFT)

    invoice.issue(AT, AT.date())

    assert invoice.due_date == AT.date()


@pytest.mark.parametrize(
    ("reference", "paid_at", "field"),
    [
        ("", AT, "payment_reference"),
        ("r" * 201, AT, "payment_reference"),
        ("bank-transfer-1", LATER + timedelta(seconds=1), "paid_at"),
    ],
)
def test_mark_paid_refuses_bad_payments_and_changes_nothing(
    reference: str, paid_at: datetime, field: str, snapshot: Snapshot
) -> None:
    invoice = _in(InvoiceStatus.ISSUED)
    before = snapshot(invoice)

    with pytest.raises(ValidationError) as caught:
        invoice.mark_paid(reference, paid_at, LATER)

    assert [e.field for e in caught.value.errors] == [field]
    assert snapshot(invoice) == before


@pytest.mark.parametrize("reason", ["", "  ", "r" * 513])
def test_void_needs_a_reason_and_changes_nothing_without_one(reason: str, snapshot: Snapshot) -> None:
    invoice = _in(InvoiceStatus.ISSUED)
    before = snapshot(invoice)

    with pytest.raises(ValidationError) as caught:
        invoice.void(reason, LATER)

    assert [e.field for e in caught.value.errors] == ["reason"]
    assert snapshot(invoice) == before


def test_default_due_date_counts_from_the_utc_issue_date() -> None:
    late_evening_in_sao_paulo = datetime(2026, 11, 30, 22, 0, tzinfo=timezone(timedelta(hours=-3)))

    assert default_due_date(AT, 14) == date(2026, 12, 10)
    assert default_due_date(late_evening_in_sao_paulo, 14) == date(2026, 12, 15)
