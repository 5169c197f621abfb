"""Meta's WhatsApp status webhook (contract v2 §11): the signature of a body, and its statuses read into plain values.

`signature_matches` checks `X-Hub-Signature-256` over the raw bytes; `parse_status_notifications` reads the decoded
JSON into `StatusNotice`s (what the application applies) and `IgnoredStatus`es (what it records as ignored). Meta's
format, as its status webhook reference documents it:

    {"object": "whatsapp_business_account",
     "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": {
         "messaging_product": "whatsapp", "metadata": {"display_phone_number", "phone_number_id"},
         "statuses": [{"id", "status", "timestamp", "recipient_id", "recipient_user_id",
                       "recipient_parent_user_id", "conversation",
                       "pricing": {"billable", "pricing_model", "type", "category"},
                       "errors": [{"code", "title", "message", "error_data": {"details"}, "href"}]}]}}]}]}

Decisions the contract leaves open:
- A body that is not Meta's envelope at all (not an object, `object` not "whatsapp_business_account", `entry` not a
  list) is a ValidationError (400): nothing in it is applied. Inside a well-formed envelope nothing raises: only
  `field == "messages"` changes are read, and only their `value.statuses` (inbound `messages`, `contacts`, the
  value's `errors`, `conversation` and every unknown key are not read).
- Each status is read alone: a malformed one becomes an `IgnoredStatus` with a reason and never stops its
  neighbours. An entry or a messages change whose shape cannot hold statuses is recorded once as ignored
  (`malformed_entry`, `malformed_change`) rather than dropped in silence. A value without a readable
  `metadata.phone_number_id` (1-64 characters) ignores each of its statuses (`missing_phone_number_id`).
- Strict where money is decided (message id, status, timestamp, pricing: a wrong type ignores the status), lenient
  where the value only describes (`recipient_id`, `recipient_user_id`, `recipient_parent_user_id`, `errors`:
  unreadable becomes None), because refusing a `failed` for an odd error text would keep open a hold that Meta said
  failed. Which of the recipient's ids names it is the application's to decide (`recipients.py`, contract v3 §16).
- Ids and timestamps may be JSON strings or integers (Meta writes strings); a boolean is neither.
- Pricing `category` and `type` are kept as Meta wrote them (bounded one-line text): the application maps them
  (`parse_category`, `FREE_PRICING_TYPES`), so a category Meta adds tomorrow reaches it instead of vanishing here.
- Meta's statuses other than sent, delivered, read and failed (a voice message's `played`, the on-premises
  `deleted`) are ignored as `unknown_status`.
- Work is bounded: at most `MAX_STATUSES` statuses (parsed and ignored together) per body, else a ValidationError.
  Meta sends a handful per body; answering 200 while recording only part of a body would lose the rest, since Meta
  never redelivers what was answered 200.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import UTC, datetime

import attrs

from billing.domain.errors import ValidationError
from billing.domain.hold import MAX_MESSAGE_ID_LENGTH, validate_message_id
from billing.domain.text import unsafe_character, validate_text

SIGNATURE_HEADER = "X-Hub-Signature-256"
SIGNATURE_PREFIX = "sha256="
WHATSAPP_BUSINESS_ACCOUNT = "whatsapp_business_account"
MESSAGES_FIELD = "messages"
MAX_STATUSES = 10_000
MAX_ERROR_SUMMARY_LENGTH = 500
MAX_PHONE_NUMBER_ID_LENGTH = 64  # Meta's are about 15 digits
MAX_RECIPIENT_ID_LENGTH = 100  # a phone number, a BSUID (at most 71), or a group's id, which is longer
MAX_PRICING_TEXT_LENGTH = 64
MAX_RAW_STATUS_LENGTH = 64
MAX_UNIX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second a datetime holds

_HEX_SHA256 = re.compile("[0-9a-fA-F]{64}")
_DIGITS = re.compile("[0-9]{1,18}")  # ASCII digits only: str.isdigit() also takes "²" and "٣"
_MAX_INTEGER = 2**63 - 1


class MessageStatus(enum.StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"


class IgnoreReason(enum.StrEnum):
    """Why a status was not read; stable, stored with the webhook event."""

    MALFORMED_ENTRY = "malformed_entry"
    MALFORMED_CHANGE = "malformed_change"
    MALFORMED_STATUS = "malformed_status"
    MISSING_PHONE_NUMBER_ID = "missing_phone_number_id"
    MISSING_ID = "missing_id"
    INVALID_MESSAGE_ID = "invalid_message_id"
    MESSAGE_ID_TOO_LONG = "message_id_too_long"
    MISSING_STATUS = "missing_status"
    UNKNOWN_STATUS = "unknown_status"
    MISSING_TIMESTAMP = "missing_timestamp"
    BAD_TIMESTAMP = "bad_timestamp"
    BAD_PRICING = "bad_pricing"


_STATUSES = {status.value: status for status in MessageStatus}


def sign(app_secret: str, raw_body: bytes) -> str:
    """The `X-Hub-Signature-256` value Meta sends with `raw_body`: `sha256=` and the HMAC-SHA256 in lower-case hex."""
    return SIGNATURE_PREFIX + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def signature_matches(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """Whether `header` signs exactly these bytes (never a re-serialised body), compared in constant time.

    False for a missing header, another prefix, anything but 64 hex digits, or an empty secret (no secret is
    configured: nothing can be signed by Meta)."""
    if not app_secret or header is None or not header.startswith(SIGNATURE_PREFIX):
        return False
    given = header.removeprefix(SIGNATURE_PREFIX)
    if _HEX_SHA256.fullmatch(given) is None:
        return False
    return hmac.compare_digest(SIGNATURE_PREFIX + given.lower(), sign(app_secret, raw_body))


@attrs.frozen
class StatusNotice:
    """One status Meta reported for one message, as Meta said it. `category`, `pricing_type`, `billable` and
    `pricing_model` come from `pricing` (None when Meta sent none: `read` after `delivered`, most `failed`);
    `error_summary` is the first error's code and title (`failed`). The recipient: `recipient_id` (a phone number,
    or a BSUID when Meta hides the number), `recipient_user_id` (its BSUID) and `recipient_parent_user_id` (its
    parent BSUID), each None when absent."""

    phone_number_id: str
    message_id: str
    status: MessageStatus
    timestamp: datetime
    recipient_id: str | None = None
    category: str | None = None
    pricing_type: str | None = None
    billable: bool | None = None
    pricing_model: str | None = None
    error_summary: str | None = None
    recipient_user_id: str | None = None
    recipient_parent_user_id: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.timestamp.utcoffset() is None:
            raise ValueError("a status's timestamp must carry a time zone")


@attrs.frozen
class IgnoredStatus:
    """A status that could not be read, with as much of it as could: the number, the message id (when valid), the
    status as written (bounded), and why."""

    phone_number_id: str | None
    message_id: str | None
    status: str | None
    reason: IgnoreReason


@attrs.frozen
class ParsedWebhook:
    """A body's statuses in order of appearance: those read, and those ignored."""

    statuses: tuple[StatusNotice, ...]
    ignored: tuple[IgnoredStatus, ...]


