"""Freeze and wallet settings over HTTP (contract v2 §10): an operator freezes and unfreezes a wallet; a clinic
chooses its marketing reserve (or an operator does for it)."""

from __future__ import annotations

from typing import Any

from api_support import (
    BASE,
    CLINIC,
    CLINIC_MANAGER,
    CLINIC_USER,
    OPERATOR,
    OTHER_CLINIC,
    OTHER_CLINIC_USER,
    ROOT_VIEWER,
    Api,
    assert_problem,
    field_errors,
)
from httpx import Response

WALLET_FIELDS = {
    "tenant_id",
    "currency",
    "balance",
    "updated_at",
    "held",
    "available",
    "status",
    "frozen_reason",
    "daily_spend",
    "runway_days",
    "debt",  # v3 §24
}
AUTO_OFF = {"enabled": False, "threshold": None, "target": None, "monthly_cap": None}


def reserve_only(reserve: str, timezone: str = "UTC") -> dict[str, Any]:
    """The settings' JSON with only a marketing reserve set: no levels, no automatic top-up, UTC months."""
    return {"marketing_reserve": reserve, "low_balance_levels": [], "auto_topup": AUTO_OFF, "timezone": timezone}


async def freeze(api: Api, reason: Any = "chargeback under review", headers: dict[str, str] = OPERATOR) -> Response:
    return await api.post(f"/wallets/{CLINIC}/freeze", headers, {"reason": reason})


async def unfreeze(api: Api, headers: dict[str, str] = OPERATOR) -> Response:
    return await api.post(f"/wallets/{CLINIC}/unfreeze", headers)


# Freeze -------------------------------------------------------------------------------------------------------


async def test_an_operator_freezes_and_unfreezes_a_wallet(api: Api) -> None:
    await api.fund("20.00")

    frozen = await freeze(api)
    seen_frozen = (await api.get("/wallet/me", CLINIC_USER)).json()
    active = await unfreeze(api)

    assert frozen.status_code == 200, frozen.text
    assert set(frozen.json()) == WALLET_FIELDS
    assert (frozen.json()["status"], frozen.json()["frozen_reason"]) == ("frozen", "chargeback under review")
    assert (seen_frozen["status"], seen_frozen["frozen_reason"]) == ("frozen", "chargeback under review")
    assert active.status_code == 200, active.text
    assert (active.json()["status"], active.json()["frozen_reason"], active.json()["balance"]) == (
        "active",
        None,
        "20.00",
    )


async def test_freezing_a_wallet_never_used_opens_it_frozen(api: Api) -> None:
    frozen = await api.post(f"/wallets/{OTHER_CLINIC}/freeze", OPERATOR, {"reason": "KYC pending"})

    assert frozen.status_code == 200, frozen.text
    assert (frozen.json()["tenant_id"], frozen.json()["balance"], frozen.json()["status"]) == (
        OTHER_CLINIC,
        "0.00",
        "frozen",
    )


async def test_freezing_again_replaces_the_reason_and_unfreezing_an_active_wallet_changes_nothing(api: Api) -> None:
    await freeze(api, "first")

    again = await freeze(api, "second")
    await unfreeze(api)
    still_active = await unfreeze(api)

    assert again.json()["frozen_reason"] == "second"
    assert (still_active.status_code, still_active.json()["status"]) == (200, "active")


async def test_a_freeze_needs_a_reason(api: Api) -> None:
    assert list(field_errors(await api.post(f"/wallets/{CLINIC}/freeze", OPERATOR, {}))) == ["reason"]
    assert list(field_errors(await freeze(api, ""))) == ["reason"]
    assert list(field_errors(await freeze(api, "x" * 513))) == ["reason"]
    assert list(field_errors(await freeze(api, 42))) == ["reason"]
    assert (await api.get("/wallet/me", CLINIC_USER)).json()["status"] == "active"


