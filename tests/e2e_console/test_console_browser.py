"""The console in a real browser: Playwright driving Debian's Chromium against `billing serve`.

Each test gets its own server on a fresh database. A screenshot of every page under test goes to
test-output/screenshots/; BILLING_UPDATE_DOCS_SCREENSHOTS=1 also refreshes the README's two.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from console_support import (
    CLINIC,
    CLINIC_USER,
    OPERATOR,
    ConsoleServer,
    expired_token,
    publish_to_docs,
    screenshot_path,
    token,
)
from playwright.sync_api import BrowserContext, Dialog, Locator, Page, expect

from billing.entrypoints.console.session import SESSION_COOKIE

OTHER_CLINIC = "clinic-b"


@pytest.fixture
def contexts(browser: Any, server: ConsoleServer) -> Iterator[list[BrowserContext]]:
    """New browser contexts (separate cookie jars: a clinic and an operator side by side)."""
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


def shoot(page: Page, name: str) -> None:
    page.screenshot(path=screenshot_path(name), full_page=True)


def accept_dialogs(page: Page) -> list[str]:
    """Confirm every question the page asks; returns the questions, to assert on them."""
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return asked


def request_row(page: Page, text: str) -> Locator:
    return page.locator("tr[data-request-id]", has_text=text)


def request_topup(page: Page, amount: str, note: str = "") -> None:
    page.fill("#amount", amount)
    page.fill("#note", note)
    page.click("button:has-text('Request top-up')")


def test_a_clinic_tops_up_and_an_operator_approves_and_marks_it_paid(
    browser: Any, server: ConsoleServer, contexts: list[BrowserContext]
) -> None:
    clinic = open_page(browser, server, contexts)
    operator = open_page(browser, server, contexts)
    asked = accept_dialogs(operator)
    # Another clinic asks through the JSON API (Bearer token, no CSRF token: the API needs none).
    assert server.api(
        "POST", "/wallet/topup-requests", (OTHER_CLINIC, "Billing.View"), json={"amount": "75.00"}
    ).is_success

    # The clinic signs in and asks for two top-ups.
    clinic.goto("/console/sign-in")
    shoot(clinic, "01-sign-in")
    sign_in(clinic, CLINIC_USER, user="dr-ana")
    expect(clinic).to_have_url(f"{server.address}/console/wallet")
    expect(clinic.get_by_test_id("balance")).to_have_text("0.00 USD")
    expect(clinic.get_by_test_id("low-balance")).to_be_visible()
    request_topup(clinic, "150.00", "March campaign")
    expect(clinic.locator(".notice")).to_contain_text("Your top-up request was sent")
    request_topup(clinic, "40.00", "Extra")
    expect(request_row(clinic, "150.00 USD").locator(".badge")).to_have_text("pending")
    shoot(clinic, "02-wallet-requested")

    # The operator lands on the pending queue, filters by the clinic, approves one and rejects the other.
    sign_in(operator, OPERATOR, user="operator-1")
    expect(operator).to_have_url(f"{server.address}/console/topups")
    expect(operator.locator("#filter-status")).to_have_value("pending")
    expect(operator.locator("tr[data-request-id]")).to_have_count(3)
    shoot(operator, "03-topups-pending")
    operator.fill("#filter-tenant", CLINIC)
    operator.click("button:has-text('Filter')")
    expect(operator.locator("tr[data-request-id]")).to_have_count(2)
    approve = request_row(operator, "150.00 USD")
    approve.locator("input[name=note]").fill("Thanks!")
    approve.locator("button:has-text('Approve')").click()
    expect(operator.locator(".notice")).to_contain_text("Approved")
    assert asked[-1].startswith(f"Approve 150.00 USD for {CLINIC}?")
    reject = request_row(operator, "40.00 USD")
    reject.locator("input[name=reason]").fill("Duplicate of the March request")
    reject.locator("button:has-text('Reject')").click()
    expect(operator.locator(".notice")).to_contain_text("Rejected")
    expect(operator.locator("#filter-tenant")).to_have_value(CLINIC)  # the filter survives the action

    # The invoice: linked from the queue, with its number, line, total, status and due date.
    operator.select_option("#filter-status", "invoiced")
    operator.click("button:has-text('Filter')")
    invoiced = request_row(operator, "150.00 USD")
    expect(invoiced.locator(".badge")).to_have_text("invoiced")
    invoice_link = invoiced.locator("a[href^='/console/invoices/']")
    number = invoice_link.inner_text()
    assert number.startswith("TOP-")
    invoice_link.click()
    expect(operator.get_by_test_id("invoice-number")).to_have_text(number)
    expect(operator.get_by_test_id("total")).to_have_text("150.00 USD")
    expect(operator.locator("h1 .badge")).to_have_text("issued")
    expect(operator.get_by_test_id("due-date")).to_have_text(server_due_date(operator))
    expect(operator.locator("tbody")).to_contain_text("WhatsApp wallet top-up")
    shoot(operator, "04-invoice")
    operator.go_back()

    # Mark paid with a payment reference, then look at everything.
    invoiced = request_row(operator, "150.00 USD")
    invoiced.locator("input[name=payment_reference]").fill("bank-2026-0042")
    invoiced.locator("button:has-text('Mark paid')").click()
    expect(operator.locator(".notice")).to_contain_text("Marked paid")
    assert asked[-1].startswith(f"Mark {number} as paid?")
    operator.fill("#filter-tenant", "")
    operator.select_option("#filter-status", "all")
    operator.click("button:has-text('Filter')")
    expect(request_row(operator, "150.00 USD").locator(".badge")).to_have_text("completed")
    expect(request_row(operator, "40.00 USD").locator(".badge")).to_have_text("rejected")
    expect(request_row(operator, "75.00 USD").locator(".badge")).to_have_text("pending")
    shoot(operator, "05-topups-all")
    publish_to_docs(screenshot_path("05-topups-all"), "console-topups.png")

    # The clinic sees its new balance, the completed request with its invoice, and the ledger row.
    clinic.goto("/console/wallet")
    expect(clinic.get_by_test_id("balance")).to_have_text("150.00 USD")
    expect(clinic.get_by_test_id("low-balance")).to_have_count(0)
    completed = request_row(clinic, "150.00 USD")
    expect(completed.locator(".badge")).to_have_text("completed")
    expect(completed.locator("a")).to_have_text(number)
    expect(request_row(clinic, "40.00 USD")).to_contain_text("Reason: Duplicate of the March request")
    expect(clinic.get_by_test_id("ledger")).to_contain_text("+150.00")
    shoot(clinic, "06-wallet-paid")
    publish_to_docs(screenshot_path("06-wallet-paid"), "console-wallet.png")

    # The clinic's own view of the paid invoice.
    completed.locator("a").click()
    expect(clinic.locator("h1 .badge")).to_have_text("paid")
    expect(clinic.locator(".facts")).to_contain_text("bank-2026-0042")
    expect(clinic.locator("form[action$='/mark-paid']")).to_have_count(0)
    shoot(clinic, "07-invoice-paid-clinic")


def server_due_date(page: Page) -> str:
    """Issue date + 14 days (the default), as the page's own 'Issued' fact says."""
    issued = page.locator(".facts div", has_text="Issued").locator("dd").inner_text()
    return (date.fromisoformat(issued[:10]) + timedelta(days=14)).isoformat()


