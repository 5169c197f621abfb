"""Money on a wallet for the console's hold and statement tests: a rate card, a paid top-up, holds and settles,
made through the in-process facade (as the messaging module makes them)."""

from __future__ import annotations

from datetime import UTC, datetime

from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.service import BillingService

US_NUMBER = "+14155552671"
# Round prices, so that the pages' amounts read easily: a utility message 0.30, a marketing one 0.90.
MARKETS = {"US": "North America", "*": "Other"}
RATES = [
    {"market": market, "category": category, "unit_price": price}
    for market in ("North America", "Other")
    for category, price in (("utility", "0.30"), ("marketing", "0.90"))
]


async def fund(service: BillingService, tenant: str, amount: str) -> None:
    """A card in force since 2020 (the first time), and `amount` paid into the tenant's wallet."""
    acting = service.acting_as(Caller("operator", "root", frozenset([VIEW, MANAGE])))
    if not (await acting.rate_cards()).items:
        await acting.create_rate_card("Console test card", datetime(2020, 1, 1, tzinfo=UTC), MARKETS, RATES)
    request = await service.acting_as(Caller("clinic-user", tenant, frozenset([VIEW]))).request_topup(amount)
    invoice = await acting.create_topup_invoice(request.id)
    await acting.mark_invoice_paid(invoice.id, f"bank-{tenant}-{request.id.hex[:8]}")


async def hold(service: BillingService, tenant: str, message_id: str, category: str = "utility") -> None:
    await service.as_platform("messaging").hold(tenant, message_id, category, US_NUMBER)


async def settle(service: BillingService, tenant: str, message_id: str, category: str | None = None) -> None:
    await service.as_platform("messaging").settle(tenant, message_id, category)


async def void(service: BillingService, tenant: str, message_id: str) -> None:
    await service.as_platform("messaging").void(tenant, message_id)
