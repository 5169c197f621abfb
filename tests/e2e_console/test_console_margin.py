"""The operators' margin page on the console (contract v3 §15), through Litestar's test client: this UTC month by
tenant unless asked otherwise, the rows and their total as `GET /reports/margin` sums them, a chart drawn on the
server as inline SVG under the console's unchanged CSP, the same CSV as the API's, a bad range shown beside the
form, hostile market names escaped everywhere, and no page for clinics."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs
import pytest
from console_support import API, CLINIC, CLINIC_USER, OPERATOR, ROOT, bearer, error_detail, field_error, sign_in
from litestar.testing import AsyncTestClient
from money_support import APPROVER

from billing.application.caller import VIEW
from billing.application.service import BillingService
from billing.domain.margins import GroupBy, MarginReport, MarginRow
from billing.domain.money import Money
from billing.entrypoints.console.headers import CONTENT_SECURITY_POLICY
from billing.entrypoints.console.margin_chart import margin_chart

Client = AsyncTestClient[Any]
PAGE = "/console/margin"
OTHER = "clinic-b"
HOSTILE = '<script>alert("x")</script>'  # a market's name is text an operator typed
INDIA = "+919876543210"
USA = "+14155552671"
BRAZIL = "+5511987654321"  # "Other" on the price card, no cost market: uncosted
PRICE_MARKETS = {"IN": "India", "US": HOSTILE, "*": "Other"}
PRICES: list[dict[str, object]] = [
    {"market": "India", "category": "marketing", "unit_price": "0.0150"},
    {"market": HOSTILE, "category": "marketing", "unit_price": "0.0300"},
    {"market": "Other", "category": "marketing", "unit_price": "0.0150"},
]
COST_MARKETS = {"IN": "IN-Meta", "US": "US-Meta"}
COSTS: list[dict[str, object]] = [
    {"market": "IN-Meta", "category": "marketing", "unit_price": "0.0107"},
    {"market": "US-Meta", "category": "marketing", "unit_price": "0.0350"},  # more than its price: a loss
]
COLUMNS = ("messages", "billed", "cost", "margin", "uncosted", "uncosted_billed")


@pytest.fixture
async def messages(service: BillingService) -> None:
    """A price card and a cost card in force since yesterday, two funded clinics and, this UTC month: the clinic's
    India message (0.0150 billed, 0.0107 cost) and Brazil message (0.0150 billed, uncosted), the other's US message
    (0.0300 billed, 0.0350 cost)."""
    operator = service.acting_as(APPROVER)
    since = datetime.now(UTC) - timedelta(days=1)
    await operator.create_rate_card("Prices", since, PRICE_MARKETS, PRICES)
    await operator.create_rate_card("Meta", since, COST_MARKETS, COSTS, kind="cost")
    messaging = service.as_platform("messaging")
    for tenant, message_id, recipient in (
        (CLINIC, "wamid.in", INDIA),
        (CLINIC, "wamid.br", BRAZIL),
        (OTHER, "wamid.us", USA),
    ):
        await operator.adjust(tenant, "10.00", "funding", f"funding-{message_id}")
        await messaging.hold(tenant, message_id, "marketing", recipient)
        await messaging.settle(tenant, message_id)


def rows(page: str) -> dict[str, dict[str, str]]:
    """The table's rows by key (unescaped) and its total as "total", each cell by its column."""
    table = page[page.index('data-testid="margin"') :]
    found = re.findall(r'<tr data-(?:key|testid)="([^"]*)">(.*?)</tr>', table, re.S)
    shown = {}
    for key, cells in found:
        figures = re.findall(r'<t[dh] class="num[^"]*">([^<]*)</t[dh]>', cells)
        shown["total" if key == "margin-total" else html.unescape(key)] = dict(zip(COLUMNS, figures, strict=True))
    return shown


def svg(page: str) -> str:
    match = re.search(r"<svg .*?</svg>", page, re.S)
    assert match, "no chart on the page"
    return match.group(0)


def this_month() -> tuple[str, str]:
    today = datetime.now(UTC).date()
    first = today.replace(day=1)
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return first.isoformat(), last.isoformat()


