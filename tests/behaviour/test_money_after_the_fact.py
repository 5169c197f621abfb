"""Money that goes wrong after the fact (contract v3 §19, §23, §24) through the in-process facade on every backend:
payment reversals, the debt they leave and how credits and releases repay it, and operators' adjustments with and
without four eyes. Each test fails if the rule it names is removed; every money step ends with the books checked
(`books`): balance = Σ ledger ≥ held ≥ 0, debt ≥ 0, debt > 0 only while available = 0, and the debt = the reversals'
uncovered parts less the repayments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from dependency_injector import providers

from billing.application.caller import MANAGE, VIEW
from billing.application.handlers.invoices import SubscriptionLine
from billing.container import Container
from billing.domain.adjustment import AdjustmentStatus
from billing.domain.errors import (
    DuplicateError,
    ForbiddenError,
    InsufficientFundsError,
    InvalidStateError,
    ValidationError,
    WalletInDebtError,
)
from billing.domain.events import DebtRepaid, PaymentReversed
from billing.domain.hold import HoldStatus
from billing.domain.invoice import Invoice, InvoiceStatus
from billing.domain.ledger import EntryKind, LedgerEntry
from billing.domain.protections import AUTO_REQUESTER
from billing.domain.topup import TopupRequest, TopupStatus
from billing.domain.wallet import Wallet
from billing.domain.whatsapp import parse_status_notifications

ROOT = "root"
CLINIC = "clinic-a"
USA = "+14155552671"
NUMBER = "106540352242922"
STARTED = datetime(2026, 1, 1, tzinfo=UTC)
MARKETS = {"US": "North America", "*": "Other"}
RATES: list[dict[str, object]] = [
    {"market": "North America", "category": "marketing", "unit_price": "1.0000"},
    {"market": "North America", "category": "utility", "unit_price": "2.0000"},
    {"market": "North America", "category": "service", "unit_price": "0"},
]
ZERO = Decimal(0)


def d(text: str) -> Decimal:
    return Decimal(text)


# Builders and checks ------------------------------------------------------------------------------------------


@pytest.fixture
async def messaging(scenario):
    """A card in force (marketing 1.00, utility 2.00, service free to the US); the platform's messaging module."""
    scenario.tick()
    await scenario.operator.create_rate_card("Card", STARTED, MARKETS, RATES)
    return scenario.service.as_platform("messaging")


def with_four_eyes(container: Container, scenario):
    """The same deployment (store or database, clock) with BILLING_FOUR_EYES=true."""
    settings = container.settings()
    container.settings.override(
        providers.Object(attrs.evolve(settings, billing=attrs.evolve(settings.billing, four_eyes=True)))
    )
    container.runtime.reset()
    container.service.reset()
    service = container.service()
    assert service is not scenario.service
    return attrs.evolve(scenario, service=service)


@pytest.fixture
def four_eyes(container: Container, scenario):
    return with_four_eyes(container, scenario)


def operator(scenario, user_id: str):
    return scenario.as_(ROOT, VIEW, MANAGE, user_id=user_id)


async def paid(scenario, amount: str, reference: str | None = None, payer=None) -> tuple[TopupRequest, Invoice]:
    """A top-up of the clinic approved by operator-1 and marked paid (by `payer`, default operator-1)."""
    request = await scenario.invoiced(amount)
    scenario.tick()
    assert request.invoice_id is not None
    payer = payer or scenario.operator
    invoice = await payer.mark_invoice_paid(request.invoice_id, reference or f"bank-{request.id.hex[:8]}")
    scenario.tick()
    return await scenario.operator.topup_request(request.id), invoice


async def hold(scenario, messaging, message_id: str, category: str = "marketing", **options: Any):
    scenario.tick()
    return (await messaging.hold(CLINIC, message_id, category, USA, **options)).hold


async def reverse(scenario, invoice: Invoice, reason: str = "the bank transfer bounced", by=None) -> Invoice:
    scenario.tick()
    return await (by or scenario.operator).reverse_payment(invoice.id, reason)


async def books(scenario, tenant_id: str = CLINIC) -> Wallet:
    """The wallet, after checking what must hold after every step."""
    wallet = await scenario.operator.wallet(tenant_id)
    ledger = await scenario.ledger(tenant_id)
    balance, held, available, debt = (
        wallet.balance.amount,
        wallet.held.amount,
        wallet.available.amount,
        wallet.debt.amount,
    )
    assert balance == sum((row.amount.amount for row in ledger), ZERO), "the balance is not the sum of the ledger"
    assert all(len(row.description or "") <= 512 for row in ledger), "a description the ledger cannot store"
    assert balance >= held >= 0, (balance, held)
    assert debt >= 0, debt
    assert debt == 0 or available == 0, f"a debt of {debt} while {available} is available"
    invoices = (await scenario.operator.invoices(tenant_id, status="payment_reversed", page_size=100)).items
    uncovered = sum((invoice.debt_added.amount for invoice in invoices if invoice.debt_added is not None), ZERO)
    repaid = -sum((row.amount.amount for row in ledger if row.kind is EntryKind.DEBT_REPAYMENT), ZERO)
    assert debt == uncovered - repaid, (debt, uncovered, repaid)
    return wallet


def rows(ledger: tuple[LedgerEntry, ...], kind: EntryKind) -> list[tuple[Decimal, str | None]]:
    return [(row.amount.amount, row.reference_id) for row in ledger if row.kind is kind]


