"""The deployment's billing settings, as the application sees them."""

from __future__ import annotations

from decimal import Decimal

import attrs

from billing.domain.money import Money
from billing.domain.tenant import validate_tenant_id


@attrs.frozen
class BillingSettings:
    root_tenant: str = attrs.field(default="root", validator=lambda _, __, v: validate_tenant_id(v))
    currency: str = "USD"
    topup_min_amount: Decimal = Decimal("1.00")
    topup_max_amount: Decimal = Decimal("1000000.00")
    invoice_due_days: int = 14
    payment_instructions: str = "Bank transfer to the account in your contract, quoting the invoice number."
    hold_ttl_seconds: int = 2_592_000  # a hold's default life: Meta's 30 days (contract v2 §9)
    four_eyes: bool = False  # whoever approved a top-up may not mark its invoice paid (contract v2 §12)

    def __attrs_post_init__(self) -> None:
        Money(self.topup_min_amount, self.currency)  # validates currency and digits
        Money(self.topup_max_amount, self.currency)
        if not Decimal(0) < self.topup_min_amount <= self.topup_max_amount:
            raise ValueError("need 0 < topup_min_amount <= topup_max_amount")
        if not 1 <= self.hold_ttl_seconds <= 2_592_000:
            raise ValueError("hold_ttl_seconds must be from 1 to 2592000")
        if self.invoice_due_days < 0:
            raise ValueError("invoice_due_days must not be negative")