class _UnreadableError(Exception):
    """A status field that cannot be read; caught per status, never leaves this module."""

    def __init__(self, reason: IgnoreReason) -> None:
        super().__init__(reason)
        self.reason = reason


@attrs.define
class _Collected:
    statuses: list[StatusNotice] = attrs.Factory(list)
    ignored: list[IgnoredStatus] = attrs.Factory(list)

    def add(self, item: StatusNotice | IgnoredStatus) -> None:
        if len(self.statuses) + len(self.ignored) >= MAX_STATUSES:
            raise ValidationError.of("entry", f"must hold at most {MAX_STATUSES} statuses in one body")
        if isinstance(item, StatusNotice):
            self.statuses.append(item)
        else:
            self.ignored.append(item)


def parse_status_notifications(payload: object) -> ParsedWebhook:
    """Meta's decoded webhook body → its statuses, read or ignored, in order. ValidationError only for a body that
    is not Meta's envelope or holds more than `MAX_STATUSES` statuses (see the module's decisions)."""
    collected = _Collected()
    for entry in _entries(payload):
        _read_entry(entry, collected)
    return ParsedWebhook(tuple(collected.statuses), tuple(collected.ignored))


def _entries(payload: object) -> list[object]:
    envelope = _as_object(payload)
    if envelope is None:
        raise ValidationError.of("body", "must be a JSON object")
    if envelope.get("object") != WHATSAPP_BUSINESS_ACCOUNT:
        raise ValidationError.of("object", f'must be "{WHATSAPP_BUSINESS_ACCOUNT}"')
    entries = envelope.get("entry")
    if not isinstance(entries, list):
        raise ValidationError.of("entry", "must be a list")
    return entries