async def test_only_an_operator_freezes_or_unfreezes(api: Api) -> None:
    for headers in (CLINIC_MANAGER, CLINIC_USER, ROOT_VIEWER):
        assert_problem(await freeze(api, headers=headers), 403, "forbidden")
    await freeze(api)
    for headers in (CLINIC_MANAGER, CLINIC_USER, ROOT_VIEWER):
        assert_problem(await unfreeze(api, headers=headers), 403, "forbidden")
    assert (await api.get("/wallet/me", CLINIC_USER)).json()["status"] == "frozen"


async def test_a_frozen_wallet_is_still_topped_up_and_refunded(api: Api) -> None:
    await api.fund("20.00")
    charge = {"amount": "2.00", "reference_id": "wamid.before"}
    assert (await api.post(f"/wallets/{CLINIC}/charges", OPERATOR, charge)).status_code == 201
    await freeze(api)

    await api.fund("5.00")
    refund = await api.post(f"/wallets/{CLINIC}/refunds", OPERATOR, {"reference_id": "wamid.before"})

    assert refund.status_code == 201, refund.text
    assert await api.balance(CLINIC) == "25.00"


async def test_a_replayed_freeze_answers_the_kept_response(api: Api) -> None:
    keyed = {**OPERATOR, "Idempotency-Key": "freeze-1"}

    first = await api.post(f"/wallets/{CLINIC}/freeze", keyed, {"reason": "audit"})
    await unfreeze(api)
    replay = await api.post(f"/wallets/{CLINIC}/freeze", keyed, {"reason": "audit"})

    assert (replay.status_code, replay.content) == (200, first.content)
    assert replay.headers["idempotent-replayed"] == "true"
    assert (await api.get("/wallet/me", CLINIC_USER)).json()["status"] == "active"  # the replay did nothing


# Settings -----------------------------------------------------------------------------------------------------


async def put_settings(
    api: Api, body: Any, headers: dict[str, str] = CLINIC_MANAGER, tenant_id: str | None = None
) -> Response:
    params = {} if tenant_id is None else {"tenant_id": tenant_id}
    return await api.client.put(f"{BASE}/wallet/settings", headers=headers, params=params, json=body)


async def get_settings(api: Api, headers: dict[str, str] = CLINIC_USER, tenant_id: str | None = None) -> Response:
    params = {} if tenant_id is None else {"tenant_id": tenant_id}
    return await api.get("/wallet/settings", headers, params=params)


async def test_settings_start_at_their_defaults(api: Api) -> None:
    response = await get_settings(api)

    assert (response.status_code, response.json()) == (200, reserve_only("0.00"))


async def test_a_clinic_manager_sets_its_marketing_reserve(api: Api) -> None:
    response = await put_settings(api, {"marketing_reserve": "25"})

    assert (response.status_code, response.json()) == (200, reserve_only("25.00"))
    assert (await get_settings(api)).json() == reserve_only("25.00")
    assert (await get_settings(api, OTHER_CLINIC_USER)).json() == reserve_only("0.00")


async def test_a_put_replaces_the_whole_so_a_field_left_out_takes_its_default(api: Api) -> None:
    await put_settings(api, {"marketing_reserve": 25.5})

    response = await put_settings(api, {})

    assert response.json() == reserve_only("0.00")


async def test_an_operator_reads_and_sets_any_tenants_settings(api: Api) -> None:
    put = await put_settings(api, {"marketing_reserve": "12.34"}, OPERATOR, CLINIC)

    assert (put.status_code, put.json()) == (200, reserve_only("12.34"))
    assert (await get_settings(api, ROOT_VIEWER, CLINIC)).json() == reserve_only("12.34")
    assert (await get_settings(api)).json() == reserve_only("12.34")