async def everything(scenario) -> tuple[object, ...]:
    """All a reader sees: the world, the audit trail, the clinic's adjustments, holds and alerts."""
    return (
        await scenario.world(),
        tuple((await scenario.operator.audit(page_size=100)).items),
        tuple((await scenario.operator.adjustments(CLINIC, page_size=100)).items),
        tuple((await scenario.operator.holds(CLINIC, page_size=100)).items),
        tuple((await scenario.operator.alerts(CLINIC)).items),
    )


def recorder(scenario, *types):
    heard: list[object] = []

    async def keep(event: object) -> None:
        heard.append(event)

    for event_type in types:
        scenario.service.subscribe(event_type, keep)
    return heard


# Payment reversal -------------------------------------------------------------------------------------------------


async def test_a_reversed_payment_takes_the_credit_back_and_records_who_why_when_and_how_much(scenario) -> None:
    request, invoice = await paid(scenario, "150.00", reference="Bank-Ref-7")
    heard = recorder(scenario, PaymentReversed)
    second = operator(scenario, "operator-2")

    reversed_ = await reverse(scenario, invoice, "returned by the bank: account closed", by=second)

    now = scenario.clock.now()
    assert reversed_.status is InvoiceStatus.PAYMENT_REVERSED
    assert (reversed_.paid_by, reversed_.reversed_by, reversed_.reversed_at, reversed_.reversal_reason) == (
        "operator-1",
        "operator-2",
        now,
        "returned by the bank: account closed",
    )
    assert (reversed_.reversed_amount.amount, reversed_.debt_added.amount) == (d("150.00"), ZERO)
    assert (reversed_.paid_at, reversed_.payment_reference) == (invoice.paid_at, "Bank-Ref-7")  # kept
    assert await scenario.operator.invoice(invoice.id) == reversed_  # reloaded through a fresh unit of work
    saved = await scenario.operator.topup_request(request.id)
    assert (saved.status, saved.reversed_at, saved.completed_at) == (TopupStatus.REVERSED, now, request.completed_at)

    ledger = await scenario.ledger()
    [row] = [row for row in ledger if row.kind is EntryKind.PAYMENT_REVERSAL]
    assert row is ledger[-1]
    assert (row.amount.amount, row.reference_id, row.balance_after.amount) == (d("-150.00"), str(request.id), ZERO)
    assert invoice.number in row.description
    assert "Bank-Ref-7" in row.description
    assert "returned by the bank: account closed" in row.description
    wallet = await books(scenario)
    assert (wallet.balance.amount, wallet.debt.amount) == (ZERO, ZERO)
    assert [(type(e), e.invoice_id, e.reversed_amount.amount, e.debt_added.amount) for e in heard] == [
        (PaymentReversed, invoice.id, d("150.00"), ZERO)
    ]


async def test_what_is_held_cannot_be_taken_back_and_becomes_debt_while_the_holds_stay_open(
    scenario, messaging
) -> None:
    _, invoice = await paid(scenario, "10.00")
    for n in range(3):
        await hold(scenario, messaging, f"m-{n}")  # 3.00 held, 7.00 available

    reversed_ = await reverse(scenario, invoice)

    assert (reversed_.reversed_amount.amount, reversed_.debt_added.amount) == (d("7.00"), d("3.00"))
    wallet = await books(scenario)
    assert (wallet.balance.amount, wallet.held.amount, wallet.available.amount, wallet.debt.amount) == (
        d("3.00"),
        d("3.00"),
        ZERO,
        d("3.00"),
    )
    assert rows(await scenario.ledger(), EntryKind.PAYMENT_REVERSAL) == [(d("-7.00"), str(invoice.topup_request_id))]
    holds = (await scenario.operator.holds(CLINIC)).items
    assert [h.status for h in holds] == [HoldStatus.HELD] * 3  # open holds stay as they are


async def test_what_was_spent_becomes_debt(scenario) -> None:
    _, first = await paid(scenario, "10.00")
    await paid(scenario, "5.00")
    scenario.tick()
    await scenario.operator.charge(CLINIC, "12.00", "sms-1")  # 3.00 left

    reversed_ = await reverse(scenario, first)

    assert (reversed_.reversed_amount.amount, reversed_.debt_added.amount) == (d("3.00"), d("7.00"))
    wallet = await books(scenario)
    assert (wallet.balance.amount, wallet.debt.amount) == (ZERO, d("7.00"))


async def test_with_nothing_available_the_reversal_writes_no_ledger_row_and_all_is_debt(scenario, messaging) -> None:
    _, invoice = await paid(scenario, "2.00")
    await hold(scenario, messaging, "m-1", "utility")  # all 2.00 held
    before = await scenario.ledger()

    reversed_ = await reverse(scenario, invoice)

    assert (reversed_.reversed_amount.amount, reversed_.debt_added.amount) == (ZERO, d("2.00"))
    assert await scenario.ledger() == before
    wallet = await books(scenario)
    assert (wallet.balance.amount, wallet.held.amount, wallet.debt.amount) == (d("2.00"), d("2.00"), d("2.00"))


async def _issued(scenario) -> Invoice:
    request = await scenario.invoiced("40.00")
    return await scenario.operator.invoice(request.invoice_id)


async def _void(scenario) -> Invoice:
    request = await scenario.voided()
    return await scenario.operator.invoice(request.invoice_id)


