"""A tenant's wallet: one per tenant, one currency, a cached balance that the ledger always explains."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID

import attrs

from billing.domain.errors import InsufficientFundsError, InvalidStateError, ValidationError
from billing.domain.ledger import LedgerEntry, Posting
from billing.domain.money import Money

# NUMERIC(19, 4): the largest balance the ledger can store.
MAX_BALANCE = Decimal("999999999999999.9999")


@attrs.define
class Wallet:
    id: UUID
    tenant_id: str
    currency: str
    balance: Money
    created_at: datetime
    updated_at: datetime

    @classmethod
    def open(cls, wallet_id: UUID, tenant_id: str, currency: str, at: datetime) -> Wallet:
        return cls(wallet_id, tenant_id, currency, Money.zero(currency), at, at)

    def apply(self, posting: Posting) -> LedgerEntry:
        """Apply a posting; a debit that would overdraw fails and changes nothing."""
        if posting.tenant_id != self.tenant_id:
            raise ValidationError.of("tenant_id", "posting belongs to another tenant's wallet")
        if posting.amount.currency != self.currency:
            raise ValidationError.of("currency", f"this wallet holds {self.currency}")
        balance_after = self.balance + posting.amount
        if balance_after.is_negative:
            raise InsufficientFundsError(f"balance {self.balance} {self.currency} cannot cover {-posting.amount}")
        if balance_after.amount > MAX_BALANCE:
            raise InvalidStateError(f"the wallet's balance cannot exceed {MAX_BALANCE} {self.currency}")
        self.balance = balance_after
        self.updated_at = posting.at
        return LedgerEntry(
            id=posting.entry_id,
            wallet_id=self.id,
            tenant_id=self.tenant_id,
            kind=posting.kind,
            amount=posting.amount,
            balance_after=balance_after,
            reference_id=posting.reference_id,
            description=posting.description,
            created_at=posting.at,
        )
