"""Money safety (contract v2 §12, §14): one bank transfer pays one invoice of a tenant, a payment cannot predate
its invoice, and with four eyes on, whoever approved a top-up cannot also record its payment."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import attrs
import pytest
from dependency_injector import providers

from billing.application.caller import MANAGE, VIEW
from billing.application.handlers.invoices import SubscriptionLine
from billing.container import Container
from billing.domain.errors import DuplicateError, ForbiddenError, InvalidStateError, ValidationError
from billing.domain.invoice import InvoiceStatus
from billing.domain.money import Money
from billing.domain.topup import TopupStatus

ROOT = "root"
CLINIC = "clinic-a"


def _usd(text: str) -> Money:
    return Money(Decimal(text), "USD")


async def _paid_with(scenario, reference: str, clinic=None):
    """A top-up of `clinic` (default: clinic-a) paid with `reference`: its invoice."""
    request = await scenario.invoiced("100.00", clinic)
    scenario.tick()
    return await scenario.operator.mark_invoice_paid(request.invoice_id, reference)


@pytest.mark.parametrize(
    "again",
    ["Bank-Ref-1", "  Bank-Ref-1 ", "BANK-REF-1", "\u00a0bank-ref-1\u2003"],
    ids=["exact", "trimmed", "other-case", "unicode-spaces-and-case"],
)
async def test_a_payment_reference_already_paid_is_a_duplicate_and_changes_nothing(scenario, again) -> None:
    first = await _paid_with(scenario, "Bank-Ref-1")
    request = await scenario.invoiced("40.00")
    scenario.tick()
    before = await scenario.world()

    with pytest.raises(DuplicateError) as caught:
        await scenario.operator.mark_invoice_paid(request.invoice_id, again)

    assert caught.value.code == "duplicate"
    assert first.number in caught.value.detail  # the application's answer names the invoice that holds it
    assert await scenario.world() == before
    saved, invoice = await scenario.reload(request.id)
    assert (saved.status, invoice.status, invoice.payment_reference) == (
        TopupStatus.INVOICED,
        InvoiceStatus.ISSUED,
        None,
    )
    assert (await scenario.clinic.wallet()).balance == _usd("100.00")


async def test_references_that_differ_inside_are_two_transfers(scenario) -> None:
    await _paid_with(scenario, "ref-1")

    paid = await _paid_with(scenario, "ref 1")

    assert paid.status is InvoiceStatus.PAID
    assert (await scenario.clinic.wallet()).balance == _usd("200.00")


async def test_the_same_reference_on_another_tenant_is_fine(scenario) -> None:
    await _paid_with(scenario, "Bank-Ref-1")

    paid = await _paid_with(scenario, "bank-ref-1", scenario.other_clinic)

    assert paid.status is InvoiceStatus.PAID
    assert (await scenario.other_clinic.wallet()).balance == _usd("100.00")


async def test_a_subscription_and_a_topup_share_the_rule(scenario) -> None:
    subscription = await scenario.operator.create_subscription_invoice(
        CLINIC, "2026-11", [SubscriptionLine("Plan", "49.00")]
    )
    scenario.tick()
    await scenario.operator.mark_invoice_paid(subscription.id, "SEPA-77")
    request = await scenario.invoiced()
    scenario.tick()

    with pytest.raises(DuplicateError):
        await scenario.operator.mark_invoice_paid(request.invoice_id, " sepa-77")

    later = await scenario.operator.create_subscription_invoice(CLINIC, "2026-12", [SubscriptionLine("Plan", "49.00")])
    with pytest.raises(DuplicateError):
        await scenario.operator.mark_invoice_paid(later.id, "Sepa-77")
    assert (await scenario.operator.invoice(later.id)).status is InvoiceStatus.ISSUED


async def test_only_paid_invoices_hold_a_reference(scenario) -> None:
    """A payment refused with its invoice, and a void invoice, leave the reference free."""
    refused = await scenario.invoiced()
    scenario.tick()
    with pytest.raises(ValidationError):  # the money cannot have arrived tomorrow
        await scenario.operator.mark_invoice_paid(
            refused.invoice_id, "ref-9", paid_at=scenario.clock.now() + timedelta(days=1)
        )
    await scenario.operator.void_invoice(refused.invoice_id, "paid by card instead")
    with pytest.raises(InvalidStateError):
        await scenario.operator.mark_invoice_paid(refused.invoice_id, "ref-9")

    paid = await _paid_with(scenario, "REF-9")

    assert paid.status is InvoiceStatus.PAID
    assert (await scenario.clinic.wallet()).balance == _usd("100.00")


async def test_the_rule_holds_below_the_application_on_every_adapter(scenario, container: Container) -> None:
    """The in-memory store and PostgreSQL's unique index refuse a second holder themselves (the application's
    check aside): what decides when two payers race."""
    await _paid_with(scenario, "Ref-1")
    request = await scenario.invoiced()
    scenario.tick()
    before = await scenario.world()

    async with container.unit_of_work() as uow:
        invoice = await uow.invoices.get(request.invoice_id, for_update=True)
        assert invoice is not None
        invoice.mark_paid(" ref-1 ", scenario.clock.now(), scenario.clock.now())
        with pytest.raises(DuplicateError):
            await uow.invoices.save(invoice)

    assert await scenario.world() == before


async def test_paid_at_before_the_invoice_was_issued_is_refused_and_changes_nothing(scenario) -> None:
    request = await scenario.invoiced()
    issued_at = (await scenario.operator.invoice(request.invoice_id)).issued_at
    assert issued_at is not None
    scenario.tick()
    before = await scenario.world()

    with pytest.raises(ValidationError) as caught:
        await scenario.operator.mark_invoice_paid(
            request.invoice_id, "bank-1", paid_at=issued_at - timedelta(seconds=1)
        )

    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("paid_at", "must not be before the invoice was issued")
    ]
    assert await scenario.world() == before
    paid = await scenario.operator.mark_invoice_paid(request.invoice_id, "bank-1", paid_at=issued_at)  # the instant
    assert paid.paid_at == issued_at


@pytest.fixture
def four_eyes(container: Container, scenario):
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


async def test_with_four_eyes_the_approver_cannot_mark_the_invoice_paid(four_eyes) -> None:
    request = await four_eyes.invoiced()  # approved by operator-1
    four_eyes.tick()
    before = await four_eyes.world()

    with pytest.raises(ForbiddenError) as caught:
        await four_eyes.operator.mark_invoice_paid(request.invoice_id, "bank-1")

    assert caught.value.code == "forbidden"
    assert await four_eyes.world() == before
    assert (await four_eyes.operator.topup_request(request.id)).status is TopupStatus.INVOICED


async def test_with_four_eyes_another_operator_marks_it_paid(four_eyes) -> None:
    request = await four_eyes.invoiced()
    four_eyes.tick()
    second = four_eyes.as_(ROOT, VIEW, MANAGE, user_id="operator-2")

    paid = await second.mark_invoice_paid(request.invoice_id, "bank-1")

    assert paid.status is InvoiceStatus.PAID
    assert (await four_eyes.clinic.wallet()).balance == _usd("150.00")


async def test_without_four_eyes_the_approver_may_mark_the_invoice_paid(scenario) -> None:
    request = await scenario.invoiced()  # approved by operator-1, the default deployment
    scenario.tick()

    paid = await scenario.operator.mark_invoice_paid(request.invoice_id, "bank-1")

    assert (await scenario.operator.topup_request(request.id)).decided_by == "operator-1"
    assert paid.status is InvoiceStatus.PAID
    assert (await scenario.clinic.wallet()).balance == _usd("150.00")
