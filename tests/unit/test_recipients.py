"""Recipients (contract v3 §16): a business-scoped user id (BSUID) is read by its prefix, never as a phone number,
and shown as its prefix and last 4 characters; a prefix that is no ISO 3166-1 alpha-2 code is refused; Meta's
statuses name the country by `recipient_user_id`, else `recipient_parent_user_id`, else `recipient_id`. Each test
fails if the rule it names is removed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.adapters.phone import PhonenumbersCountry
from billing.domain.audit import redacted
from billing.domain.pricing import ISO_3166_ALPHA_2, mask_recipient
from billing.domain.recipients import (
    Recipient,
    RecipientError,
    RecipientKind,
    looks_like_bsuid,
    mask,
    parse_bsuid,
    parse_recipient,
)
from billing.domain.webhook_events import Reason, status_recipient
from billing.domain.whatsapp import MessageStatus, StatusNotice, parse_status_notifications

COUNTRY_OF = PhonenumbersCountry().country_of
_CODES = sorted(ISO_3166_ALPHA_2)
_ALNUM = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
_IDS = st.text(_ALNUM, min_size=1, max_size=64)
_LETTERS = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_NOT_CODES = st.tuples(_LETTERS, _LETTERS).map("".join).filter(lambda code: code not in ISO_3166_ALPHA_2)


def no_phone_numbers(number: str) -> str | None:
    raise AssertionError(f"{number!r} was read as a phone number")


# Parsing and masking -------------------------------------------------------------------------------------------


@given(country=st.sampled_from(_CODES), local=_IDS, enterprise=st.booleans())
def test_any_valid_bsuid_is_its_prefixs_country_masked_as_prefix_and_last_4(
    country: str, local: str, enterprise: bool
) -> None:
    bsuid = f"{country}.{'ENT.' if enterprise else ''}{local}"

    parsed = parse_recipient(bsuid, no_phone_numbers)

    assert parsed == Recipient(RecipientKind.BSUID, country, f"{country}.…{local[-4:]}")
    assert mask(bsuid) == parsed.masked  # the audit trail masks it the same way
    assert len(parsed.masked) <= 8  # fits the holds' VARCHAR(32) recipient


@given(prefix=_NOT_CODES, local=_IDS, enterprise=st.booleans())
def test_any_bsuid_whose_prefix_is_no_iso_code_is_refused(prefix: str, local: str, enterprise: bool) -> None:
    with pytest.raises(RecipientError, match="ISO 3166-1 alpha-2"):
        parse_recipient(f"{prefix}.{'ENT.' if enterprise else ''}{local}", no_phone_numbers)


@pytest.mark.parametrize("prefix", ["XK", "UK", "EU", "ZZ", "AA", "us", "Us"])
def test_user_assigned_reserved_and_lower_case_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(RecipientError, match=f"prefix {prefix} "):
        parse_bsuid(f"{prefix}.13491208655302741918")


@pytest.mark.parametrize(
    "value",
    ["US.", "US.ENT.", "US.1234-5678", "US.12 34", "US.13491208655302741918\n", "US." + "1" * 65, "US.١٢٣", "US..1"],
)
def test_a_value_meant_as_a_bsuid_that_breaks_its_grammar_is_refused_not_read_as_a_number(value: str) -> None:
    with pytest.raises(RecipientError, match="business-scoped user id"):
        parse_recipient(value, no_phone_numbers)


def test_the_enterprise_form_is_masked_by_its_country_and_the_ids_last_4() -> None:
    assert parse_bsuid("US.ENT.11815799212886844830") == Recipient(RecipientKind.BSUID, "US", "US.…4830")
    assert parse_bsuid("US.ENT") == Recipient(RecipientKind.BSUID, "US", "US.…ENT")  # "ENT" alone is an id
    assert parse_bsuid("IN.64").masked == "IN.…64"  # fewer than 4 characters: what it has


def test_a_phone_number_keeps_its_masking_and_its_numbering_plans_country() -> None:
    assert parse_recipient("+919876543210", COUNTRY_OF) == Recipient(RecipientKind.PHONE, "IN", "…3210")
    assert parse_recipient("14155552671", COUNTRY_OF) == Recipient(RecipientKind.PHONE, "US", "…2671")
    with pytest.raises(RecipientError, match="phone number"):
        parse_recipient("+1415", COUNTRY_OF)
    with pytest.raises(RecipientError, match="phone number"):
        parse_recipient(None, COUNTRY_OF)


@pytest.mark.parametrize(("value", "meant"), [("US.1", True), ("us.1", True), ("U1.1", False), ("+1.5", False)])
def test_two_letters_and_a_dot_mean_a_bsuid(value: str, meant: bool) -> None:
    assert looks_like_bsuid(value) is meant


def test_masking_keeps_a_masked_recipient_but_an_ellipsis_hides_nothing_by_itself() -> None:
    assert mask_recipient("US.…1918") == "US.…1918"  # a BSUID hold repriced keeps its masking
    assert mask_recipient("…3210") == "…3210"
    assert mask_recipient("+91…98765 43210") == "…3210"
    assert mask("XK.1234567") == "XK.…4567"  # refused by the service, still masked in the audit trail
    assert redacted({"recipients": ["US.13491208655302741918", "+919876543210"]}) == {
        "recipients": ["US.…1918", "…3210"]
    }


# Meta's statuses ---------------------------------------------------------------------------------------------------


def notice(**recipient: Any) -> StatusNotice:
    at = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    return StatusNotice("106540352242922", "wamid.1", MessageStatus.DELIVERED, at, **recipient)


def test_a_status_reads_the_recipients_user_ids() -> None:
    status = {
        "id": "wamid.1",
        "status": "delivered",
        "timestamp": "1795167003",
        "recipient_user_id": "BR.9000000000000001234",
        "recipient_parent_user_id": "US.ENT.11815799212886844830",
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [
            {"changes": [{"field": "messages", "value": {"metadata": {"phone_number_id": "1"}, "statuses": [status]}}]}
        ],
    }

    (parsed,) = parse_status_notifications(body).statuses

    assert (parsed.recipient_id, parsed.recipient_user_id, parsed.recipient_parent_user_id) == (
        None,
        "BR.9000000000000001234",
        "US.ENT.11815799212886844830",
    )


@pytest.mark.parametrize(
    ("recipient", "country"),
    [
        ({"recipient_id": "14155552671", "recipient_user_id": "BR.1234"}, "BR"),  # beside a phone number
        ({"recipient_id": "14155552671", "recipient_parent_user_id": "DE.ENT.1234"}, "DE"),
        ({"recipient_user_id": "BR.1234", "recipient_parent_user_id": "DE.ENT.1234"}, "BR"),
        ({"recipient_user_id": "XK.1234", "recipient_parent_user_id": "DE.ENT.1234"}, "DE"),  # the first readable
        ({"recipient_user_id": "XK.1234", "recipient_id": "14155552671"}, "US"),
        ({"recipient_id": "FR.1234"}, "FR"),  # a BSUID-shaped recipient_id is a BSUID
        ({"recipient_id": "14155552671"}, "US"),
    ],
)
def test_a_statuses_user_id_else_parent_user_id_else_recipient_id_decides_the_country(
    recipient: dict[str, str], country: str
) -> None:
    found = status_recipient(notice(**recipient), COUNTRY_OF)

    assert isinstance(found, Recipient)
    assert found.country == country


def test_a_user_id_is_never_read_as_a_phone_number() -> None:
    assert status_recipient(notice(recipient_user_id="14155552671"), no_phone_numbers) == Reason.NOT_PRICED


def test_a_status_naming_no_recipient_has_no_recipient_and_an_unreadable_one_is_not_priced() -> None:
    assert status_recipient(notice(), COUNTRY_OF) == Reason.NO_RECIPIENT
    assert status_recipient(notice(recipient_id="XK.1234"), COUNTRY_OF) == Reason.NOT_PRICED
    assert status_recipient(notice(recipient_parent_user_id="XK.1234"), COUNTRY_OF) == Reason.NOT_PRICED
    assert status_recipient(notice(recipient_id="123"), COUNTRY_OF) == Reason.NOT_PRICED
