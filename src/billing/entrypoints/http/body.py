"""Request bodies decoded straight from their bytes, with errors that name the field.

Litestar would first decode JSON into Python values, turning `150.123` into a float; a DTO gets the
raw bytes instead, so `msgspec.Raw` fields keep an amount's literal text. Decoding errors become the
domain's ValidationError (400, naming the field); an empty body reads as `{}`.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

import msgspec
import msgspec.structs
from litestar.dto import MsgspecDTO
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from billing.domain.errors import FieldError, ValidationError
from billing.domain.text import validate_text
from billing.entrypoints.http.problems import plain_message

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


class JsonBody(MsgspecDTO[S]):
    """Used as `dto=JsonBody[SomeBody]`; OpenAPI documents the struct, decoding keeps raw amounts."""

    def decode_bytes(self, value: bytes) -> Any:
        media_type = self.asgi_connection.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            raise ValidationError.of("Content-Type", "must be application/json")
        return decode_body(value, self.model_type)


class RawAmountSchema(OpenAPISchemaPlugin):
    """OpenAPI: a raw amount is a decimal string or a JSON number."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return value is msgspec.Raw

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: Any) -> Schema:
        return Schema(
            one_of=[
                Schema(type=OpenAPIType.STRING, pattern=r"^-?[0-9]+(\.[0-9]+)?$", examples=["150.00"]),
                Schema(type=OpenAPIType.NUMBER, examples=[150]),
            ],
            description="A decimal amount with at most the currency's minor digits, as a string or a number.",
        )