async def _subscription_issued(scenario) -> Invoice:
    return await scenario.operator.create_subscription_invoice(CLINIC, "2026-11", [SubscriptionLine("Plan", "49.00")])


async def _subscription_paid(scenario) -> Invoice:
    invoice = await _subscription_issued(scenario)
    scenario.tick()
    return await scenario.operator.mark_invoice_paid(invoice.id, "bank-sub-1")


async def _already_reversed(scenario) -> Invoice:
    _, invoice = await paid(scenario, "40.00")
    return await reverse(scenario, invoice)


@pytest.mark.parametrize(
    "build",
    [_issued, _void, _subscription_issued, _subscription_paid, _already_reversed],
    ids=["unpaid", "void", "subscription-issued", "subscription-paid", "already-reversed"],
)
async def test_only_a_paid_top_up_invoice_can_be_reversed_and_a_refusal_changes_nothing(scenario, build) -> None:
    await paid(scenario, "25.00")  # money in the wallet that a wrong reversal could take
    invoice = await build(scenario)
    scenario.tick()
    before = await everything(scenario)

    with pytest.raises(InvalidStateError) as caught:
        await scenario.operator.reverse_payment(invoice.id, "bounced")

    assert caught.value.code == "invalid_state"
    assert await everything(scenario) == before  # no ledger row, no debt, no audit row
    await books(scenario)


async def test_a_second_reversal_leaves_the_first_and_one_ledger_row(scenario) -> None:
    _, invoice = await paid(scenario, "40.00")
    first = await reverse(scenario, invoice, "first")

    with pytest.raises(InvalidStateError):
        await reverse(scenario, invoice, "second")

    assert await scenario.operator.invoice(invoice.id) == first
    assert len(rows(await scenario.ledger(), EntryKind.PAYMENT_REVERSAL)) == 1


async def test_only_operators_reverse_payments(scenario) -> None:
    _, invoice = await paid(scenario, "40.00")
    before = await everything(scenario)

    for clinic in (scenario.clinic, scenario.as_(CLINIC, VIEW, MANAGE), scenario.as_(ROOT, VIEW)):
        with pytest.raises(ForbiddenError):
            await clinic.reverse_payment(invoice.id, "bounced")

    assert await everything(scenario) == before


@pytest.mark.parametrize("reason", ["", "   ", "x" * 513, None], ids=["empty", "blank", "513-characters", "none"])
async def test_a_reversal_needs_a_reason_of_1_to_512_characters(scenario, reason) -> None:
    _, invoice = await paid(scenario, "40.00")
    before = await everything(scenario)

    with pytest.raises(ValidationError) as caught:
        await scenario.operator.reverse_payment(invoice.id, reason)

    assert [e.field for e in caught.value.errors] == ["reason"]
    assert await everything(scenario) == before
    longest = await scenario.operator.reverse_payment(invoice.id, "x" * 512)
    assert longest.reversal_reason == "x" * 512
    row = (await scenario.ledger())[-1]
    assert row.kind is EntryKind.PAYMENT_REVERSAL
    assert invoice.number in row.description  # clipped to what the ledger stores, still naming the invoice
    await books(scenario)


async def test_with_four_eyes_whoever_marked_it_paid_cannot_reverse_it(four_eyes) -> None:
    second, third = operator(four_eyes, "operator-2"), operator(four_eyes, "operator-3")
    _, invoice = await paid(four_eyes, "40.00", payer=second)  # approved by operator-1, paid by operator-2
    assert invoice.paid_by == "operator-2"
    before = await everything(four_eyes)

    with pytest.raises(ForbiddenError) as caught:
        await second.reverse_payment(invoice.id, "bounced")

    assert caught.value.code == "forbidden"
    assert await everything(four_eyes) == before
    reversed_ = await reverse(four_eyes, invoice, by=third)
    assert (reversed_.status, reversed_.reversed_by) == (InvoiceStatus.PAYMENT_REVERSED, "operator-3")


async def test_with_four_eyes_the_approver_who_did_not_record_the_payment_may_reverse_it(four_eyes) -> None:
    _, invoice = await paid(four_eyes, "40.00", payer=operator(four_eyes, "operator-2"))

    reversed_ = await reverse(four_eyes, invoice, by=four_eyes.operator)  # operator-1 approved the top-up

    assert reversed_.reversed_by == "operator-1"


async def test_without_four_eyes_whoever_marked_it_paid_may_reverse_it(scenario) -> None:
    _, invoice = await paid(scenario, "40.00")

    reversed_ = await reverse(scenario, invoice)

    assert (reversed_.paid_by, reversed_.reversed_by) == ("operator-1", "operator-1")


async def test_with_four_eyes_an_invoice_paid_before_v3_may_be_reversed_by_anyone(four_eyes) -> None:
    second = operator(four_eyes, "operator-2")
    _, invoice = await paid(four_eyes, "40.00", payer=second)
    async with four_eyes.service.uow_factory() as uow:  # as v3's migration leaves an older paid invoice
        stored = await uow.invoices.get(invoice.id, for_update=True)
        assert stored is not None
        stored.paid_by = None
        await uow.invoices.save(stored)
        await uow.commit()
    assert (await four_eyes.operator.invoice(invoice.id)).paid_by is None

    reversed_ = await reverse(four_eyes, invoice, by=second)

    assert (reversed_.paid_by, reversed_.reversed_by) == (None, "operator-2")


