"""The API's request bodies: decoded from their bytes by `json_body` (a DTO gets the raw bytes, where Litestar would
first decode JSON into Python values, turning `150.123` into a float), and their raw amounts documented in OpenAPI.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar.dto import MsgspecDTO
from litestar.openapi.spec import OpenAPIType, Schema
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from billing.domain.errors import ValidationError
from billing.entrypoints.json_body import decode_body

S = TypeVar("S", bound=msgspec.Struct)


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
