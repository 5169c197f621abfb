"""The wallet's settings, runway and alerts in a real browser: Playwright driving Debian's Chromium against `billing
serve` (a fresh database), the money and messages made through the same server's JSON API as the messaging module
makes them. Screenshots go to test-output/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from console_support import CLINIC, CLINIC_USER, OPERATOR, ConsoleServer, screenshot_path, token
from playwright.sync_api import BrowserContext, Page, expect
from wallet_support import MARKETS, RATES, US_NUMBER

from billing.application.caller import MANAGE, VIEW

PLATFORM = OPERATOR  # the messaging module holds and settles as the platform (root + Manage)
CLINIC_MANAGER = (CLINIC, VIEW, MANAGE)
AUTO_FIELDS = {"threshold": "#auto-threshold", "target": "#auto-target", "monthly_cap": "#auto-monthly_cap"}


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


def call(server: ConsoleServer, method: str, path: str, who: tuple[str, ...], **options: Any) -> Any:
    response = server.api(method, path, who, **options)
    assert response.is_success, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


def fund(server: ConsoleServer, amount: str) -> None:
    """A rate card in force (utility 0.30, marketing 0.90), and a top-up asked, approved and paid."""
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    card = {"name": "Browser test card", "currency": "USD", "effective_from": since, "markets": MARKETS, "rates": RATES}
    call(server, "POST", "/rate-cards", OPERATOR, json=card)
    request = call(server, "POST", "/wallet/topup-requests", CLINIC_USER, json={"amount": amount})
    approved = call(server, "POST", f"/wallet/topup-requests/{request['id']}/approve", OPERATOR, json={})
    paid = {"payment_reference": "bank-1"}
    call(server, "POST", f"/invoices/{approved['invoice_id']}/mark-paid", OPERATOR, json=paid)


def open_settings(page: Page, server: ConsoleServer) -> None:
    page.goto("/console/wallet")
    page.get_by_test_id("settings-link").click()
    expect(page).to_have_url(f"{server.address}/console/wallet/settings")


def form_values(page: Page) -> dict[str, Any]:
    """The form's values in the API's shape (an empty field is no level, or null)."""
    levels = [page.input_value(f"#level-{slot}") for slot in range(5)]
    auto = {name: page.input_value(selector) or None for name, selector in AUTO_FIELDS.items()}
    return {
        "marketing_reserve": page.input_value("#marketing-reserve"),
        "low_balance_levels": [level for level in levels if level],
        "auto_topup": {"enabled": page.is_checked("#auto-enabled"), **auto},
        "timezone": page.input_value("#timezone"),
    }


def test_a_manager_saves_the_settings_and_finds_them_again_as_the_api_answers(
    browser: Any, server: ConsoleServer, contexts: list[BrowserContext]
) -> None:
    page = open_page(browser, server, contexts)
    sign_in(page, CLINIC_MANAGER, user="dr-ana")
    open_settings(page, server)
    expect(page.locator("#marketing-reserve")).to_have_value("0.00")

    # A target no higher than the threshold: the API's message beside it, what was typed kept, nothing saved.
    page.fill("#marketing-reserve", "5")
    page.fill("#level-0", "50")
    page.fill("#level-1", "10")
    page.check("#auto-enabled")
    page.fill("#auto-threshold", "20")
    page.fill("#auto-target", "20")
    page.fill("#auto-monthly_cap", "300")
    page.click("button:has-text('Save settings')")
    refused = server.api(
        "PUT",
        "/wallet/settings",
        CLINIC_MANAGER,
        json={"auto_topup": {"enabled": True, "threshold": "20", "target": "20", "monthly_cap": "300"}},
    )
    message = refused.json()["errors"][0]["message"]
    expect(page.locator('[id="settings-auto_topup.target-error"]')).to_have_text(message)
    expect(page.locator("#auto-target")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#level-1")).to_have_value("10")
    expect(page.locator("#auto-enabled")).to_be_checked()
    assert call(server, "GET", "/wallet/settings", CLINIC_USER)["low_balance_levels"] == []
    page.screenshot(path=screenshot_path("17-wallet-settings-refused"), full_page=True)

    # Corrected and saved; after a reload the form shows what was saved, exactly as the API answers it.
    page.fill("#auto-target", "100")
    page.click("button:has-text('Save settings')")
    expect(page.locator(".notice")).to_contain_text("The settings were saved.")
    page.reload()
    expect(page.locator("#marketing-reserve")).to_have_value("5.00")
    expect(page.locator("#level-0")).to_have_value("50.00")
    expect(page.locator("#level-1")).to_have_value("10.00")
    expect(page.locator("#level-2")).to_have_value("")
    expect(page.locator("#auto-enabled")).to_be_checked()
    expect(page.locator("#auto-target")).to_have_value("100.00")
    saved = call(server, "GET", "/wallet/settings", CLINIC_USER)
    assert form_values(page) == saved
    assert saved == {
        "marketing_reserve": "5.00",
        "low_balance_levels": ["50.00", "10.00"],
        "auto_topup": {"enabled": True, "threshold": "20.00", "target": "100.00", "monthly_cap": "300.00"},
        "timezone": "UTC",
    }
    page.screenshot(path=screenshot_path("18-wallet-settings-saved"), full_page=True)

    # A user with View alone sees the same values, read-only.
    viewer = open_page(browser, server, contexts)
    sign_in(viewer, CLINIC_USER, user="reception")
    open_settings(viewer, server)
    expect(viewer.get_by_test_id("read-only")).to_be_visible()
    expect(viewer.locator("#level-0")).to_be_disabled()
    expect(viewer.locator("button:has-text('Save settings')")).to_have_count(0)
    assert form_values(viewer) == saved


def test_an_alert_shows_on_the_wallet_page_once_a_settle_crosses_a_level(
    browser: Any, server: ConsoleServer, contexts: list[BrowserContext]
) -> None:
    fund(server, "20.00")
    page = open_page(browser, server, contexts)
    sign_in(page, CLINIC_MANAGER, user="dr-ana")
    expect(page).to_have_url(f"{server.address}/console/wallet")
    expect(page.get_by_test_id("runway-days")).to_have_text("no recent spend")
    expect(page.get_by_test_id("no-alerts")).to_be_visible()

    # A level of 19.50, set on the settings form.
    open_settings(page, server)
    page.fill("#level-0", "19.50")
    page.click("button:has-text('Save settings')")
    expect(page.locator(".notice")).to_contain_text("The settings were saved.")

    # A reminder held as utility (0.30): available 19.70, still above the level.
    body = {"message_id": "wamid.reminder", "category": "utility", "recipient": US_NUMBER}
    call(server, "POST", f"/wallets/{CLINIC}/holds", PLATFORM, json=body)
    page.goto("/console/wallet")
    expect(page.get_by_test_id("available")).to_have_text("19.70 USD")
    expect(page.get_by_test_id("no-alerts")).to_be_visible()

    # Meta says it was marketing (0.90): the settle takes available from 19.70 to 19.10, below the level.
    settle = {"message_id": "wamid.reminder", "category": "marketing"}
    call(server, "POST", f"/wallets/{CLINIC}/holds/settle", PLATFORM, json=settle)
    page.reload()
    expect(page.get_by_test_id("available")).to_have_text("19.10 USD")
    alerts = call(server, "GET", "/wallet/me/alerts", CLINIC_USER)["items"]
    assert [(alert["level"], alert["available"]) for alert in alerts] == [("19.50", "19.10")]
    row = page.locator(f"tr[data-alert-id='{alerts[0]['id']}']")
    expect(row.get_by_test_id("alert-level")).to_have_text("19.50 USD")
    expect(row.get_by_test_id("alert-available")).to_have_text("19.10 USD")
    expect(row.get_by_test_id("alert-when")).to_contain_text(alerts[0]["created_at"][:10])
    wallet = call(server, "GET", "/wallet/me", CLINIC_USER)
    expect(page.get_by_test_id("daily-spend")).to_have_text(f"{wallet['daily_spend']} USD")  # 0.90 / 14
    expect(page.get_by_test_id("runway-days")).to_have_text(f"{wallet['runway_days']} days")
    assert (wallet["daily_spend"], wallet["runway_days"]) == ("0.0643", 297.0)
    page.screenshot(path=screenshot_path("19-wallet-runway-and-alert"), full_page=True)
