"""A tenant's billing contact: who receives its invoices."""

from __future__ import annotations

import re
from datetime import datetime
from email.headerregistry import Address

import attrs

from billing.domain.errors import ValidationError
from billing.domain.text import unsafe_character, validate_text

# Pragmatic, not all of RFC 5322: an unquoted (dot-atom) ASCII local part, one @, a dotted domain.
# Delivery is the real test; this only keeps out what could never be one address in a mail header.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"(?=[^@]{{1,64}}@){_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})+")
MAX_EMAIL_LENGTH = 254
MAX_NAME_LENGTH = 200


def is_header_safe(text: str) -> bool:
    """No control character (CR, LF, NUL, TAB, NEL, ...) and no line or paragraph separator (U+2028,
    U+2029): in a mail header each either ends the header or is refused when the message is written."""
    return unsafe_character(text) is None


def _is_one_header_address(value: str) -> bool:
    """Python's email header policy reads `value` back as exactly this one address, without a defect."""
    try:
        return Address(addr_spec=value).addr_spec == value
    except ValueError:  # email's header defects are ValueErrors too
        return False


def validate_email(value: object, *, field: str = "email") -> str:
    if (
        not isinstance(value, str)
        or len(value) > MAX_EMAIL_LENGTH
        or not is_header_safe(value)
        or not _EMAIL.fullmatch(value)
        or not _is_one_header_address(value)
    ):
        raise ValidationError.of(field, "must be an email address such as billing@clinic.example")
    return value


@attrs.frozen
class BillingContact:
    tenant_id: str
    email: str
    name: str | None
    updated_by: str
    updated_at: datetime

    @classmethod
    def create(cls, tenant_id: str, email: object, name: object, by: str, at: datetime) -> BillingContact:
        if name is not None:  # absent is no name; given, it is 1-200 characters on one line
            name = validate_text(name, field="name", max_length=MAX_NAME_LENGTH, required=True)
        return cls(tenant_id, validate_email(email), name, by, at)
