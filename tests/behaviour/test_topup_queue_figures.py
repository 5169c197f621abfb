"""The operators' figures of the top-up queue (the console's KPI strip): pending, invoiced but unpaid, and paid this
UTC month, each a count and a total; every tenant's or one's; for the root tenant with View only."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.application import queries
from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.ports import Tally, TopupQueueFigures
from billing.domain.errors import ForbiddenError, ValidationError
from billing.domain.money import Money

CLINIC = "clinic-a"
OTHER_CLINIC = "clinic-b"
OPERATOR = Caller("operator-1", "root", frozenset([VIEW, MANAGE]))


def tally(count: int, total: str) -> Tally:
    return Tally(count, Money(Decimal(total), "USD"))


async def figures(scenario, tenant_id: str | None = None, caller: Caller = OPERATOR) -> TopupQueueFigures:
    query = queries.GetTopupQueueFigures(tenant_id)
    return await scenario.service.execute(queries.get_topup_queue_figures, query, caller)


async def paid_at(scenario, at: datetime, amount: str) -> None:
    """A request invoiced an hour before `at`, and marked paid at `at` (its `completed_at`)."""
    now = scenario.clock.current
    scenario.clock.current = at - timedelta(hours=1)
    request = await scenario.invoiced(amount)
    scenario.clock.current = at
    await scenario.operator.mark_invoice_paid(request.invoice_id, f"payment-{request.id.hex[:8]}")
    scenario.clock.current = now


async def test_an_empty_queue_is_zeros(scenario) -> None:
    assert await figures(scenario) == TopupQueueFigures(tally(0, "0"), tally(0, "0"), tally(0, "0"))


async def test_pending_unpaid_and_this_months_paid_are_counted_and_totalled(scenario) -> None:
    other = scenario.other_clinic
    # The clock reads 2026-11-26: paid just before November (not counted), on its first instant, and just after it.
    await paid_at(scenario, datetime(2026, 10, 31, 23, 59, 59, 999999, tzinfo=UTC), "900.00")
    await paid_at(scenario, datetime(2026, 11, 1, tzinfo=UTC), "11.00")
    await paid_at(scenario, datetime(2026, 12, 1, tzinfo=UTC), "800.00")
    await scenario.pending("150.00")
    await scenario.pending("1.50", other)
    await scenario.invoiced("40.00")
    await scenario.invoiced("60.25", other)
    await scenario.completed("70.00")
    await scenario.completed("30.00", other)
    await scenario.rejected()
    await scenario.cancelled()
    await scenario.voided()

    everyone = await figures(scenario)
    clinic = await figures(scenario, CLINIC)

    assert everyone == TopupQueueFigures(tally(2, "151.50"), tally(2, "100.25"), tally(3, "111.00"))
    assert clinic == TopupQueueFigures(tally(1, "150.00"), tally(1, "40.00"), tally(2, "81.00"))
    assert str(everyone.invoiced.total) == "100.25"


async def test_the_figures_agree_with_the_lists(scenario) -> None:
    for status in ("pending", "pending", "invoiced", "completed", "completed", "voided"):
        await scenario.in_state(status)

    found = await figures(scenario)

    for status, counted in (("pending", found.pending), ("invoiced", found.invoiced), ("completed", found.paid)):
        page = await scenario.operator.topup_requests(status=status, page_size=100)
        assert counted.count == page.total
        assert counted.total == sum((r.amount for r in page.items), Money.zero("USD"))


@pytest.mark.parametrize(
    "caller",
    [
        Caller("u", CLINIC, frozenset([VIEW, MANAGE])),  # a clinic, even with Manage
        Caller("u", "root", frozenset([MANAGE])),  # the root tenant without View
    ],
)
async def test_only_the_root_tenant_with_view_sees_the_figures(scenario, caller: Caller) -> None:
    await scenario.pending()

    with pytest.raises(ForbiddenError):
        await figures(scenario, caller=caller)
    with pytest.raises(ForbiddenError):
        await figures(scenario, CLINIC, caller=caller)


async def test_a_root_viewer_sees_them(scenario) -> None:
    await scenario.pending("12.00")

    found = await figures(scenario, caller=Caller("viewer", "root", frozenset([VIEW])))

    assert found.pending == tally(1, "12.00")


async def test_a_malformed_tenant_is_a_validation_error(scenario) -> None:
    with pytest.raises(ValidationError) as caught:
        await figures(scenario, "no spaces")

    assert [e.field for e in caught.value.errors] == ["tenant_id"]