# The page ---------------------------------------------------------------------------------------------------------


async def test_the_page_shows_this_months_margin_by_tenant_and_its_total(client: Client, messages: None) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    response = await client.get(PAGE)

    assert response.status_code == 200
    page = response.text
    assert 'href="/console/margin" aria-current="page">Margin<' in page  # in the operators' navigation
    first, last = this_month()
    assert f'name="from" type="date" value="{first}"' in page
    assert f'name="to" type="date" value="{last}"' in page
    assert '<option value="tenant" selected>' in page
    assert rows(page) == {
        CLINIC: {
            "messages": "2",
            "billed": "0.03",
            "cost": "0.0107",
            "margin": "0.0043",
            "uncosted": "1",
            "uncosted_billed": "0.015",
        },
        OTHER: {
            "messages": "1",
            "billed": "0.03",
            "cost": "0.035",
            "margin": "-0.005",
            "uncosted": "0",
            "uncosted_billed": "0.00",
        },
        "total": {
            "messages": "3",
            "billed": "0.06",
            "cost": "0.0457",
            "margin": "-0.0007",
            "uncosted": "1",
            "uncosted_billed": "0.015",
        },
    }
    assert f'<a href="/console/wallets/{CLINIC}">{CLINIC}</a>' in page


async def test_the_page_agrees_with_the_api(client: Client, messages: None) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    page = (await client.get(PAGE, params={"group_by": "category"})).text
    api = (await client.get(f"{API}/reports/margin", params={"group_by": "category"}, headers=bearer(OPERATOR))).json()

    shown = rows(page)
    assert shown.pop("total") == {name: str(value) for name, value in api["total"].items() if name != "key"}
    assert shown == {row.pop("key"): {name: str(value) for name, value in row.items()} for row in api["rows"]}


async def test_the_chart_draws_billed_and_cost_per_row_with_the_margin(client: Client, messages: None) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    chart = svg((await client.get(PAGE)).text)

    assert re.findall(r'<g class="chart-row" data-key="([^"]*)">', chart) == [CLINIC, OTHER]
    clinic, other = chart.split('<g class="chart-row"')[1:]
    assert '<text class="chart-margin" ' in clinic
    assert ">margin 0.0043</text>" in clinic
    assert 'class="chart-uncosted"' in clinic  # the Brazil message's share of the bar
    assert '<text class="chart-margin chart-loss" ' in other
    assert ">margin -0.005</text>" in other
    for bar in ("chart-billed", "chart-cost"):
        assert f'<rect class="{bar}" x=' in clinic
        assert f'<rect class="{bar}" x=' in other


async def test_the_page_keeps_the_consoles_csp_and_carries_no_inline_script_or_style(
    client: Client, messages: None
) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    response = await client.get(PAGE, params={"group_by": "market"})

    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    page = response.text
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/console/static/console.js" defer>']
    assert "<style" not in page
    assert not re.search(r"\sstyle=", page)
    assert not re.search(r"\son[a-z]+=", page)  # no event handler attributes


async def test_a_hostile_market_name_is_text_in_the_table_and_the_chart(client: Client, messages: None) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    page = (await client.get(PAGE, params={"group_by": "market"})).text

    escaped = html.escape(HOSTILE, quote=True)
    assert "<script>alert" not in page
    assert list(rows(page)) == [HOSTILE, "India", "Other", "total"]  # sorted by key, as the report is
    assert "<td>&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;</td>" in page  # Jinja's escaping
    chart = svg(page)
    assert f'data-key="{escaped}"' in chart
    assert f">{html.escape(HOSTILE[:25])}…</text>" in chart  # its label, cut short
    assert f"<title>{escaped}: billed 0.03 USD" in chart  # its tooltip


async def test_other_groupings_and_days(client: Client, messages: None) -> None:
    await sign_in(client, OPERATOR, user="operator-1")
    today = datetime.now(UTC).date().isoformat()

    by_day = (await client.get(PAGE, params={"from": today, "to": today, "group_by": "day"})).text
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    before = (await client.get(PAGE, params={"from": yesterday, "to": yesterday})).text

    assert list(rows(by_day)) == [today, "total"]
    assert rows(by_day)[today]["messages"] == "3"
    assert '<option value="day" selected>' in by_day
    assert 'data-testid="no-margin"' in before
    assert "<svg" not in before


