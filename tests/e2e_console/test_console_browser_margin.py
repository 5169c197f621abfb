"""The operators' margin page in a real browser: Playwright driving Debian's Chromium against `billing serve` (a fresh
database), the cards and messages made through the same server's JSON API. The chart is inline SVG painted by the
console's stylesheet; the page runs under the console's CSP without a violation, and a market's name that is markup
stays text. Screenshots go to test-output/screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from browser_support import call, open_page, shoot, sign_in
from console_support import CLINIC, CLINIC_USER, OPERATOR, ConsoleServer
from playwright.sync_api import BrowserContext, ConsoleMessage, expect

PLATFORM = OPERATOR  # the messaging module holds and settles as the platform (root + Manage)
HOSTILE = "<img src=x onerror=alert(1)>"  # a market's name is text an operator typed
US_NUMBER = "+14155552671"
PRICE_MARKETS = {"US": HOSTILE, "*": "Other"}
PRICES = [
    {"market": market, "category": category, "unit_price": price}
    for market in (HOSTILE, "Other")
    for category, price in (("utility", "0.30"), ("marketing", "0.90"))
]
COST_MARKETS = {"US": "US-Meta"}
COSTS = [
    {"market": "US-Meta", "category": "utility", "unit_price": "0.10"},
    {"market": "US-Meta", "category": "marketing", "unit_price": "0.25"},
]
BRAND_BLUE = "rgb(40, 86, 201)"  # console.css's --brand: the billed bars are painted from the stylesheet


def messages_of_the_month(server: ConsoleServer) -> None:
    """A price card and a cost card in force since yesterday, a paid top-up, and two messages settled now:
    utility (0.30 billed, 0.10 cost) and marketing (0.90 billed, 0.25 cost)."""
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    for name, kind, markets, rates in (
        ("Prices", "price", PRICE_MARKETS, PRICES),
        ("Meta", "cost", COST_MARKETS, COSTS),
    ):
        card = {"name": name, "kind": kind, "currency": "USD", "effective_from": since, "markets": markets}
        call(server, "POST", "/rate-cards", OPERATOR, json={**card, "rates": rates})
    request = call(server, "POST", "/wallet/topup-requests", CLINIC_USER, json={"amount": "20.00"})
    approved = call(server, "POST", f"/wallet/topup-requests/{request['id']}/approve", OPERATOR, json={})
    paid = {"payment_reference": "bank-1"}
    call(server, "POST", f"/invoices/{approved['invoice_id']}/mark-paid", OPERATOR, json=paid)
    for message_id, category in (("wamid.reminder", "utility"), ("wamid.campaign", "marketing")):
        body = {"message_id": message_id, "category": category, "recipient": US_NUMBER}
        call(server, "POST", f"/wallets/{CLINIC}/holds", PLATFORM, json=body)
        call(server, "POST", f"/wallets/{CLINIC}/holds/settle", PLATFORM, json={"message_id": message_id})


def test_an_operator_reads_the_months_margin_as_a_chart_a_table_and_a_csv(
    browser: Any, server: ConsoleServer, contexts: list[BrowserContext]
) -> None:
    messages_of_the_month(server)
    operator = open_page(browser, server, contexts)
    complaints: list[str] = []  # CSP violations and script errors: the browser says them on its console

    def heard(message: ConsoleMessage) -> None:
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            complaints.append(f"{message.text} ({message.location.get('url')})")

    operator.on("console", heard)
    operator.on("pageerror", lambda error: complaints.append(str(error)))
    operator.on("dialog", lambda dialog: complaints.append(f"a dialog ran: {dialog.message}"))

    # From the operators' navigation: this UTC month by tenant.
    sign_in(operator, OPERATOR, user="operator-1")
    operator.click("nav >> text=Margin")
    expect(operator).to_have_url(f"{server.address}/console/margin")
    expect(operator.locator("#margin-group-by")).to_have_value("tenant")
    row = operator.locator(f'table[data-testid="margin"] tr[data-key="{CLINIC}"] td')
    expect(row).to_have_text([CLINIC, "2", "1.20", "0.35", "0.85", "0", "0.00"])
    chart = operator.get_by_test_id("margin-chart")
    expect(chart).to_be_visible()
    billed = chart.locator("rect.chart-billed").nth(1)  # the legend's swatch comes first
    expect(billed).to_be_visible()
    assert billed.evaluate("bar => getComputedStyle(bar).fill") == BRAND_BLUE
    expect(chart.locator("text.chart-margin")).to_have_text(["margin 0.85"])
    shoot(operator, "27-margin-by-tenant")

    # By market: the market's name is shown as the text it is, never run.
    operator.select_option("#margin-group-by", "market")
    operator.click("button:has-text('Show')")
    expect(operator.locator('table[data-testid="margin"] tbody td:first-child')).to_have_text([HOSTILE])
    expect(chart.locator("g.chart-row text.chart-label")).to_have_text([HOSTILE[:25] + "…"])  # a long key: cut
    assert operator.locator("table img, svg img").count() == 0
    shoot(operator, "28-margin-by-market")

    # The CSV of what is shown.
    with operator.expect_download() as downloading:
        operator.get_by_test_id("margin-csv").click()
    download = downloading.value
    assert download.suggested_filename.startswith("margin-market-")
    lines = Path(download.path()).read_text(encoding="utf-8").splitlines()
    assert lines == ["key,messages,billed,cost,margin,uncosted,uncosted_billed", f"{HOSTILE},2,1.20,0.35,0.85,0,0.00"]

    assert complaints == []

    # A bad range is a message beside the field (a 400: the browser notes the status, nothing else).
    operator.fill("#margin-from", "2026-03-02")
    operator.fill("#margin-to", "2026-03-01")
    operator.click("button:has-text('Show')")
    expect(operator.locator("#filters-to-error")).to_have_text("must not be before `from`")
