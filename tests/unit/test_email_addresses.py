"""The one rule for an email address: one address a mail header carries as it is, nothing more."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billing.domain.contact import BillingContact, is_header_safe, validate_email
from billing.domain.errors import ValidationError

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

# Each class of address that must never reach a mail header.
BAD_ADDRESSES = {
    "CR": "up@clinic-p.example\rBcc: x@evil.example",
    "LF": "up@clinic-p.example\nBcc: x@evil.example",
    "CRLF and Bcc": "up@clinic-p.example\r\nBcc: x@evil.example",
    "trailing LF": "up@clinic-p.example\n",
    "NUL": "up\x00@clinic-p.example",
    "TAB": "up\t@clinic-p.example",
    "U+2028 line separator": "up@clinic-p.example\u2028Bcc: x@evil.example",
    "U+2029 paragraph separator": "up@clinic-p.example\u2029Bcc: x@evil.example",
    "U+0085 next line": "up\x85@clinic-p.example",
    "vertical tab": "up\x0b@clinic-p.example",
    "a second recipient": "a,x@evil.example",
    "a display name": "Up <up@clinic-p.example>",
    "a comment": "up(x)@clinic-p.example",
    "a quote": 'up"@clinic-p.example',
    "non-ASCII local part": "üp@clinic-p.example",
    "over-long": "up@" + "a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 52 + ".example",
    "over-long local part": "u" * 65 + "@clinic-p.example",
    "no dotted domain": "up@localhost",
    "dot at the start": ".up@clinic-p.example",
    "two dots": "u..p@clinic-p.example",
}


@pytest.mark.parametrize("address", BAD_ADDRESSES.values(), ids=BAD_ADDRESSES.keys())
def test_every_unsafe_address_is_refused_naming_the_field(address: str) -> None:
    with pytest.raises(ValidationError) as refused:
        validate_email(address, field="recipient")

    assert [error.field for error in refused.value.errors] == ["recipient"]
    assert "must be an email address" in refused.value.errors[0].message


def test_the_over_long_example_is_over_the_limit_only_by_length() -> None:
    over_long = BAD_ADDRESSES["over-long"]
    assert len(over_long) == 255
    assert validate_email(over_long[1:]) == over_long[1:]  # one character less is an address


@pytest.mark.parametrize(
    "address",
    [
        "billing@clinic.example",
        "first.last+invoices@clinic-a.example",
        "o'neil@sub.clinic.example",
        "a!#$%&'*+/=?^_`{|}~-z@x.example",
        "u" * 64 + "@clinic-p.example",
    ],
)
def test_an_ordinary_address_is_kept_as_it_is(address: str) -> None:
    assert validate_email(address) == address


def test_a_billing_contact_with_an_injected_header_is_refused() -> None:
    with pytest.raises(ValidationError) as refused:
        BillingContact.create("clinic-a", BAD_ADDRESSES["CRLF and Bcc"], "Accounts", "user-1", AT)
    assert refused.value.errors[0].field == "email"


@pytest.mark.parametrize("char", ["\r", "\n", "\x00", "\t", "\x7f", "\x85", "\u2028", "\u2029", "\ud800"])
def test_control_characters_and_separators_are_not_header_safe(char: str) -> None:
    assert not is_header_safe(f"Billing{char}Team")


def test_letters_and_spaces_are_header_safe() -> None:
    assert is_header_safe("Clinique Élan — Billing, Inc.")