@pytest.mark.parametrize("again", ["Bank-Ref-1", " bank-ref-1 "])
async def test_the_payment_reference_of_a_reversed_invoice_stays_used(scenario, again) -> None:
    _, invoice = await paid(scenario, "40.00", reference="Bank-Ref-1")
    await reverse(scenario, invoice)
    request = await scenario.invoiced("40.00")
    scenario.tick()
    before = await everything(scenario)

    with pytest.raises(DuplicateError) as caught:
        await scenario.operator.mark_invoice_paid(request.invoice_id, again)

    assert caught.value.code == "duplicate"
    assert invoice.number in caught.value.detail
    assert await everything(scenario) == before


# Debt -----------------------------------------------------------------------------------------------------------


async def in_debt(
    scenario, messaging, *, top_up: str = "10.00", held: int = 0, spent: str | None = None, payer=None
) -> Invoice:
    """Fund the clinic with one top-up, hold `held` marketing messages (m-0…) and spend `spent` (charge sms-1),
    then reverse the top-up: the held and spent parts are the debt."""
    _, invoice = await paid(scenario, top_up, payer=payer)
    for n in range(held):
        await hold(scenario, messaging, f"m-{n}")
    if spent is not None:
        scenario.tick()
        await scenario.operator.charge(CLINIC, spent, "sms-1")
    return await reverse(scenario, invoice)


async def test_a_wallet_in_debt_refuses_billable_holds_and_direct_charges(scenario, messaging) -> None:
    await in_debt(scenario, messaging, spent="10.00")
    assert (await books(scenario)).debt.amount == d("10.00")
    before = await everything(scenario)

    for refused in (
        messaging.hold(CLINIC, "new-1", "marketing", USA),
        messaging.hold_batch(CLINIC, [{"message_id": "new-2", "category": "utility", "recipient": USA}]),
        messaging.charge(CLINIC, "0.01", "sms-2"),
    ):
        with pytest.raises(WalletInDebtError) as caught:
            await refused
        assert caught.value.code == "wallet_in_debt"

    assert await everything(scenario) == before


async def test_a_free_hold_still_works_in_debt(scenario, messaging) -> None:
    await in_debt(scenario, messaging, spent="10.00")

    free = await hold(scenario, messaging, "free-1", "service")
    referral = await hold(scenario, messaging, "free-2", "referral_conversion")  # Meta's free entry point

    assert [(h.status, h.amount.amount) for h in (free, referral)] == [(HoldStatus.HELD, ZERO)] * 2
    await books(scenario)


async def test_settles_voids_and_refunds_go_on_in_debt(scenario, messaging) -> None:
    await in_debt(scenario, messaging, held=2, spent="4.00")  # 2.00 held, 4.00 spent: a debt of 6.00

    settled = await messaging.settle(CLINIC, "m-0")
    voided = await messaging.void(CLINIC, "m-1")
    refund = await scenario.operator.refund(CLINIC, "sms-1", "1.00")

    assert (settled.status, settled.charged.amount, voided.status) == (HoldStatus.SETTLED, d("1.00"), HoldStatus.VOIDED)
    assert (refund.kind, refund.amount.amount) == (EntryKind.REFUND, d("1.00"))
    wallet = await books(scenario)
    assert (wallet.balance.amount, wallet.held.amount, wallet.debt.amount) == (ZERO, ZERO, d("4.00"))


def delivered(message_id: str, at: datetime, category: str = "marketing") -> dict[str, object]:
    """Meta's body with one `delivered` status of a message sent from NUMBER."""
    status = {
        "id": message_id,
        "status": "delivered",
        "timestamp": str(int(at.timestamp())),
        "recipient_id": USA.lstrip("+"),
        "pricing": {"billable": True, "pricing_model": "PMP", "category": category, "type": "regular"},
    }
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001234", "phone_number_id": NUMBER},
        "statuses": [status],
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }


async def test_meta_s_delivered_status_still_settles_in_debt(scenario, messaging) -> None:
    await scenario.operator.map_whatsapp_number(NUMBER, CLINIC)
    await in_debt(scenario, messaging, held=1, spent="4.00")  # m-0 held: a debt of 5.00
    scenario.tick()

    await scenario.service.as_platform("webhook").apply_whatsapp_statuses(
        parse_status_notifications(delivered("m-0", scenario.clock.now()))
    )

    [settled] = (await scenario.operator.holds(CLINIC, message_id="m-0")).items
    assert (settled.status, settled.charged.amount) == (HoldStatus.SETTLED, d("1.00"))
    wallet = await books(scenario)
    assert (wallet.balance.amount, wallet.held.amount, wallet.debt.amount) == (ZERO, ZERO, d("5.00"))


# Repayment by credits ------------------------------------------------------------------------------------------


