"""A statement (contract v2 §12) as CSV, for every entry point that serves one (the HTTP API, the console).

RFC 4180: comma-separated, CRLF line ends, a cell quoted when it holds a comma, a quote or a line break; UTF-8
without a byte-order mark (the header line is exactly `HEADER`). Null is an empty cell. Times are UTC, as the
JSON gives them (`2026-11-26T12:00:00.5Z`); amounts are the JSON's strings.

Spreadsheet-safe (CSV injection, OWASP): a cell a spreadsheet would read as a formula - it starts with `=`, `+`,
`-` or `@` (after any leading blanks) and is not a number, or it starts with a tab or a line break - is prefixed
with `'`, so `=HYPERLINK(…)` in a charge's description shows as text. A negative amount stays a number.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from datetime import UTC, date, datetime

from billing.domain.ledger import LedgerEntry

HEADER = (
    "created_at",
    "kind",
    "reference_id",
    "description",
    "amount",
    "balance_after",
    "category",
    "market",
    "country",
    "rate_card_id",
    "unit_price",
    "tier",
    "free_reason",
)
MEDIA_TYPE = "text/csv"  # Litestar adds "; charset=utf-8" to a text/ type
ROWS_PER_CHUNK = 200  # rows sent at once while streaming: one write per row would cost more than the rows

_FORMULA = ("=", "+", "-", "@")
_CONTROL = ("\t", "\r", "\n")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def safe_cell(value: str) -> str:
    """The cell as a spreadsheet will show it, never run it: a would-be formula gets a leading `'`."""
    if value.startswith(_CONTROL):
        return "'" + value
    stripped = value.lstrip(" ")
    if stripped.startswith(_FORMULA) and not _NUMBER.fullmatch(stripped):
        return "'" + value
    return value


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)  # Money as its wire form, enums as their value, UUIDs and ints as text


def cells(entry: LedgerEntry) -> list[str]:
    """One ledger row as the statement's cells, in `HEADER`'s order; a row without a price has empty price cells."""
    price = entry.price
    values: list[object] = [
        entry.created_at,
        entry.kind.value,
        entry.reference_id,
        entry.description,
        entry.amount,
        entry.balance_after,
    ]
    if price is None:
        values += [None] * 7
    else:
        free_reason = None if price.free_reason is None else price.free_reason.value
        values += [
            price.category.value,
            price.market,
            price.country,
            price.rate_card_id,
            price.unit_price,
            price.tier,
            free_reason,
        ]
    return [safe_cell(_text(value)) for value in values]


def csv_lines(rows: Iterable[Iterable[str]]) -> str:
    """Rows as CSV text, each line ended by CRLF."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


HEADER_LINE = csv_lines([HEADER])


async def statement_csv(
    entries: AsyncIterable[LedgerEntry], rows_per_chunk: int = ROWS_PER_CHUNK
) -> AsyncIterator[str]:
    """The statement's text in pieces: the header line, then the rows a chunk at a time, as they are read."""
    yield HEADER_LINE
    chunk: list[list[str]] = []
    async for entry in entries:
        chunk.append(cells(entry))
        if len(chunk) >= rows_per_chunk:
            yield csv_lines(chunk)
            chunk = []
    if chunk:
        yield csv_lines(chunk)


def attachment(tenant_id: str, first_day: date, last_day: date) -> str:
    """The Content-Disposition of a statement: a file named by tenant and period (tenant ids are `A-Za-z0-9_-`)."""
    return f'attachment; filename="statement-{tenant_id}-{first_day.isoformat()}-{last_day.isoformat()}.csv"'
