"""A tenant's wallet: one per tenant, one currency, a cached balance that the ledger always explains.

`held` is the sum of its open holds (contract v2 §9) and `available = balance - held`; the database keeps
`balance >= held >= 0`. A frozen wallet (the seed's `Frozen` status, v2 §10) takes no new holds and no direct
charges; top-ups, settles, voids and refunds go on.

`debt` (contract v3 §19) is what a reversed payment took back beyond `available`. Every credit or release repays it
at once, so a wallet in debt always has `available` = 0: it takes no billable holds or direct charges until repaid.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from uuid import UUID

import attrs

from billing.domain.errors import InsufficientFundsError, InvalidStateError, ValidationError
from billing.domain.ledger import LedgerEntry, Posting
from billing.domain.money import Money
from billing.domain.protections import Runway
from billing.domain.text import validate_text

# NUMERIC(19, 4): the largest balance the ledger can store.
MAX_BALANCE = Decimal("999999999999999.9999")
MAX_FREEZE_REASON_LENGTH = 512


class WalletStatus(enum.StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"


def _zero_held(wallet: Wallet) -> Money:
    return Money.zero(wallet.currency)


def _no_runway(wallet: Wallet) -> Runway:
    return Runway.none(wallet.currency)


@attrs.define
class Wallet:
    id: UUID
    tenant_id: str
    currency: str
    balance: Money
    created_at: datetime
    updated_at: datetime
    held: Money = attrs.field(default=attrs.Factory(_zero_held, takes_self=True))
    status: WalletStatus = WalletStatus.ACTIVE
    frozen_reason: str | None = None
    # v2 §10: how long `available` lasts at the last 14 days' pace; filled in by the reads that answer a wallet.
    runway: Runway = attrs.field(default=attrs.Factory(_no_runway, takes_self=True), eq=False)
    debt: Money = attrs.field(default=attrs.Factory(_zero_held, takes_self=True))

    @classmethod
    def open(cls, wallet_id: UUID, tenant_id: str, currency: str, at: datetime) -> Wallet:
        return cls(wallet_id, tenant_id, currency, Money.zero(currency), at, at)

    @property
    def available(self) -> Money:
        return self.balance - self.held

    @property
    def in_debt(self) -> bool:
        return self.debt.is_positive

    def split_reversal(self, amount: Money) -> tuple[Money, Money]:
        """A reversed credit of `amount`: what `available` covers (taken back now) and the rest (owed as debt)."""
        covered = min(amount, max(self.available, Money.zero(self.currency)))
        return covered, amount - covered

    def owe(self, debt: Money, at: datetime) -> None:
        """Add to the debt (a reversal's uncovered part)."""
        self.debt = self.debt + debt
        self.updated_at = at

    @property
    def repayable(self) -> Money:
        """What the debt takes of `available` now: min(available, debt)."""
        return min(self.debt, max(self.available, Money.zero(self.currency)))

    def repay(self, amount: Money) -> None:
        """After a `debt_repayment` posting of -amount was applied: the debt falls by it."""
        if amount > self.debt:
            raise ValueError(f"cannot repay {amount} of a debt of {self.debt}")
        self.debt = self.debt - amount

    @property
    def is_frozen(self) -> bool:
        return self.status is WalletStatus.FROZEN

    def freeze(self, reason: object, at: datetime) -> None:
        """Stop new holds and direct charges; freezing a frozen wallet again only replaces its reason."""
        self.frozen_reason = validate_text(
            reason, field="reason", max_length=MAX_FREEZE_REASON_LENGTH, required=True, multiline=True
        )
        self.status = WalletStatus.FROZEN
        self.updated_at = at

    def unfreeze(self, at: datetime) -> None:
        """Back to active; unfreezing an active wallet changes nothing."""
        if self.status is WalletStatus.ACTIVE:
            return
        self.status = WalletStatus.ACTIVE
        self.frozen_reason = None
        self.updated_at = at

    def apply(self, posting: Posting) -> LedgerEntry:
        """Apply a posting; a debit that would take the balance below what is held fails and changes nothing."""
        if posting.tenant_id != self.tenant_id:
            raise ValidationError.of("tenant_id", "posting belongs to another tenant's wallet")
        if posting.amount.currency != self.currency:
            raise ValidationError.of("currency", f"this wallet holds {self.currency}")
        balance_after = self.balance + posting.amount
        if posting.amount.is_negative and balance_after < self.held:
            raise InsufficientFundsError(f"available {self.available} {self.currency} cannot cover {-posting.amount}")
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
            price=posting.price,
        )
