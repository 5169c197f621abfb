"""Money: an exact Decimal amount in one ISO 4217 currency. Never float, never silently rounded."""

from __future__ import annotations

import enum
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import attrs

from billing.domain.errors import ValidationError

# Minor digits of the currencies a deployment may choose; ISO 4217.
MINOR_DIGITS: dict[str, int] = {
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "INR": 2,
    "BRL": 2,
    "AUD": 2,
    "CAD": 2,
    "CHF": 2,
    "MXN": 2,
    "ZAR": 2,
    "AED": 2,
    "SAR": 2,
    "SGD": 2,
    "NZD": 2,
    "SEK": 2,
    "NOK": 2,
    "DKK": 2,
    "PLN": 2,
    "IDR": 2,
    "PHP": 2,
    "EGP": 2,
    "NGN": 2,
    "KES": 2,
    "TRY": 2,
    "COP": 2,
    "ARS": 2,
    "CLP": 0,
    "JPY": 0,
    "KRW": 0,
    "VND": 0,
    "KWD": 3,
    "BHD": 3,
    "OMR": 3,
    "JOD": 3,
    "TND": 3,
}

# Every amount is stored with 4 fractional digits (the columns are NUMERIC(19, 4)).
MESSAGE_DIGITS = 4
_STEP = Decimal(1).scaleb(-MESSAGE_DIGITS)
# The largest magnitude any single amount may have.
MAX_AMOUNT = Decimal("999999999999999")

# A plain decimal literal: digits, an optional fraction, an optional leading minus. No exponent,
# no "NaN", no "Infinity", no thousands separators, no leading "+".
_DECIMAL_LITERAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def minor_digits(currency: str) -> int:
    try:
        return MINOR_DIGITS[currency]
    except KeyError:
        raise ValidationError.of("currency", f"unsupported currency {currency!r}") from None


def _check_currency(_: object, __: object, currency: str) -> None:
    minor_digits(currency)


class Scale(enum.Enum):
    """How many fractional digits an amount may carry (contract v2 §7)."""

    MINOR = "minor"  # the currency's minor unit: top-ups, invoices (150.00 USD, 120 JPY)
    MESSAGE = "message"  # 4 digits: message prices, charges, holds and balances (0.0118 USD)

    def digits(self, currency: str) -> int:
        return minor_digits(currency) if self is Scale.MINOR else MESSAGE_DIGITS


@attrs.frozen(order=False)
class Money:
    """An exact amount in one currency, with at most 4 fractional digits (a message's price is a fraction of a
    cent). It is written with the currency's minor digits, plus up to two more when they are not zero:
    150 USD is "150.00", a WhatsApp message "0.0118", a charge "0.05"; 1.25 JPY is "1.25", 120 JPY "120"."""

    amount: Decimal
    currency: str = attrs.field(validator=_check_currency)

    def __attrs_post_init__(self) -> None:
        if not self.amount.is_finite():
            raise ValidationError.of("amount", "must be a finite number")
        stored = self.amount.quantize(_STEP)
        if stored != self.amount:
            raise ValidationError.of("amount", f"must have at most {MESSAGE_DIGITS} decimal places")
        object.__setattr__(self, "amount", stored if stored else abs(stored))  # never "-0.0000"

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(Decimal(0), currency)

    @classmethod
    def rounded(cls, amount: Decimal, currency: str) -> Money:
        """A computed price, rounded half-up to 4 digits: once, where it is computed (at quote)."""
        return cls(amount.quantize(_STEP, rounding=ROUND_HALF_UP), currency)

    @classmethod
    def parse(
        cls,
        value: object,
        currency: str,
        *,
        field: str = "amount",
        allow_negative: bool = False,
        allow_zero: bool = False,
        scale: Scale = Scale.MINOR,
    ) -> Money:
        """Read a client's amount (a string, an int or a Decimal), or say exactly what is wrong."""
        amount = _to_decimal(value, field)
        if amount.is_signed() and not allow_negative and amount != 0:
            raise ValidationError.of(field, "must not be negative" if allow_zero else "must be greater than zero")
        digits = scale.digits(currency)
        exponent = amount.as_tuple().exponent
        assert isinstance(exponent, int)
        if -exponent > digits:
            unit = f"for {currency}" if scale is Scale.MINOR else "(a message's price goes to 4)"
            raise ValidationError.of(field, f"must have at most {digits} decimal places {unit}")
        if amount == 0 and not allow_zero:
            raise ValidationError.of(field, "must not be zero" if allow_negative else "must be greater than zero")
        if abs(amount) > MAX_AMOUNT:
            raise ValidationError.of(field, f"must be at most {MAX_AMOUNT} in magnitude")
        return cls(amount, currency)

    def checked(
        self, currency: str, *, field: str = "amount", allow_negative: bool = False, scale: Scale = Scale.MINOR
    ) -> Money:
        """This amount, held to the rules `parse` applies (a command built in-process skipped them)."""
        if self.currency != currency:
            raise ValidationError.of(field, f"must be in {currency}, not {self.currency}")
        exact = self.amount.normalize() if self.amount else self.amount
        return Money.parse(exact, currency, field=field, allow_negative=allow_negative, scale=scale)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValidationError.of("currency", f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same_currency(other)
        return self.amount >= other.amount

    @property
    def is_positive(self) -> bool:
        return self.amount > 0

    @property
    def is_negative(self) -> bool:
        return self.amount < 0

    def __str__(self) -> str:
        """The wire form: the minor digits, and up to two more when not zero ("150.00", "0.0118", "0.05")."""
        text = f"{self.amount:f}"  # always 4 fractional digits
        keep = minor_digits(self.currency)
        whole, _, fraction = text.partition(".")
        fraction = fraction.rstrip("0").ljust(keep, "0")
        return f"{whole}.{fraction}" if fraction else whole


def _to_decimal(value: object, field: str) -> Decimal:
    if isinstance(value, (bool, float)):
        # A float has already lost exactness; the HTTP layer passes the JSON literal as text.
        raise ValidationError.of(field, "must be a decimal string or an integer, not a float")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValidationError.of(field, "must be a finite number")
        return value
    if isinstance(value, str):
        text = value
        if not _DECIMAL_LITERAL.fullmatch(text):
            raise ValidationError.of(field, "must be a plain decimal number such as 150.00")
        try:
            return Decimal(text)
        except InvalidOperation:  # pragma: no cover - the pattern above admits only valid literals
            raise ValidationError.of(field, "must be a decimal number") from None
    raise ValidationError.of(field, "must be a decimal number such as 150.00")
