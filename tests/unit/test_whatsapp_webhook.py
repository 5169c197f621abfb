"""Meta's status webhook (contract v2 §11): the signature over the raw bytes, every documented payload shape read into
statuses, malformed statuses ignored with their reason while their neighbours parse, bodies that are not Meta's
envelope refused whole, and a property: inside Meta's envelope nothing raises and every status is accounted for.

tests/fixtures/meta holds one body per shape Meta documents (its status webhook reference: `statuses[]` with
`pricing {billable, pricing_model, type, category}` and `errors [{code, title, message, error_data, href}]`; its
per-message pricing update: `pricing_model: "PMP"`, `type` regular / free_customer_service / free_entry_point, and
`conversation` only for a free entry point)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.domain.errors import ValidationError
from billing.domain.hold import FREE_PRICING_TYPES, REGULAR
from billing.domain.pricing import parse_category
from billing.domain.whatsapp import (
    MAX_ERROR_SUMMARY_LENGTH,
    MAX_STATUSES,
    IgnoredStatus,
    IgnoreReason,
    MessageStatus,
    StatusNotice,
    parse_status_notifications,
    sign,
    signature_matches,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "meta"
SECRET = "0c5a1f0e9b7d4c3a8e2f6b1d9a7c5e3f"
PHONE = "106540352242922"
TO = "16505551234"
W1 = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"
W2 = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3RjQ5QUQ5/+Q0NzNCNUY5OUIA=="
W3 = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBIyNUE2QjM4RjE4RTlBNzQ5QzgA"
W4 = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJGNzg1NjlCNzJCNUY4MzI3NEUA"
W5 = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUJEMzU4NkQ5QjlGMDM0RkM2NQA="
T = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)  # 1795167000, the fixtures' first second
DELIVERED: dict[str, Any] = {
    "id": W1,
    "status": "delivered",
    "timestamp": "1795167003",
    "recipient_id": TO,
    "pricing": {"billable": True, "pricing_model": "PMP", "type": "regular", "category": "utility"},
}
# A raw body as a sender may write it: spaces, upper-case \u escapes and escaped slashes, none of which
# json.dumps(json.loads(raw)) gives back.
RAW = (
    b'{ "object" : "whatsapp_business_account", "entry" : [ { "id" : "102290129340398", "changes" : [ {'
    b' "field" : "messages", "value" : { "statuses" : [ { "id" : "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJB'
    b'MTE4RTUA", "status" : "failed", "timestamp" : "1795167002", "errors" : [ { "code" : 131026, "title" :'
    b' "Caf\\u00E9 undeliverable", "href" : "https:\\/\\/developers.facebook.com\\/docs" } ] } ] } } ] } ] }'
)


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def _at(seconds_after: int) -> datetime:
    return T + timedelta(seconds=seconds_after)


def _envelope(statuses: object, metadata: object = None, field: object = "messages") -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE} if metadata is None else metadata,
        "statuses": statuses,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": field}]}],
    }


def _notice(message_id: str, status: MessageStatus, seconds_after: int, **fields: Any) -> StatusNotice:
    return StatusNotice(PHONE, message_id, status, _at(seconds_after), **{"recipient_id": TO, **fields})


def _pricing(category: str, pricing_type: str = "regular", billable: bool = True) -> dict[str, Any]:
    return {"category": category, "pricing_type": pricing_type, "billable": billable, "pricing_model": "PMP"}


# --- the signature ---------------------------------------------------------------------------------------------


def test_a_body_signed_with_the_app_secret_matches() -> None:
    header = sign(SECRET, RAW)

    assert header.startswith("sha256=")
    assert len(header) == len("sha256=") + 64
    assert signature_matches(SECRET, RAW, header)
    assert signature_matches(SECRET, RAW, header.upper().replace("SHA256=", "sha256="))  # hex in either case


def test_another_secret_or_one_changed_byte_does_not_match() -> None:
    header = sign(SECRET, RAW)

    assert not signature_matches(SECRET + "x", RAW, header)
    assert not signature_matches(SECRET, RAW.replace(b"131026", b"131027"), header)
    assert not signature_matches(SECRET, RAW + b"\n", header)


def test_the_signature_covers_the_raw_bytes_not_a_re_serialised_body() -> None:
    reserialised = [json.dumps(json.loads(RAW)).encode(), json.dumps(json.loads(RAW), separators=(",", ":")).encode()]

    assert all(body != RAW for body in reserialised)  # the guard: re-serialising did change the bytes
    assert all(not signature_matches(SECRET, body, sign(SECRET, RAW)) for body in reserialised)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "sha256=",
        "sha256",
        "SHA256=" + "a" * 64,
        "sha1=" + "a" * 40,
        " sha256=" + "a" * 64,
        "sha256=" + "a" * 63,
        "sha256=" + "a" * 65,
        "sha256=" + "g" * 64,
        "sha256=" + "a" * 64 + "\n",
        "sha256=" + "٣" * 64,  # digits, but not ASCII hex
    ],
)
def test_a_missing_or_malformed_header_does_not_match(header: str | None) -> None:
    assert not signature_matches(SECRET, RAW, header)


def test_the_right_hex_with_a_malformed_prefix_does_not_match() -> None:
    digest = sign(SECRET, RAW).removeprefix("sha256=")

    assert not signature_matches(SECRET, RAW, digest)
    assert not signature_matches(SECRET, RAW, "sha512=" + digest)


def test_an_empty_app_secret_never_matches() -> None:
    assert not signature_matches("", RAW, sign("", RAW))


# --- Meta's documented shapes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("status_sent.json", [_notice(W1, MessageStatus.SENT, 0, **_pricing("utility"))]),
        ("status_sent_without_pricing.json", [_notice(W2, MessageStatus.SENT, 1)]),
        ("status_delivered.json", [_notice(W1, MessageStatus.DELIVERED, 3, **_pricing("utility"))]),
        ("status_read.json", [_notice(W1, MessageStatus.READ, 42)]),
        ("status_read_without_delivered.json", [_notice(W3, MessageStatus.READ, 5, **_pricing("marketing"))]),
        (
            "status_failed.json",
            [_notice(W4, MessageStatus.FAILED, 2, error_summary="131026: Message undeliverable")],
        ),
        (
            "status_delivered_free_customer_service.json",
            [_notice(W2, MessageStatus.DELIVERED, 4, **_pricing("utility", "free_customer_service", billable=False))],
        ),
        (
            "status_delivered_free_entry_point.json",
            [
                _notice(
                    W5,
                    MessageStatus.DELIVERED,
                    6,
                    **_pricing("referral_conversion", "free_entry_point", billable=False),
                )
            ],
        ),
        ("inbound_message.json", []),
        ("template_status_update.json", []),
    ],
)
def test_each_documented_shape_reads_into_its_statuses(fixture: str, expected: list[StatusNotice]) -> None:
    parsed = parse_status_notifications(_fixture(fixture))

    assert parsed.statuses == tuple(expected)
    assert parsed.ignored == ()


def test_several_entries_and_changes_read_in_order_each_with_its_own_number() -> None:
    parsed = parse_status_notifications(_fixture("several_entries_and_changes.json"))

    assert [(s.phone_number_id, s.message_id, s.status) for s in parsed.statuses] == [
        (PHONE, W1, MessageStatus.DELIVERED),
        (PHONE, W2, MessageStatus.SENT),
        ("106540352242923", W3, MessageStatus.READ),
        ("209876543210987", W4, MessageStatus.FAILED),
    ]
    assert parsed.statuses[3].error_summary == (
        "131049: This message was not delivered to maintain healthy ecosystem engagement."
    )
    assert parsed.ignored == ()


def test_every_fixture_names_pricing_that_settlement_understands() -> None:
    """The hold rules take Meta's words as they come: each type and category in the fixtures is one they know."""
    statuses = [
        s for path in sorted(FIXTURES.glob("*.json")) for s in parse_status_notifications(_fixture(path.name)).statuses
    ]
    priced = [s for s in statuses if s.category is not None]

    assert priced
    assert all(s.pricing_type == REGULAR or s.pricing_type in FREE_PRICING_TYPES for s in priced)
    assert all(parse_category(s.category) for s in priced)
    assert all(s.timestamp.tzinfo is UTC for s in statuses)


