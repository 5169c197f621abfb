"""Free text a caller gives (notes, reasons, references, descriptions, names, user ids).

PostgreSQL cannot store NUL, a lone surrogate cannot be encoded as UTF-8, and a control character or
a line separator in a one-line value (a reference, an email header) is never meant. Every text field
passes through `validate_text`, so each of them is refused with a 400 naming it, on every entry point.
"""

from __future__ import annotations

import re

from billing.domain.errors import ValidationError

# Unicode's Cc (C0 and C1 controls, NUL included), Zl and Zp (U+2028, U+2029) and Cs (lone surrogates).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# The same, less tab and line breaks, for text that may span lines.
_UNSAFE_MULTILINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")


def unsafe_character(value: str, *, multiline: bool = False) -> str | None:
    """The first character that may not appear in such a value, if any."""
    found = (_UNSAFE_MULTILINE if multiline else _UNSAFE).search(value)
    return found.group() if found else None


def _describe(char: str) -> str:
    return "NUL" if char == "\x00" else f"U+{ord(char):04X}"


def validate_text(
    value: object, *, field: str, max_length: int, required: bool = False, multiline: bool = False
) -> str | None:
    """The value, or None when optional and absent/empty; a ValidationError naming `field` otherwise.

    `required`: not absent and not blank. `multiline`: tabs and line breaks are allowed (notes)."""
    if value is None or (value == "" and not required):
        if required:
            raise ValidationError.of(field, "is required")
        return None
    if not isinstance(value, str):
        raise ValidationError.of(field, "must be a string")
    if required and not value.strip():
        raise ValidationError.of(field, "must not be blank")
    if len(value) > max_length:
        raise ValidationError.of(field, f"must be at most {max_length} characters")
    if (char := unsafe_character(value, multiline=multiline)) is not None:
        raise ValidationError.of(field, f"must not contain control characters ({_describe(char)})")
    return value
