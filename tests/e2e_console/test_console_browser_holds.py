"""Holds, statements and the freeze in a real browser: Playwright driving Debian's Chromium against `billing serve`
(a fresh database), the money and messages made through the same server's JSON API as the messaging module makes
them. Screenshots go to test-output/screenshots/; BILLING_UPDATE_DOCS_SCREENSHOTS=1 also copies two to
docs/screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from browser_support import call, open_page, shoot, sign_in
from console_support import CLINIC, CLINIC_USER, OPERATOR, ConsoleServer, publish_to_docs
from playwright.sync_api import BrowserContext, Dialog, Page, expect
from wallet_support import MARKETS, RATES, US_NUMBER

from billing.entrypoints.statement_csv import HEADER_LINE

PLATFORM = OPERATOR  # the messaging module holds and settles as the platform (root + Manage)
REASON = "Chargeback on invoice TOP-2026-0007"


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


def fund(server: ConsoleServer, amount: str) -> None:
    """A rate card in force, and a top-up asked, approved and paid: the clinic has `amount`."""
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    card = {"name": "Browser test card", "currency": "USD", "effective_from": since, "markets": MARKETS, "rates": RATES}
    call(server, "POST", "/rate-cards", OPERATOR, json=card)
    request = call(server, "POST", "/wallet/topup-requests", CLINIC_USER, json={"amount": amount})
    approved = call(server, "POST", f"/wallet/topup-requests/{request['id']}/approve", OPERATOR, json={})
    call(
        server, "POST", f"/invoices/{approved['invoice_id']}/mark-paid", OPERATOR, json={"payment_reference": "bank-1"}
    )


def hold(server: ConsoleServer, message_id: str, category: str) -> Any:
    body = {"message_id": message_id, "category": category, "recipient": US_NUMBER}
    return server.api("POST", f"/wallets/{CLINIC}/holds", PLATFORM, json=body)


def test_a_clinic_sees_its_holds_and_statement_and_an_operator_freezes_its_wallet(
    browser: Any, server: ConsoleServer, contexts: list[BrowserContext]
) -> None:
    # 20.00 paid in; a reminder held (utility, 0.30) and a campaign message held and settled (marketing, 0.90).
    fund(server, "20.00")
    assert hold(server, "wamid.reminder", "utility").status_code == 201
    assert hold(server, "wamid.campaign", "marketing").status_code == 201
    call(server, "POST", f"/wallets/{CLINIC}/holds/settle", PLATFORM, json={"message_id": "wamid.campaign"})

    # The clinic sees its balance, what is held and what is available.
    clinic = open_page(browser, server, contexts)
    sign_in(clinic, CLINIC_USER, user="dr-ana")
    expect(clinic).to_have_url(f"{server.address}/console/wallet")
    expect(clinic.get_by_test_id("balance")).to_have_text("19.10 USD")
    expect(clinic.get_by_test_id("held")).to_have_text("0.30 USD")
    expect(clinic.get_by_test_id("available")).to_have_text("18.80 USD")
    expect(clinic.get_by_test_id("wallet-status")).to_have_text("active")
    shoot(clinic, "13-wallet-held-available")

    # Its holds, newest first, then only the settled ones.
    clinic.get_by_test_id("holds-link").click()
    expect(clinic).to_have_url(f"{server.address}/console/holds")
    rows = clinic.locator("tr[data-hold-id]")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-message-id", "wamid.campaign")
    expect(rows.nth(1).locator(".badge")).to_have_text("held")
    clinic.select_option("#filter-status", "settled")
    clinic.click("button:has-text('Filter')")
    expect(rows).to_have_count(1)
    settled = rows.nth(0)
    expect(settled).to_have_attribute("data-message-id", "wamid.campaign")
    expect(settled.get_by_test_id("hold-charged")).to_have_text("0.90")
    expect(settled.get_by_test_id("hold-shortfall")).to_have_text("0.00")
    expect(clinic.locator("#filter-status")).to_have_value("settled")
    publish_to_docs(shoot(clinic, "14-holds-settled"), "console-holds.png")

    # This month's statement: the CSV file the API serves, its header line exactly the contract's.
    clinic.goto("/console/wallet")
    with clinic.expect_download() as downloading:
        clinic.click("button:has-text('Download CSV')")
    download = downloading.value
    assert download.suggested_filename.startswith(f"statement-{CLINIC}-")
    lines = Path(download.path()).read_bytes().decode("utf-8").split("\r\n")
    assert lines[0] + "\r\n" == HEADER_LINE
    assert [line.split(",")[1] for line in lines[1:] if line] == ["topup", "charge"]

    # An operator opens the clinic's wallet and freezes it: a dismissed confirmation does nothing, an empty reason
    # gets the API's message, a confirmed freeze with a reason freezes.
    operator = open_page(browser, server, contexts)
    sign_in(operator, OPERATOR, user="operator-1")
    operator.click("nav a:has-text('Wallets')")
    operator.fill("#find-tenant", CLINIC)
    operator.click("button:has-text('Open wallet')")
    expect(operator).to_have_url(f"{server.address}/console/wallets/{CLINIC}")
    expect(operator.get_by_test_id("available")).to_have_text("18.80 USD")
    operator.fill("#reason", REASON)
    asked = answer_next_dialog(operator, accept=False)
    operator.click("button:has-text('Freeze')")
    operator.wait_for_timeout(300)  # long enough for a submission that should not have happened
    assert asked == [f"Freeze {CLINIC}'s wallet? It takes no new holds or direct charges until it is unfrozen."]
    expect(operator.get_by_test_id("wallet-status")).to_have_text("active")
    operator.fill("#reason", "")
    answer_next_dialog(operator, accept=True)
    operator.click("button:has-text('Freeze')")
    api_message = server.api("POST", f"/wallets/{CLINIC}/freeze", OPERATOR, json={"reason": ""}).json()
    expect(operator.locator("#freeze-reason-error")).to_have_text(api_message["errors"][0]["message"])
    operator.fill("#reason", REASON)
    answer_next_dialog(operator, accept=True)
    operator.click("button:has-text('Freeze')")
    expect(operator.locator(".notice")).to_contain_text("The wallet is frozen")
    expect(operator.get_by_test_id("wallet-status")).to_have_text("frozen")
    expect(operator.get_by_test_id("frozen-reason")).to_have_text(f"Frozen: {REASON}")
    publish_to_docs(shoot(operator, "15-operator-wallet-frozen"), "console-operator-wallet.png")
    refused = hold(server, "wamid.after-freeze", "utility")
    assert (refused.status_code, refused.json()["code"]) == (409, "wallet_frozen")

    # The clinic sees why; then the operator unfreezes (confirmed) and messages are held again.
    clinic.reload()
    expect(clinic.get_by_test_id("wallet-status")).to_have_text("frozen")
    expect(clinic.get_by_test_id("frozen-reason")).to_have_text(f"Frozen: {REASON}")
    shoot(clinic, "16-wallet-frozen-clinic")
    asked = answer_next_dialog(operator, accept=True)
    operator.click("button:has-text('Unfreeze')")
    expect(operator.locator(".notice")).to_have_text("The wallet is active again.")
    assert asked == [f"Unfreeze {CLINIC}'s wallet? It takes new holds and charges again."]
    expect(operator.get_by_test_id("wallet-status")).to_have_text("active")
    assert hold(server, "wamid.after-unfreeze", "utility").status_code == 201
