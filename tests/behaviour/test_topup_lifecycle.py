"""A top-up from request to credit, and each way it can end instead."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import pytest

from billing.application.caller import VIEW
from billing.domain.errors import ForbiddenError, InvalidStateError, NotFoundError, ValidationError
from billing.domain.invoice import InvoiceLine, InvoicePurpose, InvoiceStatus
from billing.domain.ledger import EntryKind
from billing.domain.money import Money
from billing.domain.topup import TopupStatus

CLINIC = "clinic-a"
CLINIC_TOKEN = hashlib.sha256(CLINIC.encode()).hexdigest()[:12].upper()


def _usd(text: str) -> Money:
    return Money(Decimal(text), "USD")


async def test_a_clinic_request_is_saved_pending(scenario) -> None:
    sent = await scenario.clinic.request_topup("150.00", note="for November")

    saved = await scenario.clinic.topup_request(sent.id)
    assert saved == sent
    assert saved.status is TopupStatus.PENDING
    assert (saved.tenant_id, saved.amount, saved.note) == (CLINIC, _usd("150.00"), "for November")
    assert (saved.requested_by, saved.requested_at) == ("clinic-user", scenario.clock.now())
    assert saved.decided_by is saved.invoice_id is saved.completed_at is saved.cancelled_at is None


async def test_approval_creates_and_issues_the_topup_invoice(scenario) -> None:
    request = await scenario.pending("150.50")
    scenario.tick()
    approved_at = scenario.clock.now()

    await scenario.operator.approve_topup(request.id, note="thanks")

    saved, invoice = await scenario.reload(request.id)
    assert saved.status is TopupStatus.INVOICED
    assert (saved.decided_by, saved.decided_at, saved.decision_note) == ("operator-1", approved_at, "thanks")
    assert invoice is not None
    assert saved.invoice_id == invoice.id
    assert saved.invoice_number == invoice.number == f"TOP-202611-{CLINIC_TOKEN}-{request.id.hex[-8:].upper()}"
    assert invoice.status is InvoiceStatus.ISSUED
    assert invoice.purpose is InvoicePurpose.TOPUP
    assert (invoice.tenant_id, invoice.currency, invoice.period) == (CLINIC, "USD", "2026-11")
    assert invoice.lines == (InvoiceLine("WhatsApp wallet top-up", 1, _usd("150.50")),)
    assert invoice.total == _usd("150.50")
    assert invoice.topup_request_id == request.id
    assert invoice.issued_at == approved_at
    assert invoice.due_date == approved_at.date() + timedelta(days=14) == date(2026, 12, 10)
    assert invoice.paid_at is None
    # The clinic sees its own invoice too.
    assert await scenario.clinic.invoice(invoice.id) == invoice
    assert (await scenario.operator.wallet(CLINIC)).balance == Money.zero("USD")


async def test_approval_takes_an_explicit_due_date(scenario) -> None:
    request = await scenario.pending()

    await scenario.operator.approve_topup(request.id, due_date=date(2027, 1, 31))

    _, invoice = await scenario.reload(request.id)
    assert invoice is not None
    assert invoice.due_date == date(2027, 1, 31)


async def test_approval_with_a_due_date_in_the_past_changes_nothing(scenario) -> None:
    request = await scenario.pending()
    before = await scenario.world()

    with pytest.raises(ValidationError) as caught:
        await scenario.operator.approve_topup(request.id, due_date=date(2026, 11, 25))

    assert [e.field for e in caught.value.errors] == ["due_date"]
    assert await scenario.world() == before


async def test_approval_near_midnight_numbers_the_invoice_by_the_utc_month(scenario) -> None:
    scenario.clock.current = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    request = await scenario.clinic.request_topup("10.00")
    # 1 Dec 01:30 in UTC+03:00 is still 30 Nov 22:30 in UTC.
    scenario.clock.current = datetime(2026, 12, 1, 1, 30, tzinfo=timezone(timedelta(hours=3)))

    await scenario.operator.approve_topup(request.id)

    saved, invoice = await scenario.reload(request.id)
    assert invoice is not None
    assert saved.invoice_number == f"TOP-202611-{CLINIC_TOKEN}-{request.id.hex[-8:].upper()}"
    assert invoice.period == "2026-11"
    assert invoice.due_date == date(2026, 12, 14)


async def test_mark_paid_credits_the_wallet_once_and_completes_the_request(scenario) -> None:
    request = await scenario.invoiced("150.00")
    scenario.clock.advance(timedelta(hours=3))  # paid offline, recorded two hours after the money arrived
    paid_at = scenario.clock.now() - timedelta(hours=2)

    await scenario.operator.mark_invoice_paid(request.invoice_id, "bank-transfer-42", paid_at=paid_at)

    saved, invoice = await scenario.reload(request.id)
    assert invoice is not None
    assert invoice.status is InvoiceStatus.PAID
    assert (invoice.paid_at, invoice.payment_reference) == (paid_at, "bank-transfer-42")
    assert saved.status is TopupStatus.COMPLETED
    assert saved.completed_at == scenario.clock.now()
    wallet = await scenario.clinic.wallet()
    assert wallet.balance == _usd("150.00")
    [row] = await scenario.ledger()
    assert row.kind is EntryKind.TOPUP
    assert row.reference_id == str(request.id)
    assert (row.amount, row.balance_after) == (_usd("150.00"), _usd("150.00"))
    assert row.wallet_id == wallet.id
    assert row.tenant_id == CLINIC


async def test_mark_paid_twice_credits_once(scenario) -> None:
    request = await scenario.completed("150.00")
    before = await scenario.world()

    with pytest.raises(InvalidStateError) as caught:
        await scenario.operator.mark_invoice_paid(request.invoice_id, "again")

    assert caught.value.code == "invalid_state"
    assert await scenario.world() == before
    assert [row.kind for row in await scenario.ledger()] == [EntryKind.TOPUP]
    assert (await scenario.clinic.wallet()).balance == _usd("150.00")


async def test_two_paid_topups_add_up(scenario) -> None:
    await scenario.completed("150.00")
    await scenario.completed("1.50")

    rows = await scenario.ledger()
    assert [row.balance_after for row in rows] == [_usd("150.00"), _usd("151.50")]
    assert (await scenario.clinic.wallet()).balance == _usd("151.50")


@pytest.mark.parametrize(
    ("reference", "paid_at", "field"),
    [
        ("", None, "payment_reference"),
        ("r" * 201, None, "payment_reference"),
        ("bank-1", datetime(2026, 11, 27, tzinfo=UTC), "paid_at"),
        ("bank-1", datetime(2026, 11, 20, 12, 0), "paid_at"),  # no UTC offset
    ],
)
async def test_mark_paid_refuses_bad_payment_details_and_changes_nothing(scenario, reference, paid_at, field) -> None:
    request = await scenario.invoiced()
    before = await scenario.world()

    with pytest.raises(ValidationError) as caught:
        await scenario.operator.mark_invoice_paid(request.invoice_id, reference, paid_at=paid_at)

    assert [e.field for e in caught.value.errors] == [field]
    assert await scenario.world() == before


async def test_reject_keeps_the_reason_and_issues_no_invoice(scenario) -> None:
    request = await scenario.pending()
    scenario.tick()

    await scenario.operator.reject_topup(request.id, "duplicate of an earlier request")

    saved, invoice = await scenario.reload(request.id)
    assert saved.status is TopupStatus.REJECTED
    assert saved.rejection_reason == saved.decision_note == "duplicate of an earlier request"
    assert (saved.decided_by, saved.decided_at) == ("operator-1", scenario.clock.now())
    assert invoice is None
    assert (await scenario.operator.invoices()).total == 0


@pytest.mark.parametrize("reason", ["", "   ", "r" * 513])
async def test_reject_needs_a_reason(scenario, reason) -> None:
    request = await scenario.pending()
    before = await scenario.world()

    with pytest.raises(ValidationError) as caught:
        await scenario.operator.reject_topup(request.id, reason)

    assert [e.field for e in caught.value.errors] == ["reason"]
    assert await scenario.world() == before


async def test_second_reject_is_a_conflict(scenario) -> None:
    request = await scenario.rejected()
    before = await scenario.world()

    with pytest.raises(InvalidStateError):
        await scenario.operator.reject_topup(request.id, "again")

    assert await scenario.world() == before


async def test_a_clinic_cancels_its_own_pending_request(scenario) -> None:
    request = await scenario.pending()
    scenario.tick()

    await scenario.clinic.cancel_topup(request.id)

    saved = await scenario.clinic.topup_request(request.id)
    assert saved.status is TopupStatus.CANCELLED
    assert saved.cancelled_at == scenario.clock.now()
    assert saved.invoice_id is None


async def test_another_user_of_the_same_clinic_may_cancel(scenario) -> None:
    request = await scenario.pending()

    await scenario.as_(CLINIC, VIEW, user_id="colleague").cancel_topup(request.id)

    assert (await scenario.clinic.topup_request(request.id)).status is TopupStatus.CANCELLED


async def test_another_clinic_cannot_cancel_a_request_it_cannot_see(scenario) -> None:
    request = await scenario.pending()
    before = await scenario.world()

    with pytest.raises(NotFoundError):
        await scenario.other_clinic.cancel_topup(request.id)

    assert await scenario.world() == before


async def test_an_operator_cannot_cancel_in_the_clinics_name(scenario) -> None:
    # Cancelling is the tenant's own withdrawal (§1); the operator rejects instead.
    request = await scenario.pending()
    before = await scenario.world()

    with pytest.raises(ForbiddenError):
        await scenario.operator.cancel_topup(request.id)

    assert await scenario.world() == before


async def test_voiding_an_issued_topup_invoice_cancels_its_request(scenario) -> None:
    request = await scenario.invoiced()
    scenario.tick()

    await scenario.operator.void_invoice(request.invoice_id, "client paid by other means")

    saved, invoice = await scenario.reload(request.id)
    assert invoice is not None
    assert invoice.status is InvoiceStatus.VOID
    assert (invoice.void_reason, invoice.voided_at) == ("client paid by other means", scenario.clock.now())
    assert saved.status is TopupStatus.CANCELLED
    assert saved.cancelled_at == scenario.clock.now()
    assert await scenario.ledger() == ()


async def test_void_needs_a_reason(scenario) -> None:
    request = await scenario.invoiced()
    before = await scenario.world()

    with pytest.raises(ValidationError) as caught:
        await scenario.operator.void_invoice(request.invoice_id, "")

    assert [e.field for e in caught.value.errors] == ["reason"]
    assert await scenario.world() == before


async def test_a_long_approval_note_is_refused_and_the_request_stays_pending(scenario) -> None:
    request = await scenario.pending()
    before = await scenario.world()

    with pytest.raises(ValidationError) as caught:
        await scenario.operator.approve_topup(request.id, note="n" * 513)

    assert [e.field for e in caught.value.errors] == ["note"]
    assert await scenario.world() == before


async def test_a_note_over_512_characters_is_refused(scenario) -> None:
    with pytest.raises(ValidationError) as caught:
        await scenario.clinic.request_topup("10.00", note="n" * 513)

    assert [e.field for e in caught.value.errors] == ["note"]
    assert (await scenario.clinic.topup_requests()).total == 0


UNKNOWN = UUID(int=7)


@pytest.mark.parametrize(
    "attempt",
    [
        lambda s: s.operator.topup_request(UNKNOWN),
        lambda s: s.operator.invoice(UNKNOWN),
        lambda s: s.operator.approve_topup(UNKNOWN),
        lambda s: s.operator.reject_topup(UNKNOWN, "no"),
        lambda s: s.clinic.cancel_topup(UNKNOWN),
        lambda s: s.operator.mark_invoice_paid(UNKNOWN, "bank-1"),
        lambda s: s.operator.void_invoice(UNKNOWN, "no"),
        lambda s: s.operator.issue_invoice(UNKNOWN),
    ],
    ids=["get", "get-invoice", "approve", "reject", "cancel", "mark-paid", "void", "issue"],
)
async def test_unknown_ids_are_not_found(scenario, attempt) -> None:
    with pytest.raises(NotFoundError) as caught:
        await attempt(scenario)

    assert caught.value.code == "not_found"


async def test_create_topup_invoice_is_approval_by_its_older_name(scenario) -> None:
    request = await scenario.pending("20.00")

    invoice = await scenario.operator.create_topup_invoice(request.id)

    saved, reloaded = await scenario.reload(request.id)
    assert reloaded == invoice
    assert saved.status is TopupStatus.INVOICED
    assert invoice.total == _usd("20.00")
