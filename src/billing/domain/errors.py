"""One error hierarchy with stable codes; the HTTP layer maps each code to a status in one table."""

from __future__ import annotations

from collections.abc import Sequence

import attrs


@attrs.frozen
class FieldError:
    field: str
    message: str


class BillingError(Exception):
    """Base of every error a caller can cause. `code` is stable and part of the contract."""

    code = "billing_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class ValidationError(BillingError):
    code = "validation_error"

    def __init__(self, errors: Sequence[FieldError] | FieldError) -> None:
        self.errors: tuple[FieldError, ...] = (errors,) if isinstance(errors, FieldError) else tuple(errors)
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in self.errors))

    @classmethod
    def of(cls, field: str, message: str) -> ValidationError:
        return cls(FieldError(field, message))


class NotFoundError(BillingError):
    code = "not_found"


class UnauthorizedError(BillingError):
    """Who is asking could not be established. `invalid_token`: a token was sent and refused (RFC 6750's
    `invalid_token`), rather than none sent at all. `detail` is a fixed sentence, never the token's text."""

    code = "unauthorized"

    def __init__(self, detail: str, *, invalid_token: bool = True) -> None:
        super().__init__(detail)
        self.invalid_token = invalid_token


class ForbiddenError(BillingError):
    code = "forbidden"


class InvalidStateError(BillingError):
    code = "invalid_state"


class InsufficientFundsError(BillingError):
    code = "insufficient_funds"


class DuplicateError(BillingError):
    code = "duplicate"


class UnchangedRateCardError(DuplicateError):
    """A new rate card prices every message as the card of its scope in force at its effective date already does:
    adding it would change no price (refused only when the command asks, as `billing ratecard import` does)."""


class NotPricedError(BillingError):
    """No rate card prices this message: no card in force, the number's country has no market on the card (and
    no "*"), or the card has no rate for the market and category."""

    code = "not_priced"


class LaneClosedError(BillingError):
    """A marketing hold would eat into the wallet's `marketing_reserve`, the part of `available` kept for utility,
    authentication and service messages (contract v2 §10, the protected clinical lane)."""

    code = "lane_closed"


class WalletFrozenError(BillingError):
    """The wallet is frozen: it refuses new holds and direct charges; settles, voids, top-ups and refunds go on."""

    code = "wallet_frozen"


class WalletInDebtError(BillingError):
    """The wallet owes the platform (a bounced payment, contract v3 §19): it refuses billable holds and direct
    charges until credits or released holds have repaid the debt; free holds, settles, voids and refunds go on."""

    code = "wallet_in_debt"
