"""The operators' top-up queue in a real browser: Playwright driving Debian's Chromium against `billing serve` (a
fresh database). Its KPI strip shows what the JSON API's lists of the same server say, and an unpaid top-up invoice
is voided from the queue (a confirmation, a reason): the invoice void, its request cancelled, the strip updated.
Screenshots go to test-output/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from console_support import CLINIC, OPERATOR, ConsoleServer, screenshot_path, token
from playwright.sync_api import BrowserContext, Dialog, Locator, Page, expect

OTHER_CLINIC = "clinic-b"
REASON = "Issued for the wrong amount"
CARDS = ("pending", "invoiced", "paid")


@pytest.fixture
def contexts(browser: Any, server: ConsoleServer) -> Iterator[list[BrowserContext]]:
    opened: list[BrowserContext] = []
    try:
        yield opened
    finally:
        for context in opened:
            context.close()


def open_page(browser: Any, server: ConsoleServer, contexts: list[BrowserContext]) -> Page:
    context: BrowserContext = browser.new_context(base_url=server.address, viewport={"width": 1280, "height": 800})
    contexts.append(context)
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def sign_in(page: Page, who: tuple[str, ...], user: str) -> None:
    page.goto("/console/sign-in")
    page.fill("#token", token(*who, user=user))
    page.click("button:has-text('Sign in')")


def answer_next_dialog(page: Page, accept: bool) -> list[str]:
    """Answer the page's next confirmation; returns the list its question is put in."""
    asked: list[str] = []

    def answer(dialog: Dialog) -> None:
        asked.append(dialog.message)
        if accept:
            dialog.accept()
        else:
            dialog.dismiss()

    page.once("dialog", answer)
    return asked


def call(server: ConsoleServer, method: str, path: str, who: tuple[str, ...], **options: Any) -> dict[str, Any]:
    response = server.api(method, path, who, **options)
    assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    return body


def request(server: ConsoleServer, tenant: str, amount: str) -> str:
    """A pending request, asked through the API by one of the tenant's users; its id."""
    created = call(server, "POST", "/wallet/topup-requests", (tenant, "Billing.View"), json={"amount": amount})
    return str(created["id"])


def approve(server: ConsoleServer, tenant: str, amount: str) -> dict[str, Any]:
    return call(server, "POST", f"/wallet/topup-requests/{request(server, tenant, amount)}/approve", OPERATOR, json={})


def pay(server: ConsoleServer, tenant: str, amount: str) -> None:
    invoice_id = approve(server, tenant, amount)["invoice_id"]
    reference = {"payment_reference": f"bank-{invoice_id[:8]}"}
    call(server, "POST", f"/invoices/{invoice_id}/mark-paid", OPERATOR, json=reference)


def api_figures(server: ConsoleServer) -> dict[str, tuple[str, str]]:
    """The strip's figures from the API's lists, every page: `GET /wallet/topup-requests?status=` (the paid ones
    completed in this UTC month)."""

    def every(status: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"status": status, "page": page, "page_size": 2}
            body = call(server, "GET", "/wallet/topup-requests", OPERATOR, params=params)
            found += body["items"]
            if len(found) >= body["total"]:
                return found
            page += 1

    def tally(items: list[dict[str, Any]]) -> tuple[str, str]:
        return str(len(items)), f"{sum((Decimal(i['amount']) for i in items), Decimal('0')):.2f} USD"

    month = datetime.now(UTC).strftime("%Y-%m")
    paid = [i for i in every("completed") if i["completed_at"].startswith(month)]
    return {"pending": tally(every("pending")), "invoiced": tally(every("invoiced")), "paid": tally(paid)}


def strip(page: Page) -> dict[str, tuple[str, str]]:
    def text(testid: str) -> str:
        return page.get_by_test_id(testid).inner_text()

    return {card: (text(f"kpi-{card}-count"), text(f"kpi-{card}-total")) for card in CARDS}


def expect_strip(page: Page, figures: dict[str, tuple[str, str]]) -> None:
    for card, (count, total) in figures.items():
        expect(page.get_by_test_id(f"kpi-{card}-count")).to_have_text(count)
        expect(page.get_by_test_id(f"kpi-{card}-total")).to_have_text(total)


def request_row(page: Page, text: str) -> Locator:
    return page.locator("tr[data-request-id]", has_text=text)