async def test_a_paid_top_up_repays_the_debt_first(scenario, messaging) -> None:
    await in_debt(scenario, messaging, spent="10.00")  # a debt of 10.00
    heard = recorder(scenario, DebtRepaid)

    small, _ = await paid(scenario, "4.00")
    wallet = await books(scenario)
    assert (wallet.balance.amount, wallet.debt.amount) == (ZERO, d("6.00"))
    large, _ = await paid(scenario, "15.00")

    wallet = await books(scenario)
    assert (wallet.balance.amount, wallet.available.amount, wallet.debt.amount) == (d("9.00"), d("9.00"), ZERO)
    ledger = await scenario.ledger()
    assert rows(ledger, EntryKind.DEBT_REPAYMENT) == [(d("-4.00"), str(small.id)), (d("-6.00"), str(large.id))]
    [repaid] = [row for row in ledger if row.kind is EntryKind.DEBT_REPAYMENT and row.reference_id == str(large.id)]
    assert ledger.index(repaid) == ledger.index(next(r for r in ledger if r.reference_id == str(large.id))) + 1
    assert [(e.amount.amount, e.debt_left.amount, e.reference_id) for e in heard] == [
        (d("4.00"), d("6.00"), str(small.id)),
        (d("6.00"), ZERO, str(large.id)),
    ]
    accepted = await hold(scenario, messaging, "after", "marketing")  # out of debt: billable holds again
    assert accepted.amount.amount == d("1.00")


async def test_a_refund_repays_the_debt_with_the_charge_s_reference(scenario, messaging) -> None:
    await in_debt(scenario, messaging, spent="10.00")

    await scenario.operator.refund(CLINIC, "sms-1", "3.00")

    wallet = await books(scenario)
    assert (wallet.balance.amount, wallet.debt.amount) == (ZERO, d("7.00"))
    assert rows(await scenario.ledger(), EntryKind.DEBT_REPAYMENT) == [(d("-3.00"), "sms-1")]


async def test_a_positive_adjustment_repays_the_debt_with_its_reference(scenario, messaging) -> None:
    await in_debt(scenario, messaging, spent="10.00")
    scenario.tick()

    adjustment = await scenario.operator.adjust(CLINIC, "12.50", "goodwill credit", "adj-1")

    assert adjustment.status is AdjustmentStatus.APPLIED
    wallet = await books(scenario)
    assert (wallet.balance.amount, wallet.debt.amount) == (d("2.50"), ZERO)
    assert rows(await scenario.ledger(), EntryKind.DEBT_REPAYMENT) == [(d("-10.00"), "adj-1")]


async def test_an_adjustment_approved_under_four_eyes_repays_the_debt(four_eyes, messaging) -> None:
    await in_debt(four_eyes, messaging, spent="10.00", payer=operator(four_eyes, "operator-2"))
    four_eyes.tick()
    proposed = await four_eyes.operator.adjust(CLINIC, "4.00", "goodwill credit", "adj-1")
    assert (await books(four_eyes)).debt.amount == d("10.00")  # proposed: nothing moved yet

    await operator(four_eyes, "operator-2").approve_adjustment(proposed.id)

    wallet = await books(four_eyes)
    assert (wallet.balance.amount, wallet.debt.amount) == (ZERO, d("6.00"))
    assert rows(await four_eyes.ledger(), EntryKind.DEBT_REPAYMENT) == [(d("-4.00"), "adj-1")]


# Repayment by releases -----------------------------------------------------------------------------------------


async def test_a_void_repays_the_debt_from_what_it_released(scenario, messaging) -> None:
    await in_debt(scenario, messaging, held=3, spent="2.00")  # 3.00 held + 2.00 spent: a debt of 5.00

    await messaging.void(CLINIC, "m-1")

    wallet = await books(scenario)
    assert (wallet.balance.amount, wallet.held.amount, wallet.debt.amount) == (d("2.00"), d("2.00"), d("4.00"))
    assert rows(await scenario.ledger(), EntryKind.DEBT_REPAYMENT) == [(d("-1.00"), "m-1")]


async def test_an_expiry_repays_the_debt_from_what_it_released(scenario, messaging) -> None:
    _, invoice = await paid(scenario, "10.00")
    await hold(scenario, messaging, "short", "utility", expires_in_seconds=60)
    await hold(scenario, messaging, "long", "marketing")
    await reverse(scenario, invoice)  # 3.00 held: a debt of 3.00
    scenario.clock.advance(timedelta(seconds=61))

    swept = await scenario.operator.expire_holds()

    assert swept.expired == 1
    wallet = await books(scenario)
    assert (wallet.balance.amount, wallet.held.amount, wallet.debt.amount) == (d("1.00"), d("1.00"), d("1.00"))
    assert rows(await scenario.ledger(), EntryKind.DEBT_REPAYMENT) == [(d("-2.00"), "short")]


@pytest.mark.parametrize(
    ("meta", "charged", "repaid"),
    [({"category": "marketing"}, "1.00", "1.00"), ({"pricing_type": "free_customer_service"}, "0.00", "2.00")],
    ids=["repriced-lower", "free"],
)
async def test_a_settle_below_its_hold_repays_the_debt_from_the_rest(
    scenario, messaging, meta, charged, repaid
) -> None:
    _, invoice = await paid(scenario, "10.00")
    await hold(scenario, messaging, "m-1", "utility")  # 2.00 held
    await reverse(scenario, invoice)  # a debt of 2.00

    settled = await messaging.settle(CLINIC, "m-1", **meta)

    assert settled.charged.amount == d(charged)
    wallet = await books(scenario)
    assert (wallet.balance.amount, wallet.held.amount, wallet.debt.amount) == (ZERO, ZERO, d("2.00") - d(repaid))
    assert rows(await scenario.ledger(), EntryKind.DEBT_REPAYMENT) == [(-d(repaid), "m-1")]


