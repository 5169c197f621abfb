"""Subscription invoices: one per tenant and billing period. Top-up invoices are exempt from that rule."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal

import pytest

from billing.application.handlers.invoices import SubscriptionLine
from billing.domain.errors import DuplicateError, ValidationError
from billing.domain.invoice import InvoiceLine, InvoicePurpose, InvoiceStatus
from billing.domain.money import Money

CLINIC = "clinic-a"
OTHER_CLINIC = "clinic-b"
PLAN = [SubscriptionLine("Clinic plan", "49.00"), SubscriptionLine("Extra seat", "5.50", quantity=3)]


def _usd(text: str) -> Money:
    return Money(Decimal(text), "USD")


async def test_a_subscription_invoice_is_issued_for_its_period(scenario) -> None:
    created = await scenario.operator.create_subscription_invoice(CLINIC, "2026-12", PLAN)

    invoice = await scenario.clinic.invoice(created.id)
    assert invoice == created
    token = hashlib.sha256(CLINIC.encode()).hexdigest()[:12].upper()
    assert invoice.number == f"SUB-202612-{token}"
    assert (invoice.purpose, invoice.status, invoice.period) == (
        InvoicePurpose.SUBSCRIPTION,
        InvoiceStatus.ISSUED,
        "2026-12",
    )
    assert invoice.lines == (
        InvoiceLine("Clinic plan", 1, _usd("49.00")),
        InvoiceLine("Extra seat", 3, _usd("5.50")),
    )
    assert invoice.total == _usd("65.50")
    assert invoice.topup_request_id is None
    assert invoice.due_date == date(2026, 12, 10)


async def test_a_second_subscription_invoice_for_the_period_is_a_duplicate(scenario) -> None:
    await scenario.operator.create_subscription_invoice(CLINIC, "2026-11", PLAN)
    before = await scenario.world()

    for issue in (True, False):
        with pytest.raises(DuplicateError) as caught:
            await scenario.operator.create_subscription_invoice(CLINIC, "2026-11", PLAN, issue=issue)
        assert caught.value.code == "duplicate"

    assert await scenario.world() == before


async def test_a_voided_subscription_invoice_still_holds_its_period(scenario) -> None:
    # The unique index covers every subscription invoice of the period, whatever its status.
    first = await scenario.operator.create_subscription_invoice(CLINIC, "2026-11", PLAN)
    await scenario.operator.void_invoice(first.id, "wrong plan")

    with pytest.raises(DuplicateError):
        await scenario.operator.create_subscription_invoice(CLINIC, "2026-11", PLAN)


async def test_other_periods_and_other_tenants_are_separate(scenario) -> None:
    await scenario.operator.create_subscription_invoice(CLINIC, "2026-11", PLAN)
    await scenario.operator.create_subscription_invoice(CLINIC, "2026-12", PLAN)
    await scenario.operator.create_subscription_invoice(OTHER_CLINIC, "2026-11", PLAN)

    page = await scenario.operator.invoices(purpose="subscription")

    assert sorted((i.tenant_id, i.period) for i in page.items) == [
        (CLINIC, "2026-11"),
        (CLINIC, "2026-12"),
        (OTHER_CLINIC, "2026-11"),
    ]


async def test_many_topup_invoices_in_one_month_are_fine(scenario) -> None:
    await scenario.operator.create_subscription_invoice(CLINIC, "2026-11", PLAN)

    requests = [await scenario.invoiced(amount) for amount in ("10.00", "20.00", "10.00")]

    page = await scenario.clinic.invoices(purpose="topup")
    assert page.total == 3
    assert {i.period for i in page.items} == {"2026-11"}
    assert {i.id for i in page.items} == {r.invoice_id for r in requests}
    assert len({i.number for i in page.items}) == 3
    assert (await scenario.clinic.invoices()).total == 4


@pytest.mark.parametrize(
    ("tenant_id", "period", "lines", "field"),
    [
        (CLINIC, "2026-13", PLAN, "period"),
        (CLINIC, "202611", PLAN, "period"),
        (CLINIC, "2026-11", [], "lines"),
        (CLINIC, "2026-11", [SubscriptionLine("", "1.00")], "lines[0].description"),
        (CLINIC, "2026-11", [SubscriptionLine("Plan", "1.00", quantity=0)], "lines[0].quantity"),
        (CLINIC, "2026-11", [SubscriptionLine("Plan", "1.001")], "lines[0].unit_price"),
        (CLINIC, "2026-11", [*PLAN, SubscriptionLine("Seat", "0")], "lines[2].unit_price"),
        ("bad tenant", "2026-11", PLAN, "tenant_id"),
    ],
)
async def test_a_bad_subscription_invoice_is_a_validation_error(scenario, tenant_id, period, lines, field) -> None:
    with pytest.raises(ValidationError) as caught:
        await scenario.operator.create_subscription_invoice(tenant_id, period, lines)

    assert [e.field for e in caught.value.errors] == [field]
    assert (await scenario.operator.invoices()).total == 0