def test_a_field_other_than_messages_is_not_read_even_when_it_holds_statuses() -> None:
    parsed = parse_status_notifications(_envelope([DELIVERED], field="message_template_status_update"))

    assert parsed.statuses == ()
    assert parsed.ignored == ()


def test_inbound_messages_beside_statuses_are_not_read() -> None:
    body = _envelope([DELIVERED])
    body["entry"][0]["changes"][0]["value"]["messages"] = [{"from": TO, "id": W2, "timestamp": "1", "type": "text"}]
    body["entry"][0]["changes"][0]["value"]["errors"] = [{"code": 131000, "title": "Something went wrong"}]

    parsed = parse_status_notifications(body)

    assert [s.message_id for s in parsed.statuses] == [W1]
    assert parsed.ignored == ()


def test_unknown_keys_are_ignored_at_every_level() -> None:
    body = _envelope([{**DELIVERED, "biz_opaque_callback_data": "x", "pricing": {**DELIVERED["pricing"], "new": 1}}])
    body["gs_app_id"] = "app"
    body["entry"][0]["time"] = 1795167000
    body["entry"][0]["changes"][0]["extra"] = True
    body["entry"][0]["changes"][0]["value"]["contacts"] = [{"wa_id": TO}]

    assert parse_status_notifications(body) == parse_status_notifications(_envelope([DELIVERED]))