# The CSV ----------------------------------------------------------------------------------------------------------


async def test_the_csv_link_downloads_the_apis_file(client: Client, messages: None) -> None:
    await sign_in(client, OPERATOR, user="operator-1")
    first, last = this_month()

    page = (await client.get(PAGE, params={"group_by": "market"})).text
    link = html.unescape(re.search(r'href="([^"]*)" data-testid="margin-csv"', page).group(1))  # type: ignore[union-attr]
    download = await client.get(link)
    api = await client.get(
        f"{API}/reports/margin.csv", params={"from": first, "to": last, "group_by": "market"}, headers=bearer(OPERATOR)
    )

    assert link == f"/console/margin.csv?from={first}&to={last}&group_by=market"
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("text/csv")
    assert download.headers["content-disposition"] == f'attachment; filename="margin-market-{first}-{last}.csv"'
    assert download.text == api.text
    assert download.text.splitlines()[0] == "key,messages,billed,cost,margin,uncosted,uncosted_billed"
    assert f"{API}/reports/margin.csv?from={first}" in page  # named for scripts, with a Bearer token


async def test_a_bad_range_for_the_csv_is_the_page_with_its_message(client: Client) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    response = await client.get("/console/margin.csv", params={"from": "2026-03-02", "to": "2026-03-01"})

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert field_error(response.text, "filters", "to") == "must not be before `from`"


# Refusals ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "2026-13-01"}, "from", "must be a date YYYY-MM-DD"),
        ({"to": "tomorrow"}, "to", "must be a date YYYY-MM-DD"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to", "must not be before `from`"),
        ({"from": "2025-01-01", "to": "2026-01-02"}, "to", "a report covers at most 366 days"),
        ({"group_by": "week"}, "group_by", "must be one of tenant, market, category, day"),
    ],
)
async def test_a_bad_range_is_a_message_beside_its_field(
    client: Client, params: dict[str, str], field: str, message: str
) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    response = await client.get(PAGE, params=params)

    assert response.status_code == 400
    assert field_error(response.text, "filters", field) == message
    assert 'data-testid="margin"' not in response.text
    days = {name: value for name, value in params.items() if name != "group_by"}  # a select keeps only its choices
    for name, value in days.items():  # the days as they were typed
        assert re.search(rf'name="{name}"[^>]* value="{value}"', response.text)


async def test_a_root_viewer_sees_the_margin(client: Client, messages: None) -> None:
    await sign_in(client, (ROOT, VIEW), user="viewer")

    response = await client.get(PAGE)

    assert response.status_code == 200
    assert rows(response.text)["total"]["messages"] == "3"


@pytest.mark.parametrize("path", [PAGE, "/console/margin.csv"])
async def test_a_clinic_is_refused_the_margin(client: Client, messages: None, path: str) -> None:
    await sign_in(client, CLINIC_USER, user="dr-ana")

    response = await client.get(path)

    assert response.status_code == 403
    assert "operators of the platform" in error_detail(response.text)
    assert "0.0107" not in response.text


async def test_a_clinics_navigation_has_no_margin(client: Client) -> None:
    await sign_in(client, CLINIC_USER, user="dr-ana")

    page = (await client.get("/console/wallet")).text

    assert 'href="/console/margin"' not in page


# The chart on its own ---------------------------------------------------------------------------------------------


def test_no_rows_no_chart_and_amounts_are_never_floats() -> None:
    today = datetime.now(UTC).date()
    usd = "USD"

    def money(text: str) -> Money:
        return Money(Decimal(text), usd)

    report = MarginReport(
        usd,
        today,
        today,
        GroupBy.MARKET,
        (MarginRow("a & b", 7, money("0.1000"), money("0.0300"), 0, money("0")),),
    )

    assert margin_chart(attrs.evolve(report, rows=())) == ""
    chart = margin_chart(report)
    assert 'data-key="a &amp; b"' in chart
    assert ">margin 0.07</text>" in chart
    assert 'width="460.0"' in chart  # the longest bar fills the area