async def test_a_settle_at_its_hold_repays_nothing(scenario, messaging) -> None:
    _, invoice = await paid(scenario, "10.00")
    await hold(scenario, messaging, "m-1", "utility")
    await reverse(scenario, invoice)

    await messaging.settle(CLINIC, "m-1")

    wallet = await books(scenario)
    assert (wallet.balance.amount, wallet.debt.amount) == (ZERO, d("2.00"))
    assert rows(await scenario.ledger(), EntryKind.DEBT_REPAYMENT) == []


async def test_a_long_life_in_debt_keeps_the_books(scenario, messaging) -> None:
    """Reversals, releases and credits one after another: the books hold after every step."""
    _, first = await paid(scenario, "6.00")
    _, second = await paid(scenario, "3.00")
    for n in range(4):
        await hold(scenario, messaging, f"m-{n}")
    await hold(scenario, messaging, "u-1", "utility")  # 6.00 held, 3.00 available
    steps = [
        lambda: reverse(scenario, first),  # takes 3.00, owes 3.00
        lambda: messaging.void(CLINIC, "m-0"),  # repays 1.00
        lambda: messaging.settle(CLINIC, "u-1", category="marketing"),  # repays 1.00 of the 2.00 held
        lambda: reverse(scenario, second),  # nothing available: owes 3.00 more
        lambda: paid(scenario, "2.00"),  # repays 2.00
        lambda: scenario.operator.adjust(CLINIC, "5.00", "goodwill", "adj-1"),  # repays the last 2.00
    ]
    debts = []
    for step in steps:
        scenario.tick()
        await step()
        debts.append((await books(scenario)).debt.amount)

    assert debts == [d("3.00"), d("2.00"), d("1.00"), d("4.00"), d("2.00"), ZERO]
    wallet = await books(scenario)
    assert (wallet.balance.amount, wallet.held.amount, wallet.available.amount) == (d("6.00"), d("3.00"), d("3.00"))


# Reversals and negative adjustments are moves like the others (v2 §10) -----------------------------------------


async def test_a_reversal_and_a_negative_adjustment_cross_low_balance_levels(scenario) -> None:
    await paid(scenario, "100.00")
    _, second = await paid(scenario, "50.00")
    await scenario.operator.set_settings("0", CLINIC, low_balance_levels=["120.00", "40.00"])

    await reverse(scenario, second)  # 150.00 -> 100.00
    scenario.tick()
    await scenario.operator.adjust(CLINIC, "-70.00", "correction", "adj-1")  # 100.00 -> 30.00

    raised = [(str(a.level), str(a.available)) for a in reversed((await scenario.operator.alerts(CLINIC)).items)]
    assert raised == [("120.00", "100.00"), ("40.00", "30.00")]
    await books(scenario)


async def test_a_reversal_with_debt_asks_the_automatic_top_up_for_target_less_available_plus_debt(scenario) -> None:
    _, invoice = await paid(scenario, "30.00")
    scenario.tick()
    await scenario.operator.charge(CLINIC, "25.00", "sms-1")  # 5.00 left
    auto = {"enabled": True, "threshold": "20.00", "target": "100.00", "monthly_cap": "1000.00"}
    await scenario.operator.set_settings("0", CLINIC, auto_topup=auto)

    await reverse(scenario, invoice)  # takes 5.00, owes 25.00

    requests = (await scenario.operator.topup_requests(CLINIC, page_size=100)).items
    automatic = [r for r in requests if r.requested_by == AUTO_REQUESTER]
    assert [(r.amount.amount, r.status) for r in automatic] == [(d("125.00"), TopupStatus.PENDING)]  # 100 - 0 + 25
    await books(scenario)


async def test_a_negative_adjustment_triggers_the_automatic_top_up(scenario) -> None:
    await paid(scenario, "50.00")
    auto = {"enabled": True, "threshold": "20.00", "target": "100.00", "monthly_cap": "1000.00"}
    await scenario.operator.set_settings("0", CLINIC, auto_topup=auto)
    scenario.tick()

    await scenario.operator.adjust(CLINIC, "-40.00", "correction", "adj-1")  # 10.00 left

    requests = (await scenario.operator.topup_requests(CLINIC, page_size=100)).items
    assert [r.amount.amount for r in requests if r.requested_by == AUTO_REQUESTER] == [d("90.00")]


# Adjustments ------------------------------------------------------------------------------------------------------


async def test_without_four_eyes_an_adjustment_is_applied_at_once(scenario) -> None:
    await paid(scenario, "10.00")
    scenario.tick()

    adjustment = await scenario.operator.adjust(CLINIC, "-2.1234", "duplicate message charge", "adj-1")

    now = scenario.clock.now()
    assert (adjustment.status, adjustment.tenant_id, adjustment.amount.amount, adjustment.reason) == (
        AdjustmentStatus.APPLIED,
        CLINIC,
        d("-2.1234"),
        "duplicate message charge",
    )
    assert (adjustment.proposed_by, adjustment.decided_by, adjustment.proposed_at, adjustment.decided_at) == (
        "operator-1",
        "operator-1",
        now,
        now,
    )
    row = (await scenario.ledger())[-1]
    assert (row.id, row.kind, row.amount.amount, row.reference_id) == (
        adjustment.transaction_id,
        EntryKind.ADJUSTMENT,
        d("-2.1234"),
        "adj-1",
    )
    assert list((await scenario.operator.adjustments(CLINIC)).items) == [adjustment]
    assert (await books(scenario)).balance.amount == d("7.8766")


