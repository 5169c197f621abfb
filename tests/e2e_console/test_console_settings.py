"""The wallet's settings on the console (contract v2 §10), through Litestar's test client: the clinic's form (reserve,
five alert levels, automatic top-up) saved through the same use case as `PUT /wallet/settings`, the API's messages
beside the fields with nothing saved, who may see and who may save, and the runway and latest alerts on the wallet
pages."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from console_support import (
    API,
    CLINIC,
    CLINIC_USER,
    OPERATOR,
    ROOT,
    bearer,
    error_detail,
    field_error,
    sign_in,
    text_of,
)
from litestar.testing import AsyncTestClient
from wallet_support import fund, hold, settle

from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.service import BillingService
from billing.entrypoints.console.views import sentence

Client = AsyncTestClient[Any]
CLINIC_MANAGER = (CLINIC, VIEW, MANAGE)
ROOT_VIEWER = (ROOT, VIEW)
SETTINGS_PAGE = "/console/wallet/settings"
TENANT_SETTINGS_PAGE = f"/console/wallets/{CLINIC}/settings"
DEFAULTS = {
    "marketing_reserve": "0.00",
    "low_balance_levels": [],
    "auto_topup": {"enabled": False, "threshold": None, "target": None, "monthly_cap": None},
    "timezone": "UTC",
}
AUTO_AMOUNTS = ("threshold", "target", "monthly_cap")


def level(slot: int) -> str:
    return f"low_balance_levels[{slot}]"


def settings_form(
    reserve: str = "0.00",
    levels: dict[int, str] | None = None,
    *,
    enabled: bool = False,
    threshold: str = "",
    target: str = "",
    monthly_cap: str = "",
    timezone: str = "",
) -> dict[str, str]:
    """The form as a browser posts it: every field, empty ones as "", the box only when ticked."""
    given = levels or {}
    return {
        "marketing_reserve": reserve,
        **{level(slot): given.get(slot, "") for slot in range(5)},
        **({"auto_topup.enabled": "true"} if enabled else {}),
        "auto_topup.threshold": threshold,
        "auto_topup.target": target,
        "auto_topup.monthly_cap": monthly_cap,
        "timezone": timezone,
    }


def api_body(form: dict[str, str]) -> dict[str, Any]:
    """The same settings as a PUT body: the levels typed in, in order; an empty field left out."""
    auto: dict[str, Any] = {"enabled": "auto_topup.enabled" in form}
    auto.update({name: form[f"auto_topup.{name}"] for name in AUTO_AMOUNTS if form[f"auto_topup.{name}"]})
    return {
        **({"marketing_reserve": form["marketing_reserve"]} if form["marketing_reserve"] else {}),
        "low_balance_levels": [form[level(slot)] for slot in range(5) if form[level(slot)]],
        "auto_topup": auto,
        **({"timezone": form["timezone"]} if form["timezone"] else {}),
    }


def input_tag(page: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{re.escape(name)}"[^>]*>', page)
    assert match, f"no {name} field on the page"
    return match.group(0)


def input_value(page: str, name: str) -> str:
    match = re.search(r'value="([^"]*)"', input_tag(page, name))
    return html.unescape(match.group(1)) if match else ""


def shown_errors(page: str) -> dict[str, str]:
    """Every message beside a field of the settings form, by the field it names."""
    found = re.findall(r'id="settings-([^"]*)-error" data-field="[^"]*">([^<]*)<', page)
    return {field: html.unescape(message) for field, message in found}


async def stored(service: BillingService, tenant: str = CLINIC) -> dict[str, Any]:
    settings = await service.as_platform("test").settings(tenant)
    auto = settings.auto_topup
    return {
        "marketing_reserve": str(settings.marketing_reserve),
        "low_balance_levels": [str(amount) for amount in settings.low_balance_levels],
        "auto_topup": {
            "enabled": auto.enabled,
            **{name: None if getattr(auto, name) is None else str(getattr(auto, name)) for name in AUTO_AMOUNTS},
        },
        "timezone": settings.timezone,
    }


async def save(client: Client, csrf: str | None, form: dict[str, str], path: str = SETTINGS_PAGE) -> Any:
    return await client.post(path, data={**form, **({"_csrf_token": csrf} if csrf is not None else {})})


# The form ---------------------------------------------------------------------------------------------------------


async def test_the_wallet_page_links_to_the_settings_form_which_shows_the_defaults(client: Client) -> None:
    await sign_in(client, CLINIC_MANAGER, user="clinic-manager")

    wallet = (await client.get("/console/wallet")).text
    page = await client.get(SETTINGS_PAGE)

    assert f'href="{SETTINGS_PAGE}"' in wallet
    assert page.status_code == 200
    assert input_value(page.text, "marketing_reserve") == "0.00"
    assert [input_value(page.text, level(slot)) for slot in range(5)] == [""] * 5
    assert "checked" not in input_tag(page.text, "auto_topup.enabled")
    assert [input_value(page.text, f"auto_topup.{name}") for name in AUTO_AMOUNTS] == ["", "", ""]
    assert input_value(page.text, "timezone") == "UTC"
    assert "Save settings" in page.text
    assert "The defaults: never saved." in page.text


async def test_a_manager_saves_the_settings_and_the_api_reads_them_back(client: Client) -> None:
    csrf = await sign_in(client, CLINIC_MANAGER, user="clinic-manager")
    form = settings_form(
        "5",
        {0: "50", 1: "10", 3: "25.5"},  # an empty slot is no level
        enabled=True,
        threshold="20",
        target="100.00",
        monthly_cap="300",
    )

    response = await save(client, csrf, form)

    assert response.status_code == 303
    assert response.headers["location"] == f"{SETTINGS_PAGE}?done=saved"
    page = (await client.get(response.headers["location"])).text
    assert "The settings were saved." in page
    assert input_value(page, "marketing_reserve") == "5.00"
    assert [input_value(page, level(slot)) for slot in range(5)] == ["50.00", "10.00", "25.50", "", ""]
    assert "checked" in input_tag(page, "auto_topup.enabled")
    assert [input_value(page, f"auto_topup.{name}") for name in AUTO_AMOUNTS] == ["20.00", "100.00", "300.00"]
    assert "by clinic-manager" in text_of(page, "settings-saved-by")
    api = await client.get(f"{API}/wallet/settings", headers=bearer(CLINIC_USER))
    assert api.json() == {
        "marketing_reserve": "5.00",
        "low_balance_levels": ["50.00", "10.00", "25.50"],
        "auto_topup": {"enabled": True, "threshold": "20.00", "target": "100.00", "monthly_cap": "300.00"},
        "timezone": "UTC",
    }


async def test_a_manager_saves_a_time_zone_and_an_empty_field_returns_it_to_utc(
    client: Client, service: BillingService
) -> None:
    csrf = await sign_in(client, CLINIC_MANAGER, user="clinic-manager")

    response = await save(client, csrf, settings_form("5", timezone="Asia/Kolkata"))

    assert response.status_code == 303
    page = (await client.get(response.headers["location"])).text
    assert input_value(page, "timezone") == "Asia/Kolkata"
    api = await client.get(f"{API}/wallet/settings", headers=bearer(CLINIC_USER))
    assert api.json()["timezone"] == "Asia/Kolkata"
    await save(client, csrf, settings_form("5"))
    assert (await stored(service))["timezone"] == "UTC"


async def test_a_save_replaces_the_whole_as_a_put_does(client: Client, service: BillingService) -> None:
    csrf = await sign_in(client, CLINIC_MANAGER, user="clinic-manager")
    full = settings_form("5", {0: "50"}, enabled=True, threshold="20", target="100", monthly_cap="300")
    await save(client, csrf, full)

    response = await save(client, csrf, settings_form("", {}, threshold="20", target="100", monthly_cap="300"))

    assert response.status_code == 303
    assert await stored(service) == {
        "marketing_reserve": "0.00",  # an empty reserve is the default, as a PUT leaving it out
        "low_balance_levels": [],
        "auto_topup": {"enabled": False, "threshold": "20.00", "target": "100.00", "monthly_cap": "300.00"},
        "timezone": "UTC",
    }


# The API's messages beside the fields ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form", "fields"),
    [
        (settings_form("-1"), {"marketing_reserve"}),
        (settings_form("lots"), {"marketing_reserve"}),
        (settings_form("0", {0: "10.00", 1: "10"}), {level(1)}),
        (settings_form("0", {0: "0"}), {level(0)}),
        (settings_form("0", {0: "1.001", 1: "-5"}), {level(0), level(1)}),
        (
            settings_form("0", enabled=True),
            {"auto_topup.threshold", "auto_topup.target", "auto_topup.monthly_cap"},
        ),
        (settings_form("0", enabled=True, threshold="50", target="50", monthly_cap="100"), {"auto_topup.target"}),
        (
            settings_form("0", enabled=True, threshold="10", target="50", monthly_cap="0.50"),
            {"auto_topup.monthly_cap"},
        ),
        (
            settings_form("-1", {0: "0"}, enabled=True, threshold="x", target="", monthly_cap=""),
            {"marketing_reserve", level(0), "auto_topup.threshold"},
        ),
        (settings_form("0", timezone="Mars/Olympus"), {"timezone"}),
        (settings_form("-1", timezone="CET"), {"marketing_reserve", "timezone"}),
    ],
)
async def test_a_refused_save_shows_the_apis_messages_beside_the_fields_and_saves_nothing(
    client: Client, service: BillingService, form: dict[str, str], fields: set[str]
) -> None:
    csrf = await sign_in(client, CLINIC_MANAGER, user="clinic-manager")
    api = await client.put(f"{API}/wallet/settings", json=api_body(form), headers=bearer(CLINIC_MANAGER))
    assert api.status_code == 400
    api_messages = {error["field"]: error["message"] for error in api.json()["errors"]}

    response = await save(client, csrf, form)

    assert response.status_code == 400
    assert set(shown_errors(response.text)) == fields == set(api_messages)
    for field in fields:
        assert field_error(response.text, "settings", field) == api_messages[field]
        assert 'aria-invalid="true"' in input_tag(response.text, field)
    for name, typed in form.items():  # what was typed, kept
        if name != "auto_topup.enabled":
            assert input_value(response.text, name) == typed
    assert ("checked" in input_tag(response.text, "auto_topup.enabled")) == ("auto_topup.enabled" in form)
    assert await stored(service) == DEFAULTS


async def test_a_levels_message_goes_beside_the_slot_it_was_typed_in(client: Client, service: BillingService) -> None:
    csrf = await sign_in(client, CLINIC_MANAGER, user="clinic-manager")
    form = settings_form("0", {1: "10.00", 4: "10"})
    api = await client.put(f"{API}/wallet/settings", json=api_body(form), headers=bearer(CLINIC_MANAGER))
    assert [error["field"] for error in api.json()["errors"]] == [level(1)]  # the API counts the levels given

    response = await save(client, csrf, form)

    assert shown_errors(response.text) == {level(4): api.json()["errors"][0]["message"]}
    assert [input_value(response.text, level(slot)) for slot in range(5)] == ["", "10.00", "", "", "10"]
    assert await stored(service) == DEFAULTS


# Who may ------------------------------------------------------------------------------------------------------------


async def test_a_view_only_user_sees_the_settings_read_only(client: Client, service: BillingService) -> None:
    await service.as_platform("test").set_settings("2.00", CLINIC, low_balance_levels=["10"])
    await sign_in(client, CLINIC_USER)

    page = (await client.get(SETTINGS_PAGE)).text

    assert input_value(page, "marketing_reserve") == "2.00"
    assert input_value(page, level(0)) == "10.00"
    assert re.search(r"<fieldset[^>]*\bdisabled\b", page)
    assert "Save settings" not in page
    assert "needs the Billing.Manage permission" in text_of(page, "read-only")


async def test_a_view_only_user_saving_anyway_gets_the_apis_forbidden_message(
    client: Client, service: BillingService
) -> None:
    csrf = await sign_in(client, CLINIC_USER)
    form = settings_form("5", {0: "10"})
    api = await client.put(f"{API}/wallet/settings", json=api_body(form), headers=bearer(CLINIC_USER))
    assert api.status_code == 403

    response = await save(client, csrf, form)

    assert response.status_code == 403
    assert f'role="alert">{sentence(api.json()["detail"])}<' in response.text
    assert await stored(service) == DEFAULTS


async def test_a_save_without_the_csrf_token_is_refused(client: Client, service: BillingService) -> None:
    await sign_in(client, CLINIC_MANAGER, user="clinic-manager")

    response = await save(client, None, settings_form("5", {0: "10"}))

    assert response.status_code == 403
    assert "could not be verified" in error_detail(response.text)
    assert await stored(service) == DEFAULTS


async def test_an_operator_sees_and_saves_a_tenants_settings_from_its_wallet_page(
    client: Client, service: BillingService
) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    wallet = (await client.get(f"/console/wallets/{CLINIC}")).text
    page = (await client.get(TENANT_SETTINGS_PAGE)).text
    response = await save(client, csrf, settings_form("1.50", {0: "20"}), TENANT_SETTINGS_PAGE)

    assert f'href="{TENANT_SETTINGS_PAGE}"' in wallet
    assert f'Wallet settings <span class="muted">· {CLINIC}' in page
    assert f'action="{TENANT_SETTINGS_PAGE}"' in page
    assert response.status_code == 303
    assert response.headers["location"] == f"{TENANT_SETTINGS_PAGE}?done=saved"
    assert (await stored(service))["low_balance_levels"] == ["20.00"]
    assert (await stored(service, ROOT)) == DEFAULTS  # not the operator's own


async def test_a_root_viewer_sees_a_tenants_settings_but_cannot_save_them(
    client: Client, service: BillingService
) -> None:
    csrf = await sign_in(client, ROOT_VIEWER, user="viewer")

    page = await client.get(TENANT_SETTINGS_PAGE)
    response = await save(client, csrf, settings_form("1.50"), TENANT_SETTINGS_PAGE)

    assert page.status_code == 200
    assert "Save settings" not in page.text
    assert response.status_code == 403
    assert "Billing.Manage" in response.text
    assert await stored(service) == DEFAULTS


@pytest.mark.parametrize("method", ["get", "post"])
async def test_a_clinic_cannot_open_another_tenants_settings(
    client: Client, service: BillingService, method: str
) -> None:
    csrf = await sign_in(client, ("clinic-b", VIEW, MANAGE), user="other-manager")

    if method == "get":
        response = await client.get(TENANT_SETTINGS_PAGE)
    else:
        response = await save(client, csrf, settings_form("9.00"), TENANT_SETTINGS_PAGE)

    assert response.status_code == 403
    assert "operators of the platform" in error_detail(response.text)
    assert await stored(service) == DEFAULTS


# The runway and the alerts on the wallet pages -----------------------------------------------------------------------


async def test_a_wallet_without_spend_shows_no_runway_and_no_alerts(client: Client) -> None:
    await sign_in(client, CLINIC_USER)

    page = (await client.get("/console/wallet")).text

    assert text_of(page, "runway-days") == "no recent spend"
    assert text_of(page, "daily-spend") == "0.00 USD"
    assert "No low-balance alerts" in text_of(page, "no-alerts")


async def crossed_a_level(service: BillingService) -> None:
    """A level of 2.80; 3.00 paid in; a utility message (0.30) held and settled: available falls to 2.70."""
    manager = service.acting_as(Caller("clinic-manager", CLINIC, frozenset([VIEW, MANAGE])))
    await manager.set_settings("0", low_balance_levels=["2.80", "1.00"])
    await fund(service, CLINIC, "3.00")
    await hold(service, CLINIC, "wamid.reminder")
    await settle(service, CLINIC, "wamid.reminder")


async def test_the_wallet_page_shows_the_runway_and_the_latest_alert(client: Client, service: BillingService) -> None:
    await crossed_a_level(service)
    await sign_in(client, CLINIC_USER)
    api = (await client.get(f"{API}/wallet/me", headers=bearer(CLINIC_USER))).json()
    alerts = (await client.get(f"{API}/wallet/me/alerts", headers=bearer(CLINIC_USER))).json()["items"]

    page = (await client.get("/console/wallet")).text

    assert text_of(page, "daily-spend") == f"{api['daily_spend']} USD" == "0.0214 USD"  # 0.30 / 14
    assert text_of(page, "runway-days") == f"{api['runway_days']} days" == "126.1 days"  # 2.70 / 0.0214
    assert [(a["level"], a["available"]) for a in alerts] == [("2.80", "2.70")]
    row = re.search(rf'<tr data-alert-id="{alerts[0]["id"]}">.*?</tr>', page, re.S)
    assert row, "the alert is not on the page"
    assert text_of(row.group(0), "alert-level") == "2.80 USD"
    assert text_of(row.group(0), "alert-available") == "2.70 USD"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", text_of(row.group(0), "alert-when"))
    assert alerts[0]["created_at"][:10] in text_of(row.group(0), "alert-when")


async def test_the_operators_wallet_page_shows_the_tenants_runway_and_alerts(
    client: Client, service: BillingService
) -> None:
    await crossed_a_level(service)
    await sign_in(client, OPERATOR, user="operator-1")

    page = (await client.get(f"/console/wallets/{CLINIC}")).text

    assert text_of(page, "runway-days") == "126.1 days"
    assert text_of(page, "alert-level") == "2.80 USD"
    assert f'href="{TENANT_SETTINGS_PAGE}"' in page