def test_ids_and_timestamps_may_be_json_integers() -> None:
    as_integers = {**DELIVERED, "timestamp": 1795167003, "recipient_id": int(TO)}

    parsed = parse_status_notifications(_envelope([as_integers], metadata={"phone_number_id": int(PHONE)}))

    assert parsed.statuses == parse_status_notifications(_envelope([DELIVERED])).statuses


# --- what cannot be read ----------------------------------------------------------------------------------------


_ABSENT = object()


def _with(**changes: Any) -> dict[str, Any]:
    status = copy.deepcopy(DELIVERED)
    for key, value in changes.items():
        if value is _ABSENT:
            del status[key]
        else:
            status[key] = value
    return status


@pytest.mark.parametrize(
    ("status", "reason", "message_id", "raw_status"),
    [
        ("delivered", IgnoreReason.MALFORMED_STATUS, None, None),
        ([DELIVERED], IgnoreReason.MALFORMED_STATUS, None, None),
        (None, IgnoreReason.MALFORMED_STATUS, None, None),
        (_with(id=_ABSENT), IgnoreReason.MISSING_ID, None, "delivered"),
        (_with(id=""), IgnoreReason.MISSING_ID, None, "delivered"),
        (_with(id="   "), IgnoreReason.MISSING_ID, None, "delivered"),
        (_with(id=12345), IgnoreReason.INVALID_MESSAGE_ID, None, "delivered"),
        (_with(id="wamid.\x00abc"), IgnoreReason.INVALID_MESSAGE_ID, None, "delivered"),
        (_with(id="wamid." + "A" * 195), IgnoreReason.MESSAGE_ID_TOO_LONG, None, "delivered"),
        (_with(status=_ABSENT), IgnoreReason.MISSING_STATUS, W1, None),
        (_with(status="deleted"), IgnoreReason.UNKNOWN_STATUS, W1, "deleted"),
        (_with(status="played"), IgnoreReason.UNKNOWN_STATUS, W1, "played"),
        (_with(status="DELIVERED"), IgnoreReason.UNKNOWN_STATUS, W1, "DELIVERED"),
        (_with(status=3), IgnoreReason.UNKNOWN_STATUS, W1, None),
        (_with(status="x" * 1000), IgnoreReason.UNKNOWN_STATUS, W1, "x" * 64),
        (_with(timestamp=_ABSENT), IgnoreReason.MISSING_TIMESTAMP, W1, "delivered"),
        (_with(timestamp="yesterday"), IgnoreReason.BAD_TIMESTAMP, W1, "delivered"),
        (_with(timestamp=""), IgnoreReason.BAD_TIMESTAMP, W1, "delivered"),
        (_with(timestamp="-5"), IgnoreReason.BAD_TIMESTAMP, W1, "delivered"),
        (_with(timestamp=-5), IgnoreReason.BAD_TIMESTAMP, W1, "delivered"),
        (_with(timestamp="1.7e9"), IgnoreReason.BAD_TIMESTAMP, W1, "delivered"),
        (_with(timestamp=1795167003.0), IgnoreReason.BAD_TIMESTAMP, W1, "delivered"),
        (_with(timestamp=True), IgnoreReason.BAD_TIMESTAMP, W1, "delivered"),
        (_with(timestamp="99999999999999"), IgnoreReason.BAD_TIMESTAMP, W1, "delivered"),  # after year 9999
        (_with(timestamp="١٧٩٥١٦٧٠٠٣"), IgnoreReason.BAD_TIMESTAMP, W1, "delivered"),  # not ASCII digits
        (_with(pricing="utility"), IgnoreReason.BAD_PRICING, W1, "delivered"),
        (_with(pricing=[]), IgnoreReason.BAD_PRICING, W1, "delivered"),
        (_with(pricing={"billable": "true"}), IgnoreReason.BAD_PRICING, W1, "delivered"),
        (_with(pricing={"billable": 1}), IgnoreReason.BAD_PRICING, W1, "delivered"),
        (_with(pricing={"category": 7}), IgnoreReason.BAD_PRICING, W1, "delivered"),
        (_with(pricing={"type": "x" * 65}), IgnoreReason.BAD_PRICING, W1, "delivered"),
        (_with(pricing={"pricing_model": "PMP\n"}), IgnoreReason.BAD_PRICING, W1, "delivered"),
    ],
)
def test_a_malformed_status_is_ignored_with_its_reason_while_its_neighbours_parse(
    status: object, reason: IgnoreReason, message_id: str | None, raw_status: str | None
) -> None:
    before = {**DELIVERED, "id": W2}
    after = {**DELIVERED, "id": W3, "status": "read"}

    parsed = parse_status_notifications(_envelope([before, status, after]))

    assert [(s.message_id, s.status) for s in parsed.statuses] == [(W2, "delivered"), (W3, "read")]
    assert parsed.ignored == (IgnoredStatus(PHONE, message_id, raw_status, reason),)


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"phone_number_id": None},
        {"phone_number_id": ""},
        {"phone_number_id": True},
        {"phone_number_id": {}},
        {"phone_number_id": "1" * 65},
        "x",
    ],
)
def test_a_value_without_a_phone_number_id_ignores_its_statuses_not_the_others(metadata: object) -> None:
    body = _envelope([DELIVERED, "junk"], metadata=metadata)
    body["entry"].append(_envelope([{**DELIVERED, "id": W2}])["entry"][0])

    parsed = parse_status_notifications(body)

    assert [s.message_id for s in parsed.statuses] == [W2]
    assert parsed.ignored == (
        IgnoredStatus(None, W1, "delivered", IgnoreReason.MISSING_PHONE_NUMBER_ID),
        IgnoredStatus(None, None, None, IgnoreReason.MALFORMED_STATUS),
    )


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"recipient_id": {"wa_id": TO}}, {"recipient_id": None}),
        ({"recipient_id": "x" * 101}, {"recipient_id": None}),
        ({"errors": "oops"}, {"error_summary": None}),
        ({"errors": []}, {"error_summary": None}),
        ({"errors": [5]}, {"error_summary": None}),
        ({"errors": [{"code": "abc", "title": 7}]}, {"error_summary": None}),
        ({"errors": [{"code": 131026}]}, {"error_summary": "131026"}),
        ({"errors": [{"code": "131026", "message": "Undeliverable"}]}, {"error_summary": "131026: Undeliverable"}),
        ({"errors": [{"title": "First"}, {"title": "Second"}]}, {"error_summary": "First"}),
    ],
)
def test_descriptive_fields_that_cannot_be_read_become_none_without_ignoring_the_status(
    changes: dict[str, Any], expected: dict[str, Any]
) -> None:
    (notice,) = parse_status_notifications(_envelope([{**DELIVERED, "status": "failed", **changes}])).statuses

    assert {key: getattr(notice, key) for key in expected} == expected


