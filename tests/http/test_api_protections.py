"""The clinic's protections over HTTP (contract v2 §10): the settings' levels and automatic top-up, the alerts routes,
the wallet's runway fields and the reserved `auto` user; the answers' shapes and the contract's error format."""

from __future__ import annotations

from typing import Any

from api_support import (
    CLINIC,
    CLINIC_MANAGER,
    CLINIC_USER,
    OPERATOR,
    OTHER_CLINIC_USER,
    ROOT_VIEWER,
    Api,
    assert_problem,
    bearer,
    field_errors,
)
from httpx import Response

from billing.application.caller import VIEW

CARD: dict[str, Any] = {
    "name": "Protections card",
    "currency": "USD",
    "effective_from": "2025-01-01T00:00:00Z",
    "markets": {"US": "North America", "*": "Other"},
    "rates": [
        {"market": "North America", "category": "marketing", "unit_price": "1.00"},
        {"market": "North America", "category": "utility", "unit_price": "0.0118"},
    ],
}
USA = "+14155552671"
FULL = {
    "marketing_reserve": "5.00",
    "low_balance_levels": ["8.00", "3.50"],
    "auto_topup": {"enabled": True, "threshold": "2.00", "target": "50.00", "monthly_cap": "200.00"},
    "timezone": "Europe/Lisbon",
}


async def put_settings(api: Api, body: Any, headers: dict[str, str] = CLINIC_MANAGER) -> Response:
    return await api.client.put("/api/v1/billing/wallet/settings", headers=headers, json=body)


async def funded(api: Api, amount: str = "10.00") -> None:
    assert (await api.post("/rate-cards", OPERATOR, CARD)).status_code == 201
    await api.fund(amount)


async def hold(api: Api, message_id: str, category: str = "marketing") -> Response:
    body = {"message_id": message_id, "category": category, "recipient": USA}
    return await api.post(f"/wallets/{CLINIC}/holds", OPERATOR, body)


# Settings -----------------------------------------------------------------------------------------------------


async def test_settings_answer_every_field_with_their_defaults(api: Api) -> None:
    response = await api.get("/wallet/settings", CLINIC_USER)

    assert response.json() == {
        "marketing_reserve": "0.00",
        "low_balance_levels": [],
        "auto_topup": {"enabled": False, "threshold": None, "target": None, "monthly_cap": None},
        "timezone": "UTC",
    }


async def test_a_put_of_levels_and_the_automatic_top_up_round_trips(api: Api) -> None:
    put = await put_settings(api, {**FULL, "low_balance_levels": ["8", 3.5]})

    assert (put.status_code, put.json()) == (200, FULL)
    assert (await api.get("/wallet/settings", CLINIC_USER)).json() == FULL
    assert (await api.get("/wallet/settings", ROOT_VIEWER, params={"tenant_id": CLINIC})).json() == FULL


async def test_a_settings_body_lists_every_problem_as_a_400(api: Api) -> None:
    body = {
        "marketing_reserve": "1.00",
        "low_balance_levels": ["1", "1.00", "0", "2.001"],
        "auto_topup": {"enabled": True, "threshold": "10.00", "target": "10.50", "monthly_cap": "0.50"},
    }

    errors = field_errors(await put_settings(api, body))

    assert set(errors) == {"low_balance_levels[2]", "low_balance_levels[3]"}  # malformed amounts first
    fixed = {**body, "low_balance_levels": ["1", "1.00"]}
    assert set(field_errors(await put_settings(api, fixed))) == {
        "low_balance_levels[1]",
        "auto_topup.target",
        "auto_topup.monthly_cap",
    }
    assert (await api.get("/wallet/settings", CLINIC_USER)).json()["low_balance_levels"] == []


async def test_more_than_five_levels_or_a_malformed_auto_topup_is_a_400(api: Api) -> None:
    six = {"low_balance_levels": ["1", "2", "3", "4", "5", "6"]}
    assert list(field_errors(await put_settings(api, six))) == ["low_balance_levels"]
    assert_problem(await put_settings(api, {"auto_topup": {"enabled": "yes"}}), 400, "validation_error")
    assert_problem(await put_settings(api, {"auto_topup": {"enabled": True, "limit": "1"}}), 400, "validation_error")
    missing = field_errors(await put_settings(api, {"auto_topup": {"enabled": True}}))
    assert set(missing) == {"auto_topup.threshold", "auto_topup.target", "auto_topup.monthly_cap"}