def test_the_kpi_strip_matches_the_api_and_an_operator_voids_an_unpaid_invoice(
    browser: Any, server: ConsoleServer, contexts: list[BrowserContext]
) -> None:
    # Two clinics' requests in every state, through the JSON API (more than one page of each list at page_size 2).
    for tenant, amount in ((CLINIC, "150.00"), (CLINIC, "25.50"), (OTHER_CLINIC, "10.00")):
        request(server, tenant, amount)
    invoice = approve(server, CLINIC, "40.00")
    for tenant, amount in ((OTHER_CLINIC, "60.25"), (CLINIC, "12.00")):
        approve(server, tenant, amount)
    for tenant, amount in ((CLINIC, "70.00"), (OTHER_CLINIC, "30.00")):
        pay(server, tenant, amount)
    rejected = request(server, CLINIC, "5.00")
    call(server, "POST", f"/wallet/topup-requests/{rejected}/reject", OPERATOR, json={"reason": "Duplicate"})

    # The operator lands on the queue: the strip says what the API's lists say.
    operator = open_page(browser, server, contexts)
    sign_in(operator, OPERATOR, user="operator-1")
    expect(operator).to_have_url(f"{server.address}/console/topups")
    expected = {"pending": ("3", "185.50 USD"), "invoiced": ("3", "112.25 USD"), "paid": ("2", "100.00 USD")}
    assert api_figures(server) == expected
    expect_strip(operator, expected)
    assert strip(operator) == api_figures(server)
    operator.screenshot(path=screenshot_path("20-topups-kpi-strip"), full_page=True)

    # The invoiced card opens the unpaid requests.
    operator.get_by_test_id("kpi-invoiced").click()
    expect(operator.locator("#filter-status")).to_have_value("invoiced")
    expect(operator.locator("tr[data-request-id]")).to_have_count(3)
    row = request_row(operator, "40.00 USD")
    expect(row.locator("a[href^='/console/invoices/']")).to_have_text(invoice["invoice_number"])

    # A dismissed confirmation voids nothing.
    row.locator("input[name=reason]").fill(REASON)
    asked = answer_next_dialog(operator, accept=False)
    row.locator("button:has-text('Void invoice')").click()
    operator.wait_for_timeout(300)  # long enough for a submission that should not have happened
    assert asked == [
        f"Void {invoice['invoice_number']}? {CLINIC}'s request for 40.00 USD is cancelled, "
        "and the invoice cannot be paid."
    ]
    expect(operator.locator(".notice")).to_have_count(0)
    assert call(server, "GET", f"/invoices/{invoice['invoice_id']}", OPERATOR)["status"] == "issued"

    # No reason: the API's message beside the field, nothing voided.
    row.locator("input[name=reason]").fill("")
    answer_next_dialog(operator, accept=True)
    row.locator("button:has-text('Void invoice')").click()
    refused = server.api("POST", f"/invoices/{invoice['invoice_id']}/void", OPERATOR, json={"reason": ""})
    assert refused.status_code == 400
    error = operator.locator(f"[id='{invoice['invoice_id']}-reason-error']")  # an id may start with a digit
    expect(error).to_have_text(refused.json()["errors"][0]["message"])
    assert call(server, "GET", f"/invoices/{invoice['invoice_id']}", OPERATOR)["status"] == "issued"

    # Confirmed with a reason: the invoice is void, its request cancelled, the strip one fewer unpaid.
    row = request_row(operator, "40.00 USD")
    row.locator("input[name=reason]").fill(REASON)
    answer_next_dialog(operator, accept=True)
    row.locator("button:has-text('Void invoice')").click()
    expect(operator.locator(".notice")).to_have_text("Voided: the invoice is void and the clinic's request cancelled.")
    expect(operator.locator("#filter-status")).to_have_value("invoiced")
    expect(operator.locator("tr[data-request-id]")).to_have_count(2)
    voided = call(server, "GET", f"/invoices/{invoice['invoice_id']}", OPERATOR)
    assert (voided["status"], voided["void_reason"]) == ("void", REASON)
    cancelled = call(server, "GET", f"/wallet/topup-requests/{invoice['id']}", OPERATOR)
    assert cancelled["status"] == "cancelled"
    expected["invoiced"] = ("2", "72.25 USD")
    expect_strip(operator, expected)
    assert strip(operator) == api_figures(server)
    operator.screenshot(path=screenshot_path("21-topups-voided"), full_page=True)

    # The queue of cancelled requests shows it, with its voided invoice.
    operator.select_option("#filter-status", "cancelled")
    operator.click("button:has-text('Filter')")
    cancelled_row = request_row(operator, "40.00 USD")
    expect(cancelled_row.locator(".badge")).to_have_text("cancelled")
    cancelled_row.locator("a[href^='/console/invoices/']").click()
    expect(operator.get_by_test_id("invoice-number")).to_have_text(invoice["invoice_number"])
    expect(operator.locator("h1 .badge")).to_have_text("void")
    expect(operator.locator("button:has-text('Void invoice')")).to_have_count(0)