def _read_entry(entry: object, collected: _Collected) -> None:
    fields = _as_object(entry)
    changes = fields.get("changes", []) if fields is not None else None
    if not isinstance(changes, list):
        collected.add(IgnoredStatus(None, None, None, IgnoreReason.MALFORMED_ENTRY))
        return
    for change in changes:
        _read_change(change, collected)


def _read_change(change: object, collected: _Collected) -> None:
    fields = _as_object(change)
    if fields is not None and fields.get("field") != MESSAGES_FIELD:
        return  # another webhook field (templates, account updates...): not ours to read
    value = _as_object(fields.get("value")) if fields is not None else None
    statuses = value.get("statuses", []) if value is not None else None
    metadata = value.get("metadata") if value is not None else None
    phone_number_id = _identifier(_get(metadata, "phone_number_id"), MAX_PHONE_NUMBER_ID_LENGTH)
    if not isinstance(statuses, list):
        collected.add(IgnoredStatus(phone_number_id, None, None, IgnoreReason.MALFORMED_CHANGE))
        return
    for item in statuses:
        collected.add(_read_status(item, phone_number_id))


def _read_status(item: object, phone_number_id: str | None) -> StatusNotice | IgnoredStatus:
    fields = _as_object(item)
    if fields is None:
        return IgnoredStatus(phone_number_id, None, None, IgnoreReason.MALFORMED_STATUS)
    try:
        return _notice(fields, phone_number_id)
    except _UnreadableError as rejected:
        message_id = _readable_message_id(fields.get("id"))
        raw_status = _bounded_text(fields.get("status"), MAX_RAW_STATUS_LENGTH)
        return IgnoredStatus(phone_number_id, message_id, raw_status, rejected.reason)


def _notice(fields: Mapping[str, object], phone_number_id: str | None) -> StatusNotice:
    if phone_number_id is None:
        raise _UnreadableError(IgnoreReason.MISSING_PHONE_NUMBER_ID)
    message_id = _message_id(fields.get("id"))
    status = _status(fields.get("status"))
    timestamp = _timestamp(fields.get("timestamp"))
    category, pricing_type, billable, pricing_model = _pricing(fields.get("pricing"))
    return StatusNotice(
        phone_number_id=phone_number_id,
        message_id=message_id,
        status=status,
        timestamp=timestamp,
        recipient_id=_identifier(fields.get("recipient_id"), MAX_RECIPIENT_ID_LENGTH),
        category=category,
        pricing_type=pricing_type,
        billable=billable,
        pricing_model=pricing_model,
        error_summary=_error_summary(fields.get("errors")),
        recipient_user_id=_identifier(fields.get("recipient_user_id"), MAX_RECIPIENT_ID_LENGTH),
        recipient_parent_user_id=_identifier(fields.get("recipient_parent_user_id"), MAX_RECIPIENT_ID_LENGTH),
    )


