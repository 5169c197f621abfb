"""A wallet's settings (contract v2 §10): what the clinic chose to protect itself with.

`marketing_reserve` keeps the clinical lane open: a marketing hold may not take `available` below it, so a
marketing blast never starves appointment reminders and one-time passwords. Amounts have the currency's minor
digits. A tenant that never saved its settings has the defaults.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from billing.domain.money import Money, Scale


@attrs.frozen
class WalletSettings:
    tenant_id: str
    marketing_reserve: Money
    updated_by: str | None = None  # None: the defaults, never saved
    updated_at: datetime | None = None

    @classmethod
    def defaults(cls, tenant_id: str, currency: str) -> WalletSettings:
        return cls(tenant_id, Money.zero(currency))

    @classmethod
    def create(cls, tenant_id: str, marketing_reserve: Money, currency: str, by: str, at: datetime) -> WalletSettings:
        """The settings a PUT replaces the old ones with; every amount held to its rules."""
        reserve = Money.parse(
            marketing_reserve.amount.normalize() if marketing_reserve.amount else 0,
            currency,
            field="marketing_reserve",
            allow_zero=True,
            scale=Scale.MINOR,
        )
        if marketing_reserve.currency != currency:
            raise ValueError(f"marketing_reserve must be in {currency}")
        return cls(tenant_id, reserve, by, at)