async def test_with_four_eyes_an_adjustment_is_proposed_and_another_operator_applies_it(four_eyes) -> None:
    await paid(four_eyes, "10.00", payer=operator(four_eyes, "operator-2"))
    four_eyes.tick()
    ledger = await four_eyes.ledger()

    proposed = await four_eyes.operator.adjust(CLINIC, "5.00", "promised credit", "adj-1")

    assert (proposed.status, proposed.proposed_by, proposed.decided_by, proposed.transaction_id) == (
        AdjustmentStatus.PROPOSED,
        "operator-1",
        None,
        None,
    )
    assert await four_eyes.ledger() == ledger
    four_eyes.tick()
    applied = await operator(four_eyes, "operator-2").approve_adjustment(proposed.id)
    assert (applied.status, applied.decided_by, applied.decided_at) == (
        AdjustmentStatus.APPLIED,
        "operator-2",
        four_eyes.clock.now(),
    )
    row = (await four_eyes.ledger())[-1]
    assert (row.id, row.kind, row.amount.amount, row.reference_id) == (
        applied.transaction_id,
        EntryKind.ADJUSTMENT,
        d("5.00"),
        "adj-1",
    )
    assert list((await four_eyes.operator.adjustments(CLINIC)).items) == [applied]
    assert (await books(four_eyes)).balance.amount == d("15.00")


async def test_with_four_eyes_the_proposer_cannot_approve(four_eyes) -> None:
    proposed = await four_eyes.operator.adjust(CLINIC, "5.00", "promised credit", "adj-1")
    before = await everything(four_eyes)

    with pytest.raises(ForbiddenError) as caught:
        await four_eyes.operator.approve_adjustment(proposed.id)

    assert caught.value.code == "forbidden"
    assert await everything(four_eyes) == before


async def test_a_proposed_adjustment_is_rejected_with_a_reason(four_eyes) -> None:
    proposed = await four_eyes.operator.adjust(CLINIC, "5.00", "promised credit", "adj-1")
    four_eyes.tick()
    ledger = await four_eyes.ledger()

    rejected = await operator(four_eyes, "operator-2").reject_adjustment(proposed.id, "no such promise")

    assert (rejected.status, rejected.decided_by, rejected.decided_at, rejected.rejection_reason) == (
        AdjustmentStatus.REJECTED,
        "operator-2",
        four_eyes.clock.now(),
        "no such promise",
    )
    assert rejected.transaction_id is None
    assert await four_eyes.ledger() == ledger
    assert list((await four_eyes.operator.adjustments(CLINIC)).items) == [rejected]


@pytest.mark.parametrize("reason", ["", "  ", "x" * 513])
async def test_a_rejection_needs_a_reason(four_eyes, reason) -> None:
    proposed = await four_eyes.operator.adjust(CLINIC, "5.00", "promised credit", "adj-1")
    before = await everything(four_eyes)

    with pytest.raises(ValidationError):
        await operator(four_eyes, "operator-2").reject_adjustment(proposed.id, reason)

    assert await everything(four_eyes) == before


@pytest.mark.parametrize("decided", ["applied", "rejected"])
async def test_a_decided_adjustment_cannot_be_decided_again(four_eyes, decided) -> None:
    second, third = operator(four_eyes, "operator-2"), operator(four_eyes, "operator-3")
    proposed = await four_eyes.operator.adjust(CLINIC, "5.00", "promised credit", "adj-1")
    if decided == "applied":
        await second.approve_adjustment(proposed.id)
    else:
        await second.reject_adjustment(proposed.id, "no")
    before = await everything(four_eyes)

    for again in (third.approve_adjustment(proposed.id), third.reject_adjustment(proposed.id, "late")):
        with pytest.raises(InvalidStateError) as caught:
            await again
        assert caught.value.code == "invalid_state"

    assert await everything(four_eyes) == before


async def test_without_four_eyes_a_negative_adjustment_available_cannot_cover_is_not_created(
    scenario, messaging
) -> None:
    await paid(scenario, "10.00")
    for n in range(3):
        await hold(scenario, messaging, f"m-{n}")  # 7.00 available of a balance of 10.00
    scenario.tick()
    before = await everything(scenario)

    with pytest.raises(InsufficientFundsError) as caught:
        await scenario.operator.adjust(CLINIC, "-7.01", "correction", "adj-1")

    assert caught.value.code == "insufficient_funds"
    assert await everything(scenario) == before
    taken = await scenario.operator.adjust(CLINIC, "-7.00", "correction", "adj-1")  # the reference is still free
    assert taken.status is AdjustmentStatus.APPLIED
    assert (await books(scenario)).available.amount == ZERO


async def test_with_four_eyes_a_negative_adjustment_available_cannot_cover_stays_proposed(four_eyes) -> None:
    await paid(four_eyes, "10.00", payer=operator(four_eyes, "operator-2"))
    four_eyes.tick()
    proposed = await four_eyes.operator.adjust(CLINIC, "-12.00", "correction", "adj-1")
    assert proposed.status is AdjustmentStatus.PROPOSED  # funds are checked when it is applied
    before = await everything(four_eyes)

    with pytest.raises(InsufficientFundsError):
        await operator(four_eyes, "operator-2").approve_adjustment(proposed.id)

    assert await everything(four_eyes) == before
    assert list((await four_eyes.operator.adjustments(CLINIC)).items) == [proposed]