async def test_settings_are_refused_to_who_may_not_see_or_change_them(api: Api) -> None:
    assert_problem(await put_settings(api, {"marketing_reserve": "1.00"}, CLINIC_USER), 403, "forbidden")
    assert_problem(await put_settings(api, {"marketing_reserve": "1.00"}, ROOT_VIEWER, CLINIC), 403, "forbidden")
    assert_problem(
        await put_settings(api, {"marketing_reserve": "1.00"}, CLINIC_MANAGER, OTHER_CLINIC), 403, "forbidden"
    )
    assert_problem(await get_settings(api, CLINIC_USER, OTHER_CLINIC), 403, "forbidden")
    assert (await get_settings(api, OTHER_CLINIC_USER)).json() == reserve_only("0.00")


async def test_a_settings_body_is_validated(api: Api) -> None:
    assert list(field_errors(await put_settings(api, {"marketing_reserve": "1.001"}))) == ["marketing_reserve"]
    assert list(field_errors(await put_settings(api, {"marketing_reserve": "-1.00"}))) == ["marketing_reserve"]
    assert list(field_errors(await put_settings(api, {"marketing_reserve": "lots"}))) == ["marketing_reserve"]
    assert list(field_errors(await put_settings(api, {"marketing_reserve": True}))) == ["marketing_reserve"]
    unknown = await put_settings(api, {"marketing_reserve": "1.00", "low_balance_level": "5.00"})
    assert list(field_errors(unknown)) == ["low_balance_level"]
    assert list(field_errors(await put_settings(api, ["1.00"]))) == ["body"]
    assert (await get_settings(api)).json() == reserve_only("0.00")


async def test_a_clinic_sets_its_time_zone_and_a_put_without_it_returns_to_utc(api: Api) -> None:
    put = await put_settings(api, {"marketing_reserve": "5", "timezone": "Asia/Kolkata"})

    assert (put.status_code, put.json()) == (200, reserve_only("5.00", "Asia/Kolkata"))
    assert (await get_settings(api)).json() == reserve_only("5.00", "Asia/Kolkata")
    assert (await get_settings(api, OTHER_CLINIC_USER)).json() == reserve_only("0.00")
    assert (await put_settings(api, {"marketing_reserve": "5", "timezone": None})).json() == reserve_only("5.00")
    await put_settings(api, {"timezone": "America/Sao_Paulo"})
    assert (await put_settings(api, {"marketing_reserve": "5"})).json() == reserve_only("5.00")


async def test_an_unknown_time_zone_is_a_400_naming_it_and_changes_nothing(api: Api) -> None:
    await put_settings(api, {"marketing_reserve": "5", "timezone": "Asia/Kolkata"})

    for name in ("Mars/Olympus", "asia/kolkata", "../x", "localtime", "CET", "", 5.5, ["UTC"]):
        response = await put_settings(api, {"marketing_reserve": "6", "timezone": name})
        assert_problem(response, 400, "validation_error")
        assert list(field_errors(response)) == ["timezone"], name
    both = await put_settings(api, {"marketing_reserve": "-1", "timezone": "Mars/Olympus"})
    assert set(field_errors(both)) == {"marketing_reserve", "timezone"}
    assert (await get_settings(api)).json() == reserve_only("5.00", "Asia/Kolkata")


async def test_the_schema_documents_freeze_and_settings(api: Api) -> None:
    document = (await api.client.get("/schema/openapi.json")).json()
    paths = document["paths"]

    assert {"200", "403"} <= paths[f"{BASE}/wallets/{{tenant_id}}/freeze"]["post"]["responses"].keys()
    assert "requestBody" not in paths[f"{BASE}/wallets/{{tenant_id}}/unfreeze"]["post"]
    settings = paths[f"{BASE}/wallet/settings"]
    assert {"200", "400", "403"} <= settings["put"]["responses"].keys()
    settings_fields = {"marketing_reserve", "low_balance_levels", "auto_topup", "timezone"}
    assert set(document["components"]["schemas"]["WalletSettingsOut"]["properties"]) == settings_fields
    assert set(document["components"]["schemas"]["WalletOut"]["properties"]) == WALLET_FIELDS
    charge_conflicts = paths[f"{BASE}/wallets/{{tenant_id}}/charges"]["post"]["responses"]["409"]["description"]
    assert "wallet_frozen" in charge_conflicts
