"""What the hold expiry tests share: a wallet with money and a rate card in force, and holds on it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.service import BillingService
from billing.domain.hold import Hold

CLINIC = "clinic-a"
US_NUMBER = "+14155552671"
CARD_START = datetime(2020, 1, 1, tzinfo=UTC)
MARKETS = {"US": "North America", "*": "Other"}
RATES = [
    {"market": "North America", "category": "utility", "unit_price": "0.0034"},
    {"market": "Other", "category": "utility", "unit_price": "0.0100"},
]


async def fund_with_card(service: BillingService, amount: str = "10.00", tenant: str = CLINIC) -> None:
    """A default card in force since 2020, and `amount` paid into the tenant's wallet."""
    operator = service.acting_as(Caller("operator", "root", frozenset([VIEW, MANAGE])))
    await operator.create_rate_card("Test card", CARD_START, MARKETS, RATES)
    request = await service.acting_as(Caller("clinic-user", tenant, frozenset([VIEW]))).request_topup(amount)
    invoice = await operator.create_topup_invoice(request.id)
    await operator.mark_invoice_paid(invoice.id, f"bank-{tenant}")


async def hold_messages(
    service: BillingService, message_ids: Sequence[str], expires_in_seconds: int, tenant: str = CLINIC
) -> Sequence[Hold]:
    """Utility messages to a US number (0.0034 each), held as the messaging module holds them."""
    messages = [{"message_id": m, "category": "utility", "recipient": US_NUMBER} for m in message_ids]
    batch = await service.as_platform("messaging").hold_batch(tenant, messages, expires_in_seconds)
    return batch.items