def test_an_invalid_amount_shows_the_apis_message_beside_the_field(
    browser: Any, server: ConsoleServer, contexts: list[BrowserContext]
) -> None:
    clinic = open_page(browser, server, contexts)
    sign_in(clinic, CLINIC_USER, user="dr-ana")
    api = server.api("POST", "/wallet/topup-requests", CLINIC_USER, json={"amount": "12.345"})

    request_topup(clinic, "12.345", "typo")

    error = clinic.locator("#topup-amount-error")
    expect(error).to_have_text(api.json()["errors"][0]["message"])  # the API's words, beside the field
    expect(clinic.locator("#amount")).to_have_attribute("aria-invalid", "true")
    expect(clinic.locator("#amount")).to_have_value("12.345")
    expect(clinic.locator("#note")).to_have_value("typo")
    shoot(clinic, "08-wallet-invalid-amount")
    request_topup(clinic, "0.50")
    expect(error).to_have_text("must be at least 1.00")
    expect(clinic.locator("[data-testid=requests]")).to_have_count(0)  # nothing was requested


def test_a_clinic_cannot_reach_the_operator_page(
    browser: Any, server: ConsoleServer, contexts: list[BrowserContext]
) -> None:
    clinic = open_page(browser, server, contexts)
    sign_in(clinic, CLINIC_USER, user="dr-ana")
    expect(clinic.locator("nav a", has_text="Top-ups")).to_have_count(0)

    response = clinic.goto("/console/topups")

    assert response is not None
    assert response.status == 403
    expect(clinic.locator("h1")).to_have_text("This action is not allowed")
    expect(clinic.get_by_test_id("error-detail")).to_contain_text("for operators of the platform")
    shoot(clinic, "09-topups-forbidden")