def _message_id(value: object) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise _UnreadableError(IgnoreReason.MISSING_ID)
    if isinstance(value, str) and len(value) > MAX_MESSAGE_ID_LENGTH:
        raise _UnreadableError(IgnoreReason.MESSAGE_ID_TOO_LONG)
    try:
        return validate_message_id(value, "id")
    except ValidationError:
        raise _UnreadableError(IgnoreReason.INVALID_MESSAGE_ID) from None


def _status(value: object) -> MessageStatus:
    if value is None:
        raise _UnreadableError(IgnoreReason.MISSING_STATUS)
    if isinstance(value, str) and value in _STATUSES:
        return _STATUSES[value]
    raise _UnreadableError(IgnoreReason.UNKNOWN_STATUS)


def _timestamp(value: object) -> datetime:
    """Meta's unix seconds, a string of ASCII digits (or an integer), as an aware UTC datetime."""
    if value is None:
        raise _UnreadableError(IgnoreReason.MISSING_TIMESTAMP)
    seconds = _integer(value)
    if seconds is None or not 0 <= seconds <= MAX_UNIX_SECONDS:
        raise _UnreadableError(IgnoreReason.BAD_TIMESTAMP)
    return datetime.fromtimestamp(seconds, UTC)


def _pricing(value: object) -> tuple[str | None, str | None, bool | None, str | None]:
    """(category, type, billable, pricing_model); all None without pricing."""
    if value is None:
        return None, None, None, None
    fields = _as_object(value)
    if fields is None:
        raise _UnreadableError(IgnoreReason.BAD_PRICING)
    billable = fields.get("billable")
    if billable is not None and not isinstance(billable, bool):
        raise _UnreadableError(IgnoreReason.BAD_PRICING)
    return (
        _pricing_text(fields, "category"),
        _pricing_text(fields, "type"),
        billable,
        _pricing_text(fields, "pricing_model"),
    )


def _pricing_text(fields: Mapping[str, object], key: str) -> str | None:
    try:
        return validate_text(fields.get(key), field=key, max_length=MAX_PRICING_TEXT_LENGTH)
    except ValidationError:
        raise _UnreadableError(IgnoreReason.BAD_PRICING) from None


def _error_summary(value: object) -> str | None:
    """The first error's `code: title` (its `message` when it has no title), bounded; None when unreadable."""
    first = _as_object(value[0]) if isinstance(value, list) and value else None
    if first is None:
        return None
    code = _integer(first.get("code"))
    parts = [] if code is None else [str(code)]
    for key in ("title", "message"):
        if isinstance(text := first.get(key), str) and text.strip():
            parts.append(text)
            break
    return _bounded_text(": ".join(parts), MAX_ERROR_SUMMARY_LENGTH)


def _identifier(value: object, max_length: int) -> str | None:
    """An id Meta writes as a string of digits (or an integer): one line of at most `max_length`, else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = _integer(value)
        return None if number is None else str(number)
    try:
        text = validate_text(value, field="id", max_length=max_length)
    except ValidationError:
        return None
    return text if text is not None and text.strip() else None


def _integer(value: object) -> int | None:
    """A non-negative integer written as a JSON integer or as ASCII digits; bounded, so `str()` of it is cheap."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value if 0 <= value <= _MAX_INTEGER else None
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    return None


def _bounded_text(value: object, limit: int) -> str | None:
    """A string cut to `limit` characters with control characters made spaces, so it stores anywhere."""
    if not isinstance(value, str):
        return None
    text = value[:limit]
    while (char := unsafe_character(text)) is not None:
        text = text.replace(char, " ")
    return text.strip() or None


def _as_object(value: object) -> Mapping[str, object] | None:
    return value if isinstance(value, dict) else None


def _get(value: object, key: str) -> object:
    fields = _as_object(value)
    return fields.get(key) if fields is not None else None


def _readable_message_id(value: object) -> str | None:
    try:
        return _message_id(value)
    except _UnreadableError:
        return None
