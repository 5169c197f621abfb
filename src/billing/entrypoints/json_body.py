"""The JSON bodies every entry point reads the same way: the API's requests, and the rate card files of the CLI and
the console (`rate_card_files`).

Decoded straight from their bytes, with errors that name the field: decoding errors become the domain's
ValidationError (400, naming the field); an empty body reads as `{}`. Amounts arrive as raw JSON text (`msgspec.Raw`)
so that a JSON number never passes through a float: the literal is handed to `Money.parse`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, TypeVar

import msgspec
import msgspec.structs

from billing.domain.errors import FieldError, ValidationError
from billing.domain.text import validate_text
from billing.entrypoints.errors import plain_message

# A request amount: a JSON string or number, kept as its literal text until Money.parse reads it.
RawAmount = msgspec.Raw
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]


def amount_text(raw: msgspec.Raw | msgspec.UnsetType, field: str = "amount") -> str | None:
    """The literal of a JSON string or number; None for an absent amount or JSON null."""
    if isinstance(raw, msgspec.UnsetType):
        return None
    literal = bytes(raw)
    if literal in (b"", b"null"):
        return None
    if literal.startswith(b'"'):
        return str(msgspec.json.decode(literal, type=str))
    if literal[:1] in b"-0123456789":
        return literal.decode("ascii")
    raise ValidationError.of(field, "must be a decimal string or number such as 150.00")


class Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A request body: unknown fields are refused, so a misspelt optional field is never ignored."""


S = TypeVar("S", bound=msgspec.Struct)

_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_MISSING = re.compile(r"Object missing required field `(?P<field>[^`]+)`")
TOO_DEEP = "is nested too deeply"
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<field>[^`]+)`")


def decode_body(body: bytes, model: type[S]) -> S:
    """Decode a JSON object into `model`, or raise a ValidationError naming what is wrong."""
    try:
        return msgspec.json.decode(body.strip() or b"{}", type=model)
    except msgspec.ValidationError as error:
        raise ValidationError(_missing_fields(body, model) or [_field_error(str(error))]) from None
    except msgspec.DecodeError as error:
        _refuse_lone_surrogates(body)
        raise ValidationError.of("body", f"is not valid JSON ({error})") from None
    except RecursionError:  # no body of ours nests; a deep one is an attack on the decoder
        raise ValidationError.of("body", TOO_DEEP) from None


def _refuse_lone_surrogates(body: bytes) -> None:
    """msgspec refuses a `\\ud800` escape as malformed JSON; Python's decoder reads it, so the field that
    holds it can be named, with the same message every text field gives for an unsafe character."""
    try:
        given = json.loads(body)
    except (ValueError, RecursionError):
        return
    if isinstance(given, dict):
        for name, value in given.items():
            if isinstance(value, str):
                validate_text(value, field=name, max_length=len(value), multiline=True)


def _missing_fields(body: bytes, model: type[msgspec.Struct]) -> list[FieldError]:
    """msgspec stops at the first missing field; a client fixing its request wants them all."""
    try:
        given = msgspec.json.decode(body.strip() or b"{}")
    except msgspec.DecodeError:
        return []
    except RecursionError:
        return [FieldError("body", TOO_DEEP)]
    if not isinstance(given, dict):
        return []
    required = [f.encode_name for f in msgspec.structs.fields(model) if f.required]
    return [FieldError(name, "is required") for name in required if name not in given]


def _field_error(message: str) -> FieldError:
    """msgspec says `Expected `str`, got `int` - at `$.note``; the client wants `note`: `must be a string`."""
    path = ""
    if at := _AT.search(message):
        path = at["path"].replace("[", ".").replace("]", "")
        message = message[: at.start()]
    if missing := _MISSING.search(message):
        return FieldError(_join(path, missing["field"]), "is required")
    if unknown := _UNKNOWN.search(message):
        return FieldError(_join(path, unknown["field"]), "is not a known field")
    if not path:
        return FieldError("body", "must be a JSON object")
    return FieldError(path, plain_message(message))


def _join(path: str, field: str) -> str:
    return f"{path}.{field}" if path else field