async def test_the_same_reference_and_amount_again_is_the_first_adjustment(scenario) -> None:
    first = await scenario.operator.adjust(CLINIC, "5.00", "promised credit", "adj-1")
    scenario.tick()
    before = await everything(scenario)

    again = await operator(scenario, "operator-2").adjust(CLINIC, "5.0000", "said twice", "adj-1")

    assert again == first
    assert await everything(scenario) == before  # no second ledger row, no second audit row


async def test_the_same_reference_with_another_amount_is_a_duplicate(scenario) -> None:
    await scenario.operator.adjust(CLINIC, "5.00", "promised credit", "adj-1")
    before = await everything(scenario)

    for amount in ("5.01", "-5.00"):
        with pytest.raises(DuplicateError) as caught:
            await scenario.operator.adjust(CLINIC, amount, "promised credit", "adj-1")
        assert caught.value.code == "duplicate"

    assert await everything(scenario) == before
    other = await scenario.operator.adjust("clinic-b", "5.01", "another clinic's credit", "adj-1")
    assert other.status is AdjustmentStatus.APPLIED  # unique per tenant


@pytest.mark.parametrize(
    ("amount", "reason", "reference", "field"),
    [
        ("1.00001", "ok", "adj-1", "amount"),
        ("0", "ok", "adj-1", "amount"),
        ("-0.0000", "ok", "adj-1", "amount"),
        ("5.00", "", "adj-1", "reason"),
        ("5.00", "   ", "adj-1", "reason"),
        ("5.00", "x" * 513, "adj-1", "reason"),
        ("5.00", "ok", "r" * 201, "reference_id"),
        ("5.00", "ok", "", "reference_id"),
    ],
    ids=["5-digits", "zero", "negative-zero", "empty-reason", "blank-reason", "long-reason", "long-ref", "empty-ref"],
)
async def test_a_bad_adjustment_is_refused_naming_its_field(scenario, amount, reason, reference, field) -> None:
    await paid(scenario, "10.00")
    before = await everything(scenario)

    with pytest.raises(ValidationError) as caught:
        await scenario.operator.adjust(CLINIC, amount, reason, reference)

    assert [e.field for e in caught.value.errors] == [field]
    assert await everything(scenario) == before


async def test_the_longest_reason_and_reference_are_taken(scenario) -> None:
    adjustment = await scenario.operator.adjust(CLINIC, "0.0001", "x" * 512, "r" * 200)

    assert (adjustment.reason, adjustment.reference_id, adjustment.status) == ("x" * 512, "r" * 200, "applied")


async def test_the_longest_reason_and_reference_repay_a_debt(scenario, messaging) -> None:
    """The repayment's ledger row names the adjustment and its reason: it must fit the ledger as well."""
    await in_debt(scenario, messaging, spent="10.00")
    scenario.tick()

    adjustment = await scenario.operator.adjust(CLINIC, "4.00", "x" * 512, "r" * 200)

    assert adjustment.status is AdjustmentStatus.APPLIED
    assert rows(await scenario.ledger(), EntryKind.DEBT_REPAYMENT) == [(d("-4.00"), "r" * 200)]
    assert (await books(scenario)).debt.amount == d("6.00")


async def test_only_operators_adjust_and_decide(four_eyes) -> None:
    proposed = await four_eyes.operator.adjust(CLINIC, "5.00", "promised credit", "adj-1")
    before = await everything(four_eyes)

    for caller in (four_eyes.clinic, four_eyes.as_(CLINIC, VIEW, MANAGE), four_eyes.as_(ROOT, VIEW)):
        for refused in (
            caller.adjust(CLINIC, "5.00", "mine", "adj-2"),
            caller.approve_adjustment(proposed.id),
            caller.reject_adjustment(proposed.id, "no"),
        ):
            with pytest.raises(ForbiddenError):
                await refused
    with pytest.raises(ForbiddenError):
        await four_eyes.clinic.adjustments(CLINIC)

    assert await everything(four_eyes) == before


async def test_adjustments_are_listed_newest_first_and_filtered_by_status(four_eyes) -> None:
    second = operator(four_eyes, "operator-2")
    made = []
    for n in range(4):
        four_eyes.tick()
        made.append(await four_eyes.operator.adjust(CLINIC, f"{n + 1}.00", f"credit {n}", f"adj-{n}"))
    four_eyes.tick()
    applied = await second.approve_adjustment(made[1].id)
    rejected = await second.reject_adjustment(made[2].id, "no")
    await four_eyes.operator.adjust("clinic-b", "9.00", "another clinic", "adj-0")

    listed = await four_eyes.operator.adjustments(CLINIC)
    assert [a.id for a in listed.items] == [a.id for a in reversed(made)]
    assert listed.total == 4
    assert [a.id for a in (await four_eyes.operator.adjustments(CLINIC, status="proposed")).items] == [
        made[3].id,
        made[0].id,
    ]
    assert list((await four_eyes.operator.adjustments(CLINIC, status="applied")).items) == [applied]
    assert list((await four_eyes.operator.adjustments(CLINIC, status="rejected")).items) == [rejected]
    paged = await four_eyes.operator.adjustments(CLINIC, page=2, page_size=3)
    assert ([a.id for a in paged.items], paged.total) == ([made[0].id], 4)
    with pytest.raises(ValidationError):
        await four_eyes.operator.adjustments(CLINIC, status="approved")
