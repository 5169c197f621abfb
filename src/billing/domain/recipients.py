"""Who a WhatsApp message goes to (contract v3 §16): a phone number or a business-scoped user id (BSUID).

Meta names a user by a BSUID when it hides the phone number: an ISO 3166 alpha-2 code, a dot, then 1-64 letters or
digits (`US.13491208655302741918`); its enterprise form puts `ENT.` after the first dot
(`US.ENT.11815799212886844830`), and a parent BSUID has the same form. A BSUID's country is its prefix; it is never
turned into or read as a phone number. A phone number's country comes from a numbering plan, which an adapter knows
(`CountryOfNumber`): this module takes it as a function.

Decisions the contract leaves open:
- A value that starts with two ASCII letters and a dot is meant as a BSUID: it is one, or it is refused, and never
  tried as a phone number. Anything else is a phone number (no phone number starts with a letter).
- The prefix is matched as Meta writes it, in upper case, and must be an officially assigned ISO 3166-1 alpha-2
  code (`pricing.ISO_3166_ALPHA_2`): `XK`, `UK`, `EU` and `us` are refused.
- Masked, a BSUID shows its country prefix, a dot, an ellipsis and the last 4 characters of the id after the prefix
  (and after `ENT.`): `US.…1918`, `US.ENT.11815799212886844830` → `US.…4830`; an id of fewer than 4 characters
  shows what it has. The masked form is at most 8 characters, so it stores where a masked phone number does.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable

import attrs

from billing.domain.pricing import ISO_3166_ALPHA_2, MASK, is_masked, mask_recipient

MAX_BSUID_ID_LENGTH = 64
SHOWN_CHARACTERS = 4

# How a value meant as a BSUID starts, and the whole of a valid one (its country, its id after `ENT.`).
_MEANT_AS_BSUID = re.compile(r"[A-Za-z]{2}\.")
_BSUID = re.compile(rf"(?P<country>[A-Za-z]{{2}})\.(?:ENT\.)?(?P<id>[A-Za-z0-9]{{1,{MAX_BSUID_ID_LENGTH}}})")

NOT_A_PHONE_NUMBER = "is not a valid phone number in E.164 (+ optional)"
NOT_A_BSUID = (
    f"is not a business-scoped user id (an ISO 3166 alpha-2 code, a dot, then 1-{MAX_BSUID_ID_LENGTH} letters or "
    "digits, with `ENT.` after the dot in Meta's enterprise form)"
)

CountryOfNumber = Callable[[str], str | None]


class RecipientKind(enum.StrEnum):
    PHONE = "phone"
    BSUID = "bsuid"


class RecipientError(ValueError):
    """A value that is neither a phone number nor a BSUID; its message says why, in the words of a field error
    ("is not ..."), so that the application names the field it came from."""


@attrs.frozen
class Recipient:
    """A message's recipient as the service keeps it: its kind, its country (ISO 3166-1 alpha-2, upper case) and
    the masked form answers show and the database stores. The whole value is never kept."""

    kind: RecipientKind
    country: str
    masked: str


def looks_like_bsuid(value: str) -> bool:
    """Whether `value` is meant as a BSUID (two letters and a dot first): Meta's webhook reads such a
    `recipient_id` as a BSUID, and a recipient so written is a BSUID or refused."""
    return _MEANT_AS_BSUID.match(value) is not None


def parse_bsuid(value: str) -> Recipient:
    """A BSUID as a recipient: its country is its prefix. RecipientError when it breaks the grammar or its prefix
    is not an ISO 3166-1 alpha-2 code."""
    match = _BSUID.fullmatch(value)
    if match is None:
        raise RecipientError(NOT_A_BSUID)
    country = match["country"]
    if country not in ISO_3166_ALPHA_2:
        raise RecipientError(
            f"is a business-scoped user id whose prefix {country} is not an ISO 3166-1 alpha-2 country code "
            "(in upper case)"
        )
    return Recipient(RecipientKind.BSUID, country, f"{country}.{MASK}{match['id'][-SHOWN_CHARACTERS:]}")


def parse_recipient(value: object, country_of_number: CountryOfNumber) -> Recipient:
    """A recipient as a client or Meta wrote it: a BSUID (`parse_bsuid`), else a phone number in E.164 (the `+`
    optional) whose country `country_of_number` finds. RecipientError when it is neither."""
    if not isinstance(value, str):
        raise RecipientError(NOT_A_PHONE_NUMBER)
    if looks_like_bsuid(value):
        return parse_bsuid(value)
    country = country_of_number(value)
    if country is None:
        raise RecipientError(NOT_A_PHONE_NUMBER)
    return Recipient(RecipientKind.PHONE, country.upper(), mask_recipient(value))


def mask(value: str) -> str:
    """Any recipient-like value as the audit trail keeps it: a value already masked as it is, a BSUID the BSUID
    way (even one the service would refuse: its first two characters and the last 4 letters or digits of the rest),
    anything else as a phone number (`mask_recipient`: its last 4 digits)."""
    if is_masked(value):
        return value
    if looks_like_bsuid(value):
        match = _BSUID.fullmatch(value)
        if match is not None:
            return f"{match['country']}.{MASK}{match['id'][-SHOWN_CHARACTERS:]}"
        rest = "".join(char for char in value[3:] if char.isascii() and char.isalnum())
        return f"{value[:2]}.{MASK}{rest[-SHOWN_CHARACTERS:]}"
    return mask_recipient(value)
