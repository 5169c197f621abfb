"""Money that goes wrong after the fact, for the console's tests (contract v3 §19): paid top-ups to reverse, and money
spent so that a reversal leaves a debt, made through the in-process facade. The top-up is approved and marked paid
by two other operators than the console's (`operator-1`), so that four eyes let the console's operator reverse it."""

from __future__ import annotations

from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.service import BillingService
from billing.domain.invoice import Invoice

CLINIC = "clinic-a"
APPROVER = Caller("approver", "root", frozenset([VIEW, MANAGE]))
CASHIER = Caller("cashier", "root", frozenset([VIEW, MANAGE]))


async def paid_topup(service: BillingService, amount: str, tenant: str = CLINIC) -> Invoice:
    """A top-up of `amount`, asked by the clinic, approved by one operator and marked paid by another."""
    request = await service.acting_as(Caller("clinic-user", tenant, frozenset([VIEW]))).request_topup(amount)
    invoice = await service.acting_as(APPROVER).create_topup_invoice(request.id)
    return await service.acting_as(CASHIER).mark_invoice_paid(invoice.id, f"bank-{request.id.hex[:8]}")


async def spend(service: BillingService, amount: str, tenant: str = CLINIC) -> None:
    """`amount` taken from the wallet by an applied adjustment (approved by another operator under four eyes)."""
    adjustment = await service.acting_as(APPROVER).adjust(tenant, f"-{amount}", "spent", f"spent-{amount}")
    if adjustment.status == "proposed":
        await service.acting_as(CASHIER).approve_adjustment(adjustment.id)
