"""Who may do what (§3): operator actions need Billing.Manage *and* the root tenant; reading needs View."""

from __future__ import annotations

import pytest

from billing.application.caller import MANAGE, VIEW
from billing.application.handlers.invoices import SubscriptionLine
from billing.domain.errors import ForbiddenError
from billing.domain.money import Money

CLINIC = "clinic-a"
OTHER_CLINIC = "clinic-b"

# Each takes the session under test and the records `_targets` prepared.
OPERATOR_ACTIONS = {
    "approve": lambda s, t: s.approve_topup(t["pending"].id),
    "reject": lambda s, t: s.reject_topup(t["pending"].id, "no"),
    "mark_paid": lambda s, t: s.mark_invoice_paid(t["invoiced"].invoice_id, "bank-1"),
    "void": lambda s, t: s.void_invoice(t["invoiced"].invoice_id, "no"),
    "issue": lambda s, t: s.issue_invoice(t["invoiced"].invoice_id),
    "charge_own_wallet": lambda s, t: s.charge(CLINIC, "1.00", "msg-new"),
    "charge_other_wallet": lambda s, t: s.charge(OTHER_CLINIC, "1.00", "msg-new"),
    "refund_own_wallet": lambda s, t: s.refund(CLINIC, "msg-1"),
    "adjust_own_wallet": lambda s, t: s.adjust(CLINIC, "1000.00", "bonus"),
    "subscription_invoice": lambda s, t: s.create_subscription_invoice(
        CLINIC, "2026-11", [SubscriptionLine("Plan", "1.00")]
    ),
}

VIEW_ACTIONS = {
    "wallet": lambda s, t: s.wallet(),
    "transactions": lambda s, t: s.transactions(),
    "request_topup": lambda s, t: s.request_topup("10.00"),
    "topup_request": lambda s, t: s.topup_request(t["pending"].id),
    "topup_requests": lambda s, t: s.topup_requests(),
    "cancel": lambda s, t: s.cancel_topup(t["pending"].id),
    "invoice": lambda s, t: s.invoice(t["invoiced"].invoice_id),
    "invoices": lambda s, t: s.invoices(),
}


async def _targets(scenario) -> dict[str, object]:
    """A pending request, an invoiced one, and a charge on a funded clinic wallet."""
    await scenario.fund(CLINIC, "100.00")
    await scenario.fund(OTHER_CLINIC, "100.00")
    await scenario.operator.charge(CLINIC, "10.00", "msg-1")
    return {"pending": await scenario.pending(), "invoiced": await scenario.invoiced()}


@pytest.mark.parametrize("action", list(OPERATOR_ACTIONS))
async def test_a_clinic_with_manage_cannot_act_as_an_operator(scenario, action) -> None:
    targets = await _targets(scenario)
    clinic_manager = scenario.as_(CLINIC, VIEW, MANAGE)
    before = await scenario.world()

    with pytest.raises(ForbiddenError) as caught:
        await OPERATOR_ACTIONS[action](clinic_manager, targets)

    assert caught.value.code == "forbidden"
    assert await scenario.world() == before


@pytest.mark.parametrize("action", list(OPERATOR_ACTIONS))
async def test_root_without_manage_cannot_act_as_an_operator(scenario, action) -> None:
    targets = await _targets(scenario)
    root_viewer = scenario.as_("root", VIEW)
    before = await scenario.world()

    with pytest.raises(ForbiddenError):
        await OPERATOR_ACTIONS[action](root_viewer, targets)

    assert await scenario.world() == before


async def test_clinic_cannot_credit_its_own_wallet(scenario) -> None:
    request = await scenario.invoiced("500.00")
    clinic_manager = scenario.as_(CLINIC, VIEW, MANAGE)

    with pytest.raises(ForbiddenError):
        await clinic_manager.mark_invoice_paid(request.invoice_id, "i-promise")
    with pytest.raises(ForbiddenError):
        await clinic_manager.adjust(CLINIC, "500.00", "free money")

    assert (await scenario.clinic.wallet()).balance == Money.zero("USD")
    assert await scenario.ledger(CLINIC) == ()


async def test_clinic_cannot_approve_its_own_request(scenario) -> None:
    request = await scenario.pending()

    with pytest.raises(ForbiddenError):
        await scenario.as_(CLINIC, VIEW, MANAGE).approve_topup(request.id)

    assert (await scenario.clinic.topup_request(request.id)).status == "pending"


@pytest.mark.parametrize("permissions", [(), (MANAGE,)], ids=["none", "manage-only"])
@pytest.mark.parametrize("action", list(VIEW_ACTIONS))
async def test_without_view_a_clinic_sees_and_asks_nothing(scenario, action, permissions) -> None:
    targets = await _targets(scenario)
    before = await scenario.world()

    with pytest.raises(ForbiddenError):
        await VIEW_ACTIONS[action](scenario.as_(CLINIC, *permissions), targets)

    assert await scenario.world() == before


async def test_root_needs_view_to_read_another_wallet(scenario) -> None:
    await scenario.fund(CLINIC, "25.00")
    root_manager = scenario.as_("root", MANAGE)

    with pytest.raises(ForbiddenError):
        await root_manager.wallet(CLINIC)
    with pytest.raises(ForbiddenError):
        await root_manager.transactions(CLINIC)

    root_viewer = scenario.as_("root", VIEW)
    assert (await root_viewer.wallet(CLINIC)).balance == Money.parse("25.00", "USD")
    assert (await root_viewer.transactions(CLINIC)).total == 1


async def test_a_clinic_cannot_read_another_wallet(scenario) -> None:
    await scenario.fund(OTHER_CLINIC, "25.00")

    with pytest.raises(ForbiddenError):
        await scenario.clinic.wallet(OTHER_CLINIC)
    with pytest.raises(ForbiddenError):
        await scenario.as_(CLINIC, VIEW, MANAGE).transactions(OTHER_CLINIC)


async def test_naming_a_tenant_is_the_operators_view_even_for_the_own_wallet(scenario) -> None:
    await scenario.fund(CLINIC, "25.00")

    with pytest.raises(ForbiddenError):
        await scenario.clinic.wallet(CLINIC)
    with pytest.raises(ForbiddenError):
        await scenario.clinic.transactions(CLINIC)
    assert str((await scenario.clinic.wallet()).balance) == "25.00"
    assert str((await scenario.operator.wallet(CLINIC)).balance) == "25.00"


async def test_a_platform_module_acts_as_an_operator(scenario) -> None:
    await scenario.fund(CLINIC, "25.00")
    messaging = scenario.service.as_platform("messaging")

    result = await messaging.charge(CLINIC, "0.05", "wamid.1", "WhatsApp message")

    assert result.created
    assert (await scenario.clinic.wallet()).balance == Money.parse("24.95", "USD")
