"""Every move the state machines do not allow is a conflict, and leaves every record as it was."""

from __future__ import annotations

import pytest

from billing.application.handlers.invoices import SubscriptionLine
from billing.domain.errors import InvalidStateError
from billing.domain.invoice import InvoiceStatus

REQUEST_ACTIONS = {
    "approve": lambda s, r: s.operator.approve_topup(r.id),
    "reject": lambda s, r: s.operator.reject_topup(r.id, "no"),
    "cancel": lambda s, r: s.clinic.cancel_topup(r.id),
}
INVOICE_ACTIONS = {
    "mark_paid": lambda s, r: s.operator.mark_invoice_paid(r.invoice_id, "bank-1"),
    "void": lambda s, r: s.operator.void_invoice(r.invoice_id, "no"),
    "issue": lambda s, r: s.operator.issue_invoice(r.invoice_id),
}

# Only a pending request may be approved, rejected or cancelled.
ILLEGAL_ON_REQUESTS = [
    (status, action)
    for status in ("invoiced", "completed", "rejected", "cancelled", "voided")
    for action in REQUEST_ACTIONS
]
# Its invoice: issued (after approval) may be paid or voided; paid and void are final.
ILLEGAL_ON_INVOICES = [
    ("invoiced", "issue"),
    *[(status, action) for status in ("completed", "voided") for action in INVOICE_ACTIONS],
]


@pytest.mark.parametrize(("status", "action"), ILLEGAL_ON_REQUESTS + ILLEGAL_ON_INVOICES)
async def test_an_illegal_transition_is_a_conflict_that_changes_nothing(scenario, status, action) -> None:
    request = await scenario.in_state(status)
    scenario.tick()
    before = await scenario.world()

    with pytest.raises(InvalidStateError) as caught:
        await {**REQUEST_ACTIONS, **INVOICE_ACTIONS}[action](scenario, request)

    assert caught.value.code == "invalid_state"
    assert await scenario.world() == before


async def test_a_draft_invoice_cannot_be_paid(scenario) -> None:
    draft = await scenario.operator.create_subscription_invoice(
        "clinic-a", "2026-11", [SubscriptionLine("Plan", "49.00")], issue=False
    )
    before = await scenario.world()

    with pytest.raises(InvalidStateError):
        await scenario.operator.mark_invoice_paid(draft.id, "bank-1")

    assert await scenario.world() == before
    assert (await scenario.operator.invoice(draft.id)).status is InvoiceStatus.DRAFT


async def test_a_draft_invoice_can_be_issued_then_paid(scenario) -> None:
    draft = await scenario.operator.create_subscription_invoice(
        "clinic-a", "2026-11", [SubscriptionLine("Plan", "49.00")], issue=False
    )
    scenario.tick()

    await scenario.operator.issue_invoice(draft.id)
    issued = await scenario.operator.invoice(draft.id)
    await scenario.operator.mark_invoice_paid(draft.id, "bank-1")
    paid = await scenario.operator.invoice(draft.id)

    assert issued.status is InvoiceStatus.ISSUED
    assert issued.issued_at == scenario.clock.now()
    assert paid.status is InvoiceStatus.PAID
    # A subscription is paid to the platform, not into the wallet.
    assert await scenario.ledger("clinic-a") == ()


async def test_a_draft_invoice_can_be_voided(scenario) -> None:
    draft = await scenario.operator.create_subscription_invoice(
        "clinic-a", "2026-11", [SubscriptionLine("Plan", "49.00")], issue=False
    )

    await scenario.operator.void_invoice(draft.id, "wrong plan")

    assert (await scenario.operator.invoice(draft.id)).status is InvoiceStatus.VOID