async def test_settings_are_refused_to_who_may_not_change_them(api: Api) -> None:
    assert_problem(await put_settings(api, FULL, CLINIC_USER), 403, "forbidden")
    assert_problem(await api.get("/wallet/settings", OTHER_CLINIC_USER, params={"tenant_id": CLINIC}), 403, "forbidden")


# Alerts -------------------------------------------------------------------------------------------------------


async def test_a_hold_crossing_a_level_shows_in_both_alerts_routes(api: Api) -> None:
    await funded(api)
    await put_settings(api, {"low_balance_levels": ["9.50"]})

    assert (await hold(api, "wamid.1")).status_code == 201  # 10 -> 9: crossed

    mine = (await api.get("/wallet/me/alerts", CLINIC_USER)).json()
    theirs = (await api.get(f"/wallets/{CLINIC}/alerts", ROOT_VIEWER)).json()
    assert mine == theirs
    assert (mine["total"], mine["page"]) == (1, 1)
    [alert] = mine["items"]
    assert set(alert) == {"id", "level", "available", "created_at"}
    assert (alert["level"], alert["available"]) == ("9.50", "9.00")


async def test_alerts_are_each_tenants_own(api: Api) -> None:
    await funded(api)
    await put_settings(api, {"low_balance_levels": ["9.50"]})
    await hold(api, "wamid.1")

    assert (await api.get("/wallet/me/alerts", OTHER_CLINIC_USER)).json()["total"] == 0
    assert_problem(await api.get(f"/wallets/{CLINIC}/alerts", CLINIC_USER), 403, "forbidden")
    assert_problem(await api.get("/wallets/bad tenant/alerts", ROOT_VIEWER), 400, "validation_error")


# Runway -------------------------------------------------------------------------------------------------------


async def test_the_wallet_answers_daily_spend_and_runway_days(api: Api) -> None:
    await funded(api)
    quiet = (await api.get("/wallet/me", CLINIC_USER)).json()
    assert (quiet["daily_spend"], quiet["runway_days"]) == ("0.00", None)

    await hold(api, "wamid.1", "utility")
    settled = await api.post(f"/wallets/{CLINIC}/holds/settle", OPERATOR, {"message_id": "wamid.1"})
    assert settled.status_code == 200, settled.text

    body = (await api.get("/wallet/me", CLINIC_USER)).json()
    assert body["available"] == "9.9882"
    assert body["daily_spend"] == "0.0008"  # 0.0118 / 14 = 0.000843 -> 0.0008
    assert body["runway_days"] == 12485.2  # 9.9882 / 0.0008 = 12485.25, rounded down; a JSON number
    assert (await api.get(f"/wallets/{CLINIC}", OPERATOR)).json()["runway_days"] == 12485.2


# Automatic top-up requests ------------------------------------------------------------------------------------


async def test_an_automatic_request_is_made_by_auto_and_approved_as_any_other(api: Api) -> None:
    await funded(api)
    auto = {"enabled": True, "threshold": "9.50", "target": "30.00", "monthly_cap": "100.00"}
    await put_settings(api, {"auto_topup": auto})

    await hold(api, "wamid.1")  # 10 -> 9: below the threshold

    [request] = (await api.get("/wallet/topup-requests/me", CLINIC_USER)).json()["items"][:1]
    assert (request["requested_by"], request["amount"], request["status"]) == ("auto", "21.00", "pending")
    approved = await api.approve(request["id"])
    assert approved["status"] == "invoiced"


async def test_a_token_whose_subject_is_auto_is_refused(api: Api) -> None:
    impostor = bearer(CLINIC, VIEW, user="auto")

    response = await api.post("/wallet/topup-requests", impostor, {"amount": "10.00"})

    assert_problem(response, 401, "unauthorized")
    assert (await api.get("/wallet/topup-requests/me", CLINIC_USER)).json()["total"] == 0
