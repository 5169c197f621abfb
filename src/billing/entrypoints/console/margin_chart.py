"""The margin page's chart: one row per group, a bar of what was billed (its uncosted part apart) above a bar of what
Meta charged, and the margin written beside them.

Drawn here as inline SVG because the console's CSP allows no inline script or style: the markup carries no `style`
attribute and no `<style>` or `<script>` element; its colours are classes that console.css paints (`.chart-…`). A key
is text someone typed (a market's name on a card), so every piece of text is escaped for XML and HTML alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from html import escape

from billing.domain.margins import MarginReport, MarginRow
from billing.domain.money import Money

MAX_ROWS = 100  # the table lists every row; a year by day would make a chart nobody reads
LABEL_WIDTH = 190
BAR_AREA = 460  # the longest bar
FIGURE_WIDTH = 170  # the margin written after the longer bar
BAR_HEIGHT = 11
ROW_HEIGHT = 2 * BAR_HEIGHT + 14
LEGEND_HEIGHT = 30
MAX_LABEL = 26  # characters of a key shown as the row's label; the whole key is its tooltip
LEGEND = (
    ("chart-billed", "billed"),
    ("chart-uncosted", "billed, uncosted"),
    ("chart-cost", "cost"),
)


def margin_chart(report: MarginReport) -> str:
    """The chart of the report's first `MAX_ROWS` rows ('' without rows), as markup ready for the page."""
    rows = report.rows[:MAX_ROWS]
    if not rows:
        return ""
    top = max(max(row.billed.amount, row.cost.amount) for row in rows)
    width = LABEL_WIDTH + BAR_AREA + FIGURE_WIDTH
    height = LEGEND_HEIGHT + ROW_HEIGHT * len(rows)
    title = f"Billed and cost by {report.group_by.value}, {report.from_day.isoformat()} to {report.to_day.isoformat()}"
    return "".join(
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-testid="margin-chart" role="img"'
            f' aria-labelledby="margin-chart-title" width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
            f'<title id="margin-chart-title">{_text(title)}</title>',
            *_legend(),
            *(_row(row, index, top, report.currency) for index, row in enumerate(rows)),
            "</svg>",
        )
    )


def _legend() -> Iterator[str]:
    x = LABEL_WIDTH
    for css, label in LEGEND:
        yield f'<rect class="{css}" x="{x}" y="6" width="12" height="12"/>'
        yield f'<text class="chart-legend" x="{x + 17}" y="16">{_text(label)}</text>'
        x += 30 + 7 * len(label)


def _row(row: MarginRow, index: int, top: Decimal, currency: str) -> str:
    y = LEGEND_HEIGHT + ROW_HEIGHT * index
    costed = _length(row.billed - row.uncosted_billed, top)
    uncosted = _length(row.uncosted_billed, top)
    cost = _length(row.cost, top)
    middle = y + BAR_HEIGHT + 4
    loss = " chart-loss" if row.margin.is_negative else ""
    tooltip = (
        f"{row.key}: billed {row.billed} {currency}, cost {row.cost} {currency}, margin {row.margin} {currency}, "
        f"{row.uncosted} of {row.messages} messages uncosted"
    )
    return "".join(
        (
            f'<g class="chart-row" data-key="{_text(row.key)}"><title>{_text(tooltip)}</title>',
            f'<text class="chart-label" x="{LABEL_WIDTH - 8}" y="{middle}" text-anchor="end">{_text(_label(row.key))}'
            "</text>",
            _bar("chart-billed", LABEL_WIDTH, y, costed),
            _bar("chart-uncosted", LABEL_WIDTH + costed, y, uncosted),
            _bar("chart-cost", LABEL_WIDTH, y + BAR_HEIGHT + 2, cost),
            f'<text class="chart-margin{loss}" x="{LABEL_WIDTH + max(costed + uncosted, cost) + 6:.1f}" y="{middle}">'
            f"{_text(f'margin {row.margin}')}</text>",
            "</g>",
        )
    )


def _bar(css: str, x: float, y: int, length: float) -> str:
    if length <= 0:
        return ""
    return f'<rect class="{css}" x="{x:.1f}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}"/>'


def _length(amount: Money, top: Decimal) -> float:
    """A bar's length in pixels. Float only for geometry: every figure written on the page is the Decimal itself."""
    if top <= 0 or amount.amount <= 0:
        return 0.0
    return float(amount.amount / top) * BAR_AREA


def _label(key: str) -> str:
    return key if len(key) <= MAX_LABEL else key[: MAX_LABEL - 1] + "…"


def _text(value: str) -> str:
    """Text or an attribute's value, escaped (`&`, `<`, `>`, both quotes): the same in XML and in HTML."""
    return escape(value, quote=True)