def test_the_error_summary_is_bounded_and_free_of_control_characters() -> None:
    errors = [{"code": 131026, "title": "Undeliverable\x00\n" + "é" * 10_000}]

    (notice,) = parse_status_notifications(_envelope([{**DELIVERED, "errors": errors}])).statuses

    assert notice.error_summary is not None
    assert len(notice.error_summary) == MAX_ERROR_SUMMARY_LENGTH
    assert notice.error_summary.startswith("131026: Undeliverable  é")


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("junk", [IgnoreReason.MALFORMED_ENTRY]),
        ({"changes": {"field": "messages"}}, [IgnoreReason.MALFORMED_ENTRY]),
        ({"changes": [5]}, [IgnoreReason.MALFORMED_CHANGE]),
        ({"changes": [{"field": "messages", "value": 3}]}, [IgnoreReason.MALFORMED_CHANGE]),
        ({"changes": [{"field": "messages", "value": {"statuses": {"id": W1}}}]}, [IgnoreReason.MALFORMED_CHANGE]),
        ({}, []),
        ({"changes": [{"value": {"statuses": [DELIVERED]}}]}, []),  # no field: not a messages change
        ({"changes": [{"field": "messages", "value": {"messages": []}}]}, []),
    ],
)
def test_an_entry_or_change_that_cannot_hold_statuses_is_recorded_once(entry: object, expected: list[str]) -> None:
    body = _envelope([DELIVERED])
    body["entry"].insert(0, entry)

    parsed = parse_status_notifications(body)

    assert [s.message_id for s in parsed.statuses] == [W1]
    assert [i.reason for i in parsed.ignored] == expected