def test_a_forged_post_without_the_csrf_token_is_refused(
    browser: Any, server: ConsoleServer, contexts: list[BrowserContext]
) -> None:
    clinic = open_page(browser, server, contexts)
    sign_in(clinic, CLINIC_USER, user="dr-ana")
    # The browser's own cookies, but a form that lost its CSRF field.
    clinic.eval_on_selector("form[action$='/topup-requests'] input[name=_csrf_token]", "field => field.remove()")

    with clinic.expect_response("**/console/wallet/topup-requests") as posted:
        request_topup(clinic, "50.00")

    assert posted.value.status == 403
    expect(clinic.get_by_test_id("error-detail")).to_contain_text("could not be verified")
    shoot(clinic, "10-csrf-refused")
    # A scripted POST with the session cookie but no token is refused too, and nothing was requested.
    assert clinic.request.post("/console/wallet/topup-requests", form={"amount": "50.00"}).status == 403
    assert server.api("GET", "/wallet/topup-requests/me", CLINIC_USER).json()["total"] == 0


def test_an_expired_token_returns_to_sign_in(
    browser: Any, server: ConsoleServer, contexts: list[BrowserContext]
) -> None:
    clinic = open_page(browser, server, contexts)
    sign_in(clinic, CLINIC_USER, user="dr-ana")
    expect(clinic).to_have_url(f"{server.address}/console/wallet")
    clinic.context.add_cookies(
        [
            {
                "name": SESSION_COOKIE,
                "value": expired_token(*CLINIC_USER, user="dr-ana"),
                "domain": "127.0.0.1",
                "path": "/console",
                "secure": True,
                "httpOnly": True,
                "sameSite": "Strict",
            }
        ]
    )

    clinic.goto("/console/wallet")

    expect(clinic).to_have_url(f"{server.address}/console/sign-in?reason=expired")
    expect(clinic.locator(".notice")).to_have_text("Your sign-in has expired. Paste a new token to continue.")
    assert SESSION_COOKIE not in {cookie["name"] for cookie in clinic.context.cookies()}
    shoot(clinic, "11-sign-in-expired")


def test_an_invalid_token_is_explained_on_the_sign_in_page(
    browser: Any, server: ConsoleServer, contexts: list[BrowserContext]
) -> None:
    page = open_page(browser, server, contexts)
    page.goto("/console/sign-in")

    page.fill("#token", "eyJhbGciOiJub25lIn0.e30.")
    page.click("button:has-text('Sign in')")

    expect(page.locator("#token-error")).to_contain_text(
        "This token was not accepted: the token must be signed with HS256"
    )
    assert SESSION_COOKIE not in {cookie["name"] for cookie in page.context.cookies()}
    shoot(page, "12-sign-in-invalid")


def test_the_confirmation_guards_an_action_and_sign_out_ends_the_session(
    browser: Any, server: ConsoleServer, contexts: list[BrowserContext]
) -> None:
    clinic = open_page(browser, server, contexts)
    sign_in(clinic, CLINIC_USER, user="dr-ana")
    request_topup(clinic, "30.00")
    row = request_row(clinic, "30.00 USD")

    clinic.once("dialog", lambda dialog: dialog.dismiss())
    row.locator("button:has-text('Cancel')").click()
    clinic.wait_for_timeout(300)  # long enough for a submission that should not have happened
    expect(row.locator(".badge")).to_have_text("pending")  # dismissed: nothing happened
    assert server.api("GET", "/wallet/topup-requests/me", CLINIC_USER).json()["items"][0]["status"] == "pending"
    clinic.once("dialog", lambda dialog: dialog.accept())
    row.locator("button:has-text('Cancel')").click()
    expect(clinic.locator(".notice")).to_have_text("The top-up request was cancelled.")
    expect(request_row(clinic, "30.00 USD").locator(".badge")).to_have_text("cancelled")

    clinic.click("button:has-text('Sign out')")
    expect(clinic.locator(".notice")).to_have_text("You have signed out.")
    clinic.goto("/console/wallet")
    expect(clinic).to_have_url(f"{server.address}/console/sign-in?reason=required")
