"""The statement's CSV (contract v2 §12): the header, one row per ledger entry, empty cells for nulls, and cells a
spreadsheet shows rather than runs."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

import attrs
import pytest

from billing.domain.ledger import EntryKind, LedgerEntry, PriceSnapshot
from billing.domain.money import Money
from billing.domain.pricing import Category, FreeReason
from billing.entrypoints.statement_csv import (
    HEADER,
    HEADER_LINE,
    attachment,
    cells,
    csv_lines,
    safe_cell,
    statement_csv,
)

CARD = UUID("7dcbf1db-a6ed-44df-87e9-8eaef8e71ab5")
HOLD = UUID("5afdcef4-3c7d-45d8-95da-bf5522a2ba23")
AT = datetime(2026, 11, 26, 12, 0, 0, 500000, tzinfo=UTC)


def usd(amount: str) -> Money:
    return Money(Decimal(amount), "USD")


def entry(
    kind: EntryKind = EntryKind.CHARGE,
    amount: str = "-0.0118",
    balance_after: str = "9.9882",
    reference_id: str | None = "wamid.1",
    description: str | None = "WhatsApp marketing message",
    price: PriceSnapshot | None = None,
) -> LedgerEntry:
    return LedgerEntry(
        id=UUID(int=1),
        wallet_id=UUID(int=2),
        tenant_id="clinic-a",
        kind=kind,
        amount=usd(amount),
        balance_after=usd(balance_after),
        reference_id=reference_id,
        description=description,
        created_at=AT,
        price=price,
    )


PRICE = PriceSnapshot(
    hold_id=HOLD,
    category=Category.MARKETING,
    market="India",
    country="IN",
    tier=1,
    rate_card_id=CARD,
    unit_price=usd("0.0118"),
    free_reason=None,
)


def test_the_header_line_is_exactly_the_contracts() -> None:
    assert HEADER_LINE == (
        "created_at,kind,reference_id,description,amount,balance_after,category,market,country,rate_card_id,"
        "unit_price,tier,free_reason\r\n"
    )
    assert len(HEADER) == 13


def test_a_message_charge_shows_its_price_snapshot() -> None:
    assert cells(entry(price=PRICE)) == [
        "2026-11-26T12:00:00.500000Z",
        "charge",
        "wamid.1",
        "WhatsApp marketing message",
        "-0.0118",
        "9.9882",
        "marketing",
        "India",
        "IN",
        str(CARD),
        "0.0118",
        "1",
        "",
    ]


def test_nulls_are_empty_cells() -> None:
    topup = entry(EntryKind.TOPUP, "150.00", "150.00", reference_id=None, description=None)

    assert cells(topup) == ["2026-11-26T12:00:00.500000Z", "topup", "", "", "150.00", "150.00", *[""] * 7]


def test_a_free_reason_and_a_whole_cent_amount_read_as_in_json() -> None:
    free = PriceSnapshot(HOLD, Category.UTILITY, "India", "IN", 11, CARD, usd("0.001"), FreeReason.FREE_ENTRY_POINT)

    row = cells(entry(amount="-1.50", balance_after="8.50", price=free))

    assert (row[4], row[5], row[10], row[11], row[12]) == ("-1.50", "8.50", "0.001", "11", "free_entry_point")


def test_a_time_in_another_zone_is_written_in_utc() -> None:
    row = cells(attrs.evolve(entry(), created_at=AT.astimezone(timezone(timedelta(hours=-3)))))

    assert row[0] == "2026-11-26T12:00:00.500000Z"


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ('=HYPERLINK("http://evil.example","click")', '\'=HYPERLINK("http://evil.example","click")'),
        ("=1+1", "'=1+1"),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("-", "'-"),
        ("+", "'+"),
        ("=", "'="),
        ("\t=1+1", "'\t=1+1"),
        ("\tplain", "'\tplain"),
        ("\r=1+1", "'\r=1+1"),
        ("\n=1+1", "'\n=1+1"),
        ("  =1+1", "'  =1+1"),  # a spreadsheet may trim the blanks first
        ("-1e5", "'-1e5"),  # only a plain decimal counts as a number
        ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
    ],
)
def test_a_would_be_formula_is_prefixed_with_a_quote(value: str, shown: str) -> None:
    assert safe_cell(value) == shown


@pytest.mark.parametrize(
    "value",
    ["-0.0118", "-150.00", "+14155552671", "150.00", "0", "-7", "", "wamid.=+-@", "a=b", "Ana @ clinic", "x\t=1"],
)
def test_numbers_and_ordinary_text_are_left_as_they_are(value: str) -> None:
    assert safe_cell(value) == value


def test_every_cell_of_a_row_is_made_safe() -> None:
    hostile = entry(
        reference_id="=cmd",
        description="@SUM(1)",
        price=PriceSnapshot(HOLD, Category.MARKETING, "=Evil market", "IN", 1, CARD, usd("0.0118"), None),
    )

    row = cells(hostile)

    assert (row[2], row[3], row[4], row[7]) == ("'=cmd", "'@SUM(1)", "-0.0118", "'=Evil market")


def test_commas_quotes_and_line_breaks_are_quoted_as_rfc_4180_says() -> None:
    row = cells(entry(description='Ana, "VIP"\nsecond line'))

    text = csv_lines([row])

    assert '"Ana, ""VIP""\nsecond line"' in text
    assert text.endswith("\r\n")
    assert next(csv.reader(io.StringIO(text)))[3] == 'Ana, "VIP"\nsecond line'


async def _entries(count: int) -> AsyncIterator[LedgerEntry]:
    for n in range(count):
        yield entry(reference_id=f"wamid.{n}")


async def test_the_statement_streams_the_header_then_the_rows_a_chunk_at_a_time() -> None:
    pieces = [piece async for piece in statement_csv(_entries(5), rows_per_chunk=2)]

    assert pieces[0] == HEADER_LINE
    assert [piece.count("\r\n") for piece in pieces[1:]] == [2, 2, 1]
    rows = list(csv.reader(io.StringIO("".join(pieces))))
    assert rows[0] == list(HEADER)
    assert [row[2] for row in rows[1:]] == [f"wamid.{n}" for n in range(5)]


async def test_an_empty_statement_is_its_header_line() -> None:
    assert [piece async for piece in statement_csv(_entries(0))] == [HEADER_LINE]


def test_the_attachment_is_named_by_tenant_and_period() -> None:
    assert attachment("clinic-a", date(2026, 11, 1), date(2026, 11, 30)) == (
        'attachment; filename="statement-clinic-a-2026-11-01-2026-11-30.csv"'
    )