def test_the_order_of_appearance_is_kept() -> None:
    ids = [f"wamid.{n}" for n in range(50)]

    parsed = parse_status_notifications(_envelope([{**DELIVERED, "id": i} for i in ids]))

    assert [s.message_id for s in parsed.statuses] == ids


# --- bodies refused whole ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ([], "body"),
        ("whatsapp_business_account", "body"),
        (None, "body"),
        ({}, "object"),
        ({"object": "page", "entry": []}, "object"),
        ({"object": "instagram", "entry": _envelope([DELIVERED])["entry"]}, "object"),
        ({"object": "whatsapp_business_account"}, "entry"),
        ({"object": "whatsapp_business_account", "entry": {"id": "1"}}, "entry"),
        ({"object": "whatsapp_business_account", "entry": None}, "entry"),
    ],
)
def test_a_body_that_is_not_metas_envelope_is_refused_whole(payload: object, field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_status_notifications(payload)

    assert [error.field for error in refused.value.errors] == [field]


def test_an_envelope_with_no_entries_holds_nothing() -> None:
    parsed = parse_status_notifications({"object": "whatsapp_business_account", "entry": []})

    assert parsed.statuses == ()
    assert parsed.ignored == ()


def test_a_body_may_hold_max_statuses_and_no_more() -> None:
    assert len(parse_status_notifications(_envelope([0] * MAX_STATUSES)).ignored) == MAX_STATUSES
    with pytest.raises(ValidationError):
        parse_status_notifications(_envelope([0] * (MAX_STATUSES + 1)))


# --- properties -------------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
wamids = st.sampled_from([W1, W2, W3, W4, W5])
statuses_meta_sends = st.sampled_from(list(MessageStatus))
unix_seconds = st.integers(min_value=0, max_value=4_102_444_800)  # up to 2100
meta_texts = st.text(st.characters(codec="ascii", categories=["L", "N", "P"]), min_size=1, max_size=20)
meta_pricing = st.fixed_dictionaries(
    {},
    optional={
        "billable": st.booleans(),
        "category": st.sampled_from(["marketing", "utility", "authentication", "service", "referral_conversion"]),
        "type": st.sampled_from(["regular", "free_customer_service", "free_entry_point"]),
        "pricing_model": st.sampled_from(["PMP", "CBP"]),
    },
)
well_formed_statuses = st.fixed_dictionaries(
    {"id": wamids, "status": statuses_meta_sends, "timestamp": unix_seconds.map(str)},
    optional={
        "recipient_id": st.from_regex(r"[1-9][0-9]{7,14}", fullmatch=True),
        "pricing": meta_pricing,
        "errors": st.lists(st.fixed_dictionaries({"code": st.integers(0, 999_999), "title": meta_texts}), max_size=2),
    },
)
# Meta's keys with a mix of right and wrong values: most reasons to ignore a status, and some statuses that parse.
near_statuses = st.fixed_dictionaries(
    {
        "id": st.one_of(wamids, st.text(max_size=210), json_values),
        "status": st.one_of(statuses_meta_sends, st.sampled_from(["played", "deleted", ""]), json_values),
        "timestamp": st.one_of(unix_seconds, st.from_regex(r"-?[0-9]{1,20}", fullmatch=True), json_values),
    },
    optional={
        "recipient_id": json_values,
        "pricing": st.one_of(
            meta_pricing, st.dictionaries(st.sampled_from(["billable", "type"]), json_values), json_values
        ),
        "errors": st.one_of(st.lists(st.dictionaries(st.sampled_from(["code", "title"]), json_values)), json_values),
    },
)


@settings(max_examples=300, deadline=None)
@given(
    statuses=st.lists(st.one_of(well_formed_statuses, near_statuses, json_values), max_size=8),
    metadata=st.one_of(st.just({"phone_number_id": PHONE}), json_values),
)
def test_inside_metas_envelope_nothing_raises_and_every_status_is_read_or_ignored(
    statuses: list[object], metadata: object
) -> None:
    parsed = parse_status_notifications(_envelope(statuses, metadata={"m": 1} if metadata is None else metadata))

    assert len(parsed.statuses) + len(parsed.ignored) == len(statuses)
    assert all(s.timestamp.tzinfo is UTC and isinstance(s.status, MessageStatus) for s in parsed.statuses)
    assert all(0 < len(s.message_id) <= 200 for s in parsed.statuses)


@settings(max_examples=200, deadline=None)
@given(entries=st.lists(json_values, max_size=5))
def test_any_entries_inside_the_envelope_never_raise(entries: list[object]) -> None:
    parse_status_notifications({"object": "whatsapp_business_account", "entry": entries})


@settings(max_examples=200, deadline=None)
@given(status=well_formed_statuses)
def test_a_well_formed_status_reads_back_as_meta_wrote_it(status: dict[str, Any]) -> None:
    (notice,) = parse_status_notifications(_envelope([status])).statuses
    pricing = status.get("pricing", {})

    assert (notice.message_id, notice.status, notice.recipient_id) == (
        status["id"],
        status["status"],
        status.get("recipient_id"),
    )
    assert notice.timestamp == datetime.fromtimestamp(int(status["timestamp"]), UTC)
    assert (notice.category, notice.pricing_type, notice.billable, notice.pricing_model) == (
        pricing.get("category"),
        pricing.get("type"),
        pricing.get("billable"),
        pricing.get("pricing_model"),
    )
    errors = status.get("errors")
    assert notice.error_summary == (f"{errors[0]['code']}: {errors[0]['title']}" if errors else None)
