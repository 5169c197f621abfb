"""The margin report (contract v3 §15) as CSV, for an entry point that serves it (the console's download).

The same file as `GET /reports/margin.csv`: the rows (not the total), header `HEADER`, RFC 4180 with CRLF line ends,
amounts as the JSON's strings, spreadsheet-safe cells as in the statement (v2 §12: a market name is text someone
typed)."""

from __future__ import annotations

import csv
import io
from datetime import date

from billing.domain.margins import MarginReport, MarginRow
from billing.entrypoints.statement_csv import safe_cell

HEADER = ("key", "messages", "billed", "cost", "margin", "uncosted", "uncosted_billed")


def cells(row: MarginRow) -> tuple[str, ...]:
    """A row's cells in `HEADER`'s order: counts as integers, amounts as their Decimal strings."""
    return (
        row.key,
        str(row.messages),
        str(row.billed),
        str(row.cost),
        str(row.margin),
        str(row.uncosted),
        str(row.uncosted_billed),
    )


def margin_csv(report: MarginReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for row in report.rows:
        writer.writerow([safe_cell(cell) for cell in cells(row)])
    return out.getvalue()


def attachment(group_by: str, first_day: date, last_day: date) -> str:
    """The Content-Disposition of a report: a file named by its grouping and days (no user text in the name)."""
    return f'attachment; filename="margin-{group_by}-{first_day.isoformat()}-{last_day.isoformat()}.csv"'
