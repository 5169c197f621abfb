"""Money that goes wrong after the fact (contract v3 §19) and the audit trail (§20) in a real browser: Playwright
driving Debian's Chromium against `billing serve` (a fresh database), the money and messages made through the same
server's JSON API. A bounced payment reversed from its invoice (a reason and a ticked confirmation) leaves the clinic
in debt; under four eyes an adjustment proposed by one operator is approved by another; the audit page filtered by
action shows those rows. Screenshots go to test-output/screenshots/; BILLING_UPDATE_DOCS_SCREENSHOTS=1 also copies
three to docs/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from browser_support import call, open_page, shoot, sign_in
from console_support import (
    CLINIC,
    CLINIC_USER,
    OPERATOR,
    ConsoleServer,
    publish_to_docs,
)
from playwright.sync_api import BrowserContext, Dialog, Page, expect
from wallet_support import MARKETS, RATES, US_NUMBER

PLATFORM = OPERATOR  # the messaging module holds and settles as the platform (root + Manage)
BOUNCED = "Transfer returned by the bank: account closed"


@pytest.fixture
def four_eyes_server(database_url: str) -> Iterator[ConsoleServer]:
    """`billing serve` with BILLING_FOUR_EYES=true."""
    served = ConsoleServer(database_url, BILLING_FOUR_EYES="true")
    try:
        served.wait_ready()
        yield served
    finally:
        served.stop()


def accept_dialogs(page: Page) -> list[str]:
    """Confirm every question the page asks; returns the questions, to assert on them."""
    asked: list[str] = []

    def accept(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    return asked


def hold(server: ConsoleServer, message_id: str, category: str) -> Any:
    body = {"message_id": message_id, "category": category, "recipient": US_NUMBER}
    return server.api("POST", f"/wallets/{CLINIC}/holds", PLATFORM, json=body)


def paid_and_partly_spent(server: ConsoleServer) -> None:
    """A rate card in force; 20.00 asked, approved and paid; a marketing message (0.90) held and settled."""
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    card = {"name": "Browser test card", "currency": "USD", "effective_from": since, "markets": MARKETS, "rates": RATES}
    call(server, "POST", "/rate-cards", OPERATOR, json=card)
    request = call(server, "POST", "/wallet/topup-requests", CLINIC_USER, json={"amount": "20.00", "note": "May"})
    approved = call(server, "POST", f"/wallet/topup-requests/{request['id']}/approve", OPERATOR, json={})
    paid = {"payment_reference": "bank-2026-0042"}
    call(server, "POST", f"/invoices/{approved['invoice_id']}/mark-paid", OPERATOR, json=paid)
    assert hold(server, "wamid.campaign", "marketing").status_code == 201
    call(server, "POST", f"/wallets/{CLINIC}/holds/settle", PLATFORM, json={"message_id": "wamid.campaign"})


def test_an_operator_reverses_a_bounced_payment_and_the_clinic_sees_its_debt(
    browser: Any, server: ConsoleServer, contexts: list[BrowserContext]
) -> None:
    paid_and_partly_spent(server)  # 20.00 paid, 0.90 spent: 19.10 available

    # From the queue's completed requests to the invoice, whose payment bounced.
    operator = open_page(browser, server, contexts)
    sign_in(operator, OPERATOR, user="operator-1")
    operator.select_option("#filter-status", "completed")
    operator.click("button:has-text('Filter')")
    operator.get_by_test_id("reverse-link").click()
    expect(operator.locator("h1 .badge")).to_have_text("paid")

    # A reason without the tick is refused beside the checkbox, the reason kept; ticked, it is reversed.
    operator.fill("#reverse-reason", BOUNCED)
    operator.click("button:has-text('Reverse payment')")
    expect(operator.locator("#reverse-confirm-error")).to_have_text(
        "tick the box to confirm that the bank transfer bounced"
    )
    expect(operator.locator("#reverse-reason")).to_have_value(BOUNCED)
    expect(operator.locator("h1 .badge")).to_have_text("paid")
    operator.check("#reverse-confirm")
    operator.click("button:has-text('Reverse payment')")
    expect(operator.locator(".notice")).to_contain_text("Payment reversed")
    expect(operator.locator("h1 .badge")).to_have_text("payment_reversed")
    expect(operator.get_by_test_id("reversed-by")).to_have_text("operator-1")
    expect(operator.get_by_test_id("reversed-amount")).to_have_text("19.10 USD")
    expect(operator.get_by_test_id("debt-added")).to_have_text("0.90 USD")
    expect(operator.get_by_test_id("reversal-reason")).to_have_text(f"Reason: {BOUNCED}")
    expect(operator.locator("form[action$='/reverse-payment']")).to_have_count(0)
    publish_to_docs(shoot(operator, "22-invoice-payment-reversed"), "console-invoice-reversed.png")

    # The operators' wallet page shows the debt; billable messages are refused until it is repaid.
    operator.click(f'a:has-text("{CLINIC}\'s wallet")')
    expect(operator.get_by_test_id("debt")).to_have_text("0.90 USD")
    expect(operator.get_by_test_id("available")).to_have_text("0.00 USD")
    expect(operator.get_by_test_id("debt-note")).to_contain_text("Billable messages are refused")
    refused = hold(server, "wamid.after-reversal", "utility")
    assert (refused.status_code, refused.json()["code"]) == (409, "wallet_in_debt")

    # The clinic sees its debt and how to clear it, and its request reversed.
    clinic = open_page(browser, server, contexts)
    sign_in(clinic, CLINIC_USER, user="dr-ana")
    expect(clinic.get_by_test_id("debt")).to_have_text("0.90 USD")
    expect(clinic.get_by_test_id("debt-note")).to_contain_text(
        "Request a top-up: money that comes in repays the debt first."
    )
    expect(clinic.locator("tr[data-request-id] .badge")).to_have_text("reversed")
    publish_to_docs(shoot(clinic, "23-wallet-debt"), "console-wallet-debt.png")


def test_under_four_eyes_one_operator_proposes_an_adjustment_and_another_approves_it(
    browser: Any, four_eyes_server: ConsoleServer, contexts: list[BrowserContext]
) -> None:
    server = four_eyes_server
    proposer = open_page(browser, server, contexts)
    asked = accept_dialogs(proposer)
    sign_in(proposer, OPERATOR, user="operator-1")

    # From the tenant's wallet to its adjustments; the page says an adjustment waits for another operator.
    proposer.goto(f"/console/wallets/{CLINIC}")
    proposer.get_by_test_id("adjustments-link").click()
    expect(proposer).to_have_url(f"{server.address}/console/wallets/{CLINIC}/adjustments")
    expect(proposer.get_by_test_id("four-eyes")).to_contain_text("Four eyes are on")
    reference = proposer.locator("#adjust-reference").input_value()
    assert len(reference) == 36  # a fresh UUID

    # A malformed amount is refused beside the field; a good one is proposed, and waits.
    proposer.fill("#adjust-amount", "twelve")
    proposer.fill("#adjust-reason", "Goodwill credit for the outage of 3 March")
    proposer.click("button:has-text('Propose')")
    expect(proposer.locator("#propose-amount-error")).to_be_visible()
    expect(proposer.locator("#adjust-reference")).to_have_value(reference)
    proposer.fill("#adjust-amount", "12.50")
    proposer.click("button:has-text('Propose')")
    expect(proposer.locator(".notice")).to_contain_text("Proposed: another operator approves it")
    assert asked[-1] == f"Propose this adjustment of {CLINIC}'s wallet?"
    row = proposer.locator("tr[data-adjustment-id]")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("adjustment-status")).to_have_text("proposed")
    expect(row.get_by_test_id("adjustment-amount")).to_have_text("+12.50")
    expect(row.get_by_test_id("awaiting-other")).to_be_visible()
    expect(row.locator("button:has-text('Approve')")).to_have_count(0)
    expect(proposer.get_by_test_id("available")).to_have_text("0.00 USD")

    # Another operator approves it: applied, and the wallet has the money.
    approver = open_page(browser, server, contexts)
    approver_asked = accept_dialogs(approver)
    sign_in(approver, OPERATOR, user="operator-2")
    approver.goto(f"/console/wallets/{CLINIC}/adjustments")
    approver.select_option("#filter-status", "proposed")
    approver.click("button:has-text('Filter')")
    approver.locator("tr[data-adjustment-id] button:has-text('Approve')").click()
    expect(approver.locator(".notice")).to_contain_text("Applied")
    assert approver_asked == [f"Apply +12.50 USD to {CLINIC}'s wallet?"]
    expect(approver.locator("#filter-status")).to_have_value("proposed")  # the filter survives the action
    expect(approver.get_by_test_id("no-adjustments")).to_be_visible()
    approver.select_option("#filter-status", "all")
    approver.click("button:has-text('Filter')")
    approved = approver.locator("tr[data-adjustment-id]")
    expect(approved.get_by_test_id("adjustment-status")).to_have_text("applied")
    expect(approved).to_contain_text("by operator-2")
    expect(approver.get_by_test_id("available")).to_have_text("12.50 USD")
    publish_to_docs(shoot(approver, "24-adjustments-approved"), "console-adjustments.png")


def test_the_audit_page_filtered_by_action_shows_those_rows(
    browser: Any, server: ConsoleServer, contexts: list[BrowserContext]
) -> None:
    # Through the console: the clinic asks for two top-ups; an operator freezes its wallet and unfreezes it.
    clinic = open_page(browser, server, contexts)
    sign_in(clinic, CLINIC_USER, user="dr-ana")
    for amount in ("30.00", "40.00"):
        clinic.fill("#amount", amount)
        clinic.click("button:has-text('Request top-up')")
        expect(clinic.locator(".notice")).to_contain_text("Your top-up request was sent")
    operator = open_page(browser, server, contexts)
    accept_dialogs(operator)
    sign_in(operator, OPERATOR, user="operator-1")
    operator.goto(f"/console/wallets/{CLINIC}")
    operator.fill("#reason", "Chargeback on invoice TOP-2026-0007")
    operator.click("button:has-text('Freeze')")
    expect(operator.get_by_test_id("wallet-status")).to_have_text("frozen")
    operator.click("button:has-text('Unfreeze')")
    expect(operator.get_by_test_id("wallet-status")).to_have_text("active")

    # The operators' audit page, from the menu: every row, newest first (the two sign-ins are rows too).
    operator.click("nav a:has-text('Audit')")
    expect(operator).to_have_url(f"{server.address}/console/audit")
    rows = operator.locator("tr[data-audit-id]")
    expect(rows).to_have_count(6)
    expect(rows.first).to_have_attribute("data-action", "unfreeze")
    expect(operator.locator("tr[data-action='console_sign_in']")).to_have_count(2)

    # Filtered by action: only those rows, the filter kept in its field.
    operator.fill("#filter-action", "request_topup")
    operator.click("button:has-text('Filter')")
    expect(rows).to_have_count(2)
    for index in range(2):
        expect(rows.nth(index)).to_have_attribute("data-action", "request_topup")
        expect(rows.nth(index).get_by_test_id("audit-actor")).to_contain_text("dr-ana")
    expect(operator.locator("#filter-action")).to_have_value("request_topup")
    publish_to_docs(shoot(operator, "25-audit-filtered"), "console-audit.png")

    # An action's name is a link to its rows; an impossible period is refused beside its field.
    operator.fill("#filter-action", "")
    operator.click("button:has-text('Filter')")
    operator.locator("a[data-testid=audit-action]", has_text="unfreeze").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-action", "unfreeze")
    operator.fill("#filter-from", "2026-03-02")
    operator.fill("#filter-to", "2026-03-01")
    operator.click("button:has-text('Filter')")
    expect(operator.locator("#filters-to-error")).to_have_text("must not be before `from`")

    # The clinic sees its own rows from its own menu, without the client's address or the operator's name.
    clinic.click("nav a:has-text('Audit')")
    expect(clinic).to_have_url(f"{server.address}/console/wallet/audit")
    expect(clinic.locator("tr[data-audit-id]")).to_have_count(5)  # with its own sign-in
    expect(clinic.locator("tr[data-action='console_sign_in']")).to_have_count(1)
    expect(clinic.locator("th:has-text('Address')")).to_have_count(0)
    expect(clinic.locator("tr[data-action=freeze]").get_by_test_id("audit-actor")).to_contain_text("the platform")
    expect(clinic.locator("body")).not_to_contain_text("operator-1")
    shoot(clinic, "26-audit-clinic")
