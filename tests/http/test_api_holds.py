"""Holds over HTTP (contract v2 §9, with §10's lane and freeze): hold, batch, settle, void, lists and reads; who may
call each route, how a repeat and a refusal are answered, and that v1 answers stay as they were."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
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

CARD: dict[str, Any] = {
    "name": "Hold test card",
    "currency": "USD",
    "effective_from": "2025-01-01T00:00:00Z",
    "free_in_service_window": ["utility"],
    "markets": {"IN": "India", "US": "North America", "*": "Other"},
    "rates": [
        {"market": "India", "category": "marketing", "unit_price": "0.0118"},
        {"market": "India", "category": "utility", "unit_price": "0.0014"},
        {"market": "North America", "category": "marketing", "unit_price": "0.025"},
        {"market": "North America", "category": "utility", "unit_price": "0.004"},
        {"market": "North America", "category": "authentication", "unit_price": "0.0135"},
        {"market": "Other", "category": "marketing", "unit_price": "0.0604"},
    ],
}
USA = "+14155552671"
INDIA = "+919876543210"
WAMID = "wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI/QTNDQ+A1QjNENEQ2RTY3RTcA=="  # base64: `/`, `+` and `=`
HOLD_FIELDS = {
    "id",
    "tenant_id",
    "message_id",
    "status",
    "recipient",
    "country",
    "market",
    "category",
    "tier",
    "rate_card_id",
    "unit_price",
    "amount",
    "free_reason",
    "window",
    "expires_at",
    "created_at",
    "settled_at",
    "voided_at",
    "charged",
    "shortfall",
    "transaction_id",
    "settled_category",
    "phone_number_id",
}
# Root's answers also say what the message was expected to cost (contract v3 §15); a clinic's never do.
ROOT_HOLD_FIELDS = HOLD_FIELDS | {"cost_estimate"}


@pytest.fixture
async def funded(api: Api) -> Api:
    """A default card in force and 10.00 in clinic-a's wallet."""
    response = await api.post("/rate-cards", OPERATOR, CARD)
    assert response.status_code == 201, response.text
    await api.fund("10.00")
    return api


async def hold(
    api: Api,
    message_id: str = "wamid.1",
    category: str = "marketing",
    recipient: str = USA,
    *,
    headers: dict[str, str] = OPERATOR,
    tenant: str = CLINIC,
    **extra: Any,
) -> Response:
    body = {"message_id": message_id, "category": category, "recipient": recipient, **extra}
    return await api.post(f"/wallets/{tenant}/holds", headers, body)


async def held(api: Api, message_id: str = "wamid.1", category: str = "marketing", **extra: Any) -> dict[str, Any]:
    response = await hold(api, message_id, category, **extra)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def settle(api: Api, message_id: str = "wamid.1", headers: dict[str, str] = OPERATOR, **extra: Any) -> Response:
    return await api.post(f"/wallets/{CLINIC}/holds/settle", headers, {"message_id": message_id, **extra})


async def void(api: Api, message_id: str = "wamid.1", headers: dict[str, str] = OPERATOR) -> Response:
    return await api.post(f"/wallets/{CLINIC}/holds/void", headers, {"message_id": message_id})


async def wallet(api: Api, tenant: str = CLINIC) -> dict[str, Any]:
    response = await api.get(f"/wallets/{tenant}", OPERATOR)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def ledger(api: Api) -> list[dict[str, Any]]:
    response = await api.get(f"/wallets/{CLINIC}/transactions", OPERATOR)
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = response.json()["items"]
    return rows


def funds(body: dict[str, Any]) -> tuple[str, str, str]:
    return body["balance"], body["held"], body["available"]


# POST /wallets/{tenant_id}/holds ------------------------------------------------------------------------------


async def test_an_operator_holds_a_message_and_available_falls(funded: Api) -> None:
    response = await hold(funded, WAMID)

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == ROOT_HOLD_FIELDS
    assert (body["tenant_id"], body["message_id"], body["status"]) == (CLINIC, WAMID, "held")
    assert (body["recipient"], body["country"], body["market"], body["category"], body["tier"]) == (
        "…2671",
        "US",
        "North America",
        "marketing",
        1,
    )
    assert (body["unit_price"], body["amount"], body["free_reason"], body["window"]) == ("0.025", "0.025", None, "none")
    assert [body[f] for f in ("settled_at", "voided_at", "charged", "shortfall", "transaction_id")] == [None] * 5
    assert body["settled_category"] is None
    assert funds(await wallet(funded)) == ("10.00", "0.025", "9.975")
    assert [row["kind"] for row in await ledger(funded)] == ["topup"]  # a hold writes no ledger row


async def test_a_hold_expires_after_the_default_ttl_or_the_one_asked(funded: Api) -> None:
    default = await held(funded, "wamid.default")
    short = await held(funded, "wamid.short", expires_in_seconds=60)

    def seconds(body: dict[str, Any]) -> float:
        created, expires = (datetime.fromisoformat(body[f]) for f in ("created_at", "expires_at"))
        return (expires - created).total_seconds()

    assert seconds(default) == 2_592_000
    assert seconds(short) == 60


async def test_the_same_hold_again_answers_200_with_the_first_and_holds_nothing_more(funded: Api) -> None:
    first = await held(funded, WAMID)

    repeat = await hold(funded, WAMID)

    assert repeat.status_code == 200, repeat.text
    assert repeat.json() == first
    assert funds(await wallet(funded)) == ("10.00", "0.025", "9.975")


async def test_the_same_message_id_with_another_category_is_a_duplicate(funded: Api) -> None:
    await held(funded, WAMID)

    assert_problem(await hold(funded, WAMID, "utility"), 409, "duplicate")
    assert_problem(await hold(funded, WAMID, recipient=INDIA), 409, "duplicate")  # another market
    assert_problem(await hold(funded, WAMID, window="customer_service"), 409, "duplicate")
    assert funds(await wallet(funded)) == ("10.00", "0.025", "9.975")


async def test_holding_a_message_already_charged_directly_is_a_duplicate(funded: Api) -> None:
    charge = {"amount": "0.05", "reference_id": WAMID}
    assert (await funded.post(f"/wallets/{CLINIC}/charges", OPERATOR, charge)).status_code == 201

    assert_problem(await hold(funded, WAMID), 409, "duplicate")


async def test_a_direct_charge_reusing_a_held_message_id_is_a_duplicate(funded: Api) -> None:
    await held(funded, WAMID)

    charge = {"amount": "0.05", "reference_id": WAMID}
    assert_problem(await funded.post(f"/wallets/{CLINIC}/charges", OPERATOR, charge), 409, "duplicate")


async def test_a_hold_available_cannot_cover_is_refused_and_nothing_is_held(api: Api) -> None:
    assert (await api.post("/rate-cards", OPERATOR, CARD)).status_code == 201

    assert_problem(await hold(api), 409, "insufficient_funds")

    assert funds(await wallet(api)) == ("0.00", "0.00", "0.00")
    assert (await api.get(f"/wallets/{CLINIC}/holds", OPERATOR)).json()["total"] == 0


async def test_a_direct_charge_needs_available_not_balance(funded: Api) -> None:
    await held(funded, "wamid.big", "marketing", recipient="+447911123456")  # Other: 0.0604

    too_much = {"amount": "9.99", "reference_id": "direct-1"}
    response = await funded.post(f"/wallets/{CLINIC}/charges", OPERATOR, too_much)

    assert_problem(response, 409, "insufficient_funds")
    exact = {"amount": "9.9396", "reference_id": "direct-2"}
    assert (await funded.post(f"/wallets/{CLINIC}/charges", OPERATOR, exact)).status_code == 201
    assert funds(await wallet(funded)) == ("0.0604", "0.0604", "0.00")


async def test_a_free_hold_is_never_refused_for_funds(api: Api) -> None:
    assert (await api.post("/rate-cards", OPERATOR, CARD)).status_code == 201

    response = await hold(api, category="utility", window="customer_service")

    assert response.status_code == 201, response.text
    assert (response.json()["amount"], response.json()["free_reason"]) == ("0.00", "customer_service_window")


async def test_a_marketing_hold_that_would_eat_into_the_reserve_closes_the_lane(funded: Api) -> None:
    reserve = await funded.client.put(
        f"{BASE}/wallet/settings", headers=OPERATOR, params={"tenant_id": CLINIC}, json={"marketing_reserve": "9.98"}
    )
    assert reserve.status_code == 200, reserve.text

    assert_problem(await hold(funded, "wamid.m", "marketing"), 409, "lane_closed")
    assert (await hold(funded, "wamid.u", "utility")).status_code == 201  # the clinical lane stays open
    assert (await hold(funded, "wamid.a", "authentication")).status_code == 201
    assert funds(await wallet(funded)) == ("10.00", "0.0175", "9.9825")


async def test_a_frozen_wallet_refuses_holds_and_direct_charges(funded: Api) -> None:
    frozen = await funded.post(f"/wallets/{CLINIC}/freeze", OPERATOR, {"reason": "chargeback under review"})
    assert frozen.status_code == 200, frozen.text

    assert_problem(await hold(funded), 409, "wallet_frozen")
    assert_problem(await hold(funded, category="utility", window="customer_service"), 409, "wallet_frozen")  # free
    charge = {"amount": "1.00", "reference_id": "direct-1"}
    assert_problem(await funded.post(f"/wallets/{CLINIC}/charges", OPERATOR, charge), 409, "wallet_frozen")
    assert (await funded.post(f"/wallets/{CLINIC}/unfreeze", OPERATOR)).status_code == 200
    assert (await hold(funded)).status_code == 201


async def test_nothing_priced_is_a_422(api: Api) -> None:
    await api.fund("10.00")

    assert_problem(await hold(api), 422, "not_priced")


async def test_a_hold_request_is_validated_field_by_field(funded: Api) -> None:
    assert set(field_errors(await funded.post(f"/wallets/{CLINIC}/holds", OPERATOR, {}))) == {
        "message_id",
        "category",
        "recipient",
    }
    assert list(field_errors(await hold(funded, category="newsletter"))) == ["category"]
    assert list(field_errors(await hold(funded, window="always"))) == ["window"]
    assert list(field_errors(await hold(funded, recipient="not a number"))) == ["recipient"]
    assert list(field_errors(await hold(funded, message_id=""))) == ["message_id"]
    assert list(field_errors(await hold(funded, message_id="x" * 201))) == ["message_id"]
    assert list(field_errors(await hold(funded, expires_in_seconds=0))) == ["expires_in_seconds"]
    assert list(field_errors(await hold(funded, expires_in_seconds=2_592_001))) == ["expires_in_seconds"]
    assert list(field_errors(await hold(funded, expires_in_seconds="60"))) == ["expires_in_seconds"]
    assert list(field_errors(await hold(funded, tenant_id=CLINIC))) == ["tenant_id"]  # unknown fields are refused
    assert funds(await wallet(funded)) == ("10.00", "0.00", "10.00")


async def test_metas_category_names_are_held_as_the_category_they_price_as(funded: Api) -> None:
    lite = await held(funded, "wamid.lite", "marketing_lite")
    referral = await held(funded, "wamid.referral", "referral_conversion")

    assert (lite["category"], lite["amount"]) == ("marketing", "0.025")
    assert (referral["category"], referral["amount"], referral["free_reason"]) == (
        "marketing",
        "0.00",
        "free_entry_point",
    )


async def test_a_clinic_cannot_hold_settle_or_void_even_on_its_own_wallet(funded: Api) -> None:
    await held(funded, WAMID)

    for headers in (CLINIC_MANAGER, CLINIC_USER, ROOT_VIEWER):
        assert_problem(await hold(funded, "wamid.2", headers=headers), 403, "forbidden")
        batch = {"messages": [{"message_id": "wamid.3", "category": "marketing", "recipient": USA}]}
        assert_problem(await funded.post(f"/wallets/{CLINIC}/holds/batch", headers, batch), 403, "forbidden")
        assert_problem(await settle(funded, WAMID, headers=headers), 403, "forbidden")
        assert_problem(await void(funded, WAMID, headers=headers), 403, "forbidden")
    assert funds(await wallet(funded)) == ("10.00", "0.025", "9.975")


async def test_a_replayed_hold_answers_the_kept_response(funded: Api) -> None:
    body = {"message_id": WAMID, "category": "marketing", "recipient": USA}
    keyed = {**OPERATOR, "Idempotency-Key": "hold-1"}

    first = await funded.post(f"/wallets/{CLINIC}/holds", keyed, body)
    replay = await funded.post(f"/wallets/{CLINIC}/holds", keyed, body)

    assert first.status_code == 201
    assert (replay.status_code, replay.content) == (201, first.content)
    assert replay.headers["idempotent-replayed"] == "true"
    reused = await funded.post(f"/wallets/{CLINIC}/holds", keyed, {**body, "category": "utility"})
    assert_problem(reused, 422, "idempotency_key_reused")


# POST /wallets/{tenant_id}/holds/batch ------------------------------------------------------------------------


def messages(*message_ids: str, category: str = "marketing", recipient: str = USA) -> list[dict[str, str]]:
    return [{"message_id": m, "category": category, "recipient": recipient} for m in message_ids]


async def batch(api: Api, body: dict[str, Any], headers: dict[str, str] = OPERATOR) -> Response:
    return await api.post(f"/wallets/{CLINIC}/holds/batch", headers, body)


async def test_a_batch_holds_every_message_and_totals_them(funded: Api) -> None:
    asked = [*messages("wamid.1", "wamid.2"), {"message_id": "wamid.3", "category": "utility", "recipient": INDIA}]

    response = await batch(funded, {"messages": asked, "expires_in_seconds": 600})

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"items", "total"}
    assert [(h["message_id"], h["amount"], h["status"]) for h in body["items"]] == [
        ("wamid.1", "0.025", "held"),
        ("wamid.2", "0.025", "held"),
        ("wamid.3", "0.0014", "held"),
    ]
    assert all(set(item) == ROOT_HOLD_FIELDS for item in body["items"])
    assert body["total"] == "0.0514"
    assert funds(await wallet(funded)) == ("10.00", "0.0514", "9.9486")


async def test_a_batch_already_held_as_asked_answers_200_and_holds_nothing_more(funded: Api) -> None:
    first = await batch(funded, {"messages": messages("wamid.1", "wamid.2")})

    repeat = await batch(funded, {"messages": messages("wamid.1", "wamid.2")})
    grown = await batch(funded, {"messages": messages("wamid.2", "wamid.3")})

    assert first.status_code == 201
    assert repeat.status_code == 200
    assert repeat.json() == first.json()
    assert grown.status_code == 201  # wamid.3 is new; wamid.2 comes back as it is
    assert grown.json()["items"][0] == first.json()["items"][1]
    assert funds(await wallet(funded)) == ("10.00", "0.075", "9.925")


async def test_a_batch_is_all_or_nothing(funded: Api) -> None:
    expensive = [
        {"message_id": f"wamid.{n}", "category": "marketing", "recipient": "+447911123456"} for n in range(200)
    ]

    assert_problem(await batch(funded, {"messages": expensive}), 409, "insufficient_funds")  # 200 x 0.0604 = 12.08

    assert funds(await wallet(funded)) == ("10.00", "0.00", "10.00")
    assert (await funded.get(f"/wallets/{CLINIC}/holds", OPERATOR)).json()["total"] == 0


async def test_a_batch_with_one_message_refused_holds_none_of_them(funded: Api) -> None:
    await held(funded, "wamid.2", "utility")

    response = await batch(funded, {"messages": messages("wamid.1", "wamid.2")})  # wamid.2 held as utility

    assert_problem(response, 409, "duplicate")
    page = (await funded.get(f"/wallets/{CLINIC}/holds", OPERATOR)).json()
    assert [h["message_id"] for h in page["items"]] == ["wamid.2"]


async def test_one_message_id_twice_in_a_batch_is_a_400(funded: Api) -> None:
    response = await batch(funded, {"messages": messages("wamid.1", "wamid.2", "wamid.1")})

    assert field_errors(response) == {"messages[2].message_id": "repeats messages[0].message_id"}
    assert funds(await wallet(funded)) == ("10.00", "0.00", "10.00")


async def test_a_batch_is_validated_message_by_message(funded: Api) -> None:
    assert list(field_errors(await batch(funded, {"messages": []}))) == ["messages"]
    assert list(field_errors(await batch(funded, {}))) == ["messages"]
    too_many = messages(*(f"wamid.{n}" for n in range(1001)))
    assert list(field_errors(await batch(funded, {"messages": too_many}))) == ["messages"]
    bad_category = [*messages("wamid.1"), {"message_id": "wamid.2", "category": "spam", "recipient": USA}]
    assert list(field_errors(await batch(funded, {"messages": bad_category}))) == ["messages[1].category"]
    bad_number = [*messages("wamid.1"), {"message_id": "wamid.2", "category": "utility", "recipient": "12"}]
    assert list(field_errors(await batch(funded, {"messages": bad_number}))) == ["messages[1].recipient"]
    unknown = [{**messages("wamid.1")[0], "price": "0"}]
    assert list(field_errors(await batch(funded, {"messages": unknown}))) == ["messages.0.price"]


async def test_a_batch_of_a_thousand_messages_fits_in_one_request(funded: Api) -> None:
    ids = [f"wamid.HBgLMTQxNTU1NTI2NzEVAgARGBI5QTNDQTVCM0Q0Q0Q2RTY3RTcA{n:04d}" for n in range(1000)]
    body = {"messages": messages(*ids, category="utility")}

    response = await batch(funded, body)

    assert response.status_code == 201, response.text
    assert len(response.json()["items"]) == 1000
    assert response.json()["total"] == "4.00"


# POST /wallets/{tenant_id}/holds/settle -----------------------------------------------------------------------


async def test_settling_charges_the_held_price_once_with_its_price_snapshot(funded: Api) -> None:
    placed = await held(funded, WAMID)

    response = await settle(funded, WAMID)

    assert response.status_code == 200, response.text
    settled = response.json()
    assert (settled["id"], settled["status"], settled["charged"], settled["shortfall"]) == (
        placed["id"],
        "settled",
        "0.025",
        "0.00",
    )
    assert settled["settled_at"] is not None
    assert settled["settled_category"] == "marketing"
    assert funds(await wallet(funded)) == ("9.975", "0.00", "9.975")
    charge = (await ledger(funded))[0]
    assert (charge["id"], charge["kind"], charge["amount"], charge["reference_id"]) == (
        settled["transaction_id"],
        "charge",
        "-0.025",
        WAMID,
    )
    assert charge["price"] == {
        "hold_id": placed["id"],
        "category": "marketing",
        "market": "North America",
        "country": "US",
        "tier": 1,
        "rate_card_id": placed["rate_card_id"],
        "unit_price": "0.025",
        "free_reason": None,
        # root's ledger shows what the message cost; no cost card is in force here, so it is uncosted
        "cost": None,
        "cost_unit_price": None,
        "cost_card_id": None,
        "cost_tier": None,
    }


async def test_settling_again_answers_the_settled_hold_and_charges_nothing_more(funded: Api) -> None:
    await held(funded, WAMID)
    first = await settle(funded, WAMID)

    repeat = await settle(funded, WAMID)

    assert (repeat.status_code, repeat.json()) == (200, first.json())
    assert [row["kind"] for row in await ledger(funded)] == ["charge", "topup"]


async def test_metas_other_category_reprices_the_message_on_the_holds_card(funded: Api) -> None:
    await held(funded, WAMID, "utility")  # 0.004 held

    response = await settle(funded, WAMID, category="marketing")

    settled = response.json()
    assert (settled["category"], settled["amount"]) == ("utility", "0.004")  # the hold as it was asked
    assert (settled["settled_category"], settled["charged"], settled["shortfall"]) == ("marketing", "0.025", "0.00")
    assert funds(await wallet(funded)) == ("9.975", "0.00", "9.975")
    assert (await ledger(funded))[0]["price"]["category"] == "marketing"


async def test_a_free_pricing_type_settles_free_without_a_ledger_row(funded: Api) -> None:
    await held(funded, "wamid.cs")
    await held(funded, "wamid.fep")
    await held(funded, "wamid.nb")

    cs = (await settle(funded, "wamid.cs", pricing_type="free_customer_service")).json()
    fep = (await settle(funded, "wamid.fep", pricing_type="free_entry_point")).json()
    not_billable = (await settle(funded, "wamid.nb", billable=False)).json()

    for hold_body in (cs, fep, not_billable):
        assert (hold_body["status"], hold_body["charged"], hold_body["transaction_id"]) == ("settled", "0.00", None)
    assert funds(await wallet(funded)) == ("10.00", "0.00", "10.00")
    assert [row["kind"] for row in await ledger(funded)] == ["topup"]


async def test_a_settle_request_is_validated(funded: Api) -> None:
    await held(funded, WAMID)

    assert list(field_errors(await settle(funded, WAMID, pricing_type="cheap"))) == ["pricing_type"]
    assert list(field_errors(await settle(funded, WAMID, billable="no"))) == ["billable"]
    assert list(field_errors(await settle(funded, WAMID, category="newsletter"))) == ["category"]
    assert list(field_errors(await funded.post(f"/wallets/{CLINIC}/holds/settle", OPERATOR, {}))) == ["message_id"]
    assert_problem(await settle(funded, "wamid.unknown"), 404, "not_found")
    assert funds(await wallet(funded)) == ("10.00", "0.025", "9.975")


async def test_a_voided_hold_cannot_be_settled(funded: Api) -> None:
    await held(funded, WAMID)
    assert (await void(funded, WAMID)).status_code == 200

    assert_problem(await settle(funded, WAMID), 409, "invalid_state")
    assert [row["kind"] for row in await ledger(funded)] == ["topup"]


async def test_an_expired_hold_cannot_be_settled_and_voiding_it_answers_it_expired(funded: Api) -> None:
    await held(funded, WAMID, expires_in_seconds=60)
    funded.clock.advance(timedelta(seconds=61))

    assert_problem(await settle(funded, WAMID), 409, "invalid_state")
    voided = await void(funded, WAMID)

    assert (voided.status_code, voided.json()["status"], voided.json()["voided_at"]) == (200, "expired", None)
    assert funds(await wallet(funded)) == ("10.00", "0.00", "10.00")
    assert [row["kind"] for row in await ledger(funded)] == ["topup"]


async def test_a_frozen_wallet_still_settles_and_voids_its_holds(funded: Api) -> None:
    await held(funded, "wamid.1")
    await held(funded, "wamid.2")
    assert (await funded.post(f"/wallets/{CLINIC}/freeze", OPERATOR, {"reason": "audit"})).status_code == 200

    assert (await settle(funded, "wamid.1")).json()["status"] == "settled"
    assert (await void(funded, "wamid.2")).json()["status"] == "voided"
    assert funds(await wallet(funded)) == ("9.975", "0.00", "9.975")


# POST /wallets/{tenant_id}/holds/void -------------------------------------------------------------------------


async def test_voiding_releases_the_money_and_a_repeat_answers_it_unchanged(funded: Api) -> None:
    await held(funded, WAMID)

    first = await void(funded, WAMID)
    repeat = await void(funded, WAMID)

    assert first.status_code == 200, first.text
    assert (first.json()["status"], first.json()["charged"]) == ("voided", None)
    assert first.json()["voided_at"] is not None
    assert (repeat.status_code, repeat.json()) == (200, first.json())
    assert funds(await wallet(funded)) == ("10.00", "0.00", "10.00")
    assert [row["kind"] for row in await ledger(funded)] == ["topup"]


async def test_a_settled_hold_cannot_be_voided(funded: Api) -> None:
    await held(funded, WAMID)
    await settle(funded, WAMID)

    assert_problem(await void(funded, WAMID), 409, "invalid_state")
    assert_problem(await void(funded, "wamid.unknown"), 404, "not_found")
    assert funds(await wallet(funded)) == ("9.975", "0.00", "9.975")


# GET holds ----------------------------------------------------------------------------------------------------


async def _three_holds(api: Api) -> dict[str, dict[str, Any]]:
    """wamid.m (marketing, settled), wamid.u (utility, held) and WAMID (marketing, held), in that order."""
    bodies = {m: await held(api, m, c) for m, c in (("wamid.m", "marketing"), ("wamid.u", "utility"))}
    bodies[WAMID] = await held(api, WAMID, "marketing")
    await settle(api, "wamid.m")
    return bodies


async def test_an_operator_lists_a_tenants_holds_newest_first_and_filters_them(funded: Api) -> None:
    await _three_holds(funded)

    async def listed(**params: str) -> list[str]:
        response = await funded.get(f"/wallets/{CLINIC}/holds", ROOT_VIEWER, params=params)
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"items", "page", "page_size", "total"}
        return [h["message_id"] for h in response.json()["items"]]

    assert await listed() == [WAMID, "wamid.u", "wamid.m"]
    assert await listed(status="held") == [WAMID, "wamid.u"]
    assert await listed(status="settled") == ["wamid.m"]
    assert await listed(category="marketing") == [WAMID, "wamid.m"]
    assert await listed(category="utility", status="held") == ["wamid.u"]
    assert await listed(message_id=WAMID) == [WAMID]  # `/`, `+` and `=` in a query string
    assert await listed(message_id="wamid.none") == []
    assert await listed(page="2", page_size="2") == ["wamid.m"]
    assert list(field_errors(await funded.get(f"/wallets/{CLINIC}/holds", OPERATOR, params={"status": "open"})))
    assert list(field_errors(await funded.get(f"/wallets/{CLINIC}/holds", OPERATOR, params={"page_size": "101"})))


async def test_a_clinic_lists_its_own_holds_but_not_through_the_operator_route(funded: Api) -> None:
    await _three_holds(funded)

    mine = await funded.get("/wallet/me/holds", CLINIC_USER, params={"status": "held", "category": "marketing"})
    others = await funded.get("/wallet/me/holds", OTHER_CLINIC_USER)

    assert [h["message_id"] for h in mine.json()["items"]] == [WAMID]
    assert others.json()["total"] == 0
    assert (await funded.get("/wallet/me/holds", CLINIC_USER, params={"message_id": WAMID})).json()["total"] == 1
    assert_problem(await funded.get(f"/wallets/{CLINIC}/holds", CLINIC_USER), 403, "forbidden")
    assert_problem(await funded.get(f"/wallets/{OTHER_CLINIC}/holds", CLINIC_USER), 403, "forbidden")


async def test_one_hold_is_read_by_its_id_within_its_tenant(funded: Api) -> None:
    placed = await held(funded, WAMID)
    path = f"/wallets/{CLINIC}/holds/{placed['id']}"

    assert (await funded.get(path, ROOT_VIEWER)).json() == placed
    seen_by_clinic = {key: value for key, value in placed.items() if key != "cost_estimate"}
    assert (await funded.get(path, CLINIC_USER)).json() == seen_by_clinic  # its own, without costs
    assert_problem(await funded.get(path, OTHER_CLINIC_USER), 404, "not_found")
    assert_problem(await funded.get(f"/wallets/{OTHER_CLINIC}/holds/{placed['id']}", OPERATOR), 404, "not_found")
    assert_problem(await funded.get(f"/wallets/{CLINIC}/holds/{uuid4()}", OPERATOR), 404, "not_found")
    assert list(field_errors(await funded.get(f"/wallets/{CLINIC}/holds/not-a-uuid", OPERATOR))) == ["hold_id"]


async def test_message_ids_with_slash_plus_and_equals_travel_in_bodies(funded: Api) -> None:
    ids = ["wamid.a/b", "wamid.a+b", "wamid.a==", "wamid.+/="]
    for message_id in ids:
        await held(funded, message_id)

    assert (await settle(funded, "wamid.a/b")).json()["message_id"] == "wamid.a/b"
    assert (await void(funded, "wamid.a+b")).json()["message_id"] == "wamid.a+b"
    for message_id in ids:
        page = (await funded.get(f"/wallets/{CLINIC}/holds", OPERATOR, params={"message_id": message_id})).json()
        assert [h["message_id"] for h in page["items"]] == [message_id]


# v1 answers stay as they were (§14) ---------------------------------------------------------------------------


async def test_a_whole_cent_wallet_answers_as_in_v1(api: Api) -> None:
    await api.fund("150.00")
    charge = {"amount": "1.25", "reference_id": "wamid.v1"}
    assert (await api.post(f"/wallets/{CLINIC}/charges", OPERATOR, charge)).status_code == 201

    mine = (await api.get("/wallet/me", CLINIC_USER)).json()
    rows = (await api.get("/wallet/me/transactions", CLINIC_USER)).json()["items"]

    assert (mine["balance"], mine["currency"]) == ("148.75", "USD")
    assert (mine["held"], mine["available"], mine["status"], mine["frozen_reason"]) == (
        "0.00",
        "148.75",
        "active",
        None,
    )
    assert [(r["kind"], r["amount"], r["balance_after"], r["price"]) for r in rows] == [
        ("charge", "-1.25", "148.75", None),
        ("topup", "150.00", "150.00", None),
    ]
    v1_row = {"id", "wallet_id", "tenant_id", "kind", "amount", "balance_after", "currency", "reference_id"}
    assert v1_row | {"description", "created_at"} <= set(rows[0])


async def test_holds_need_a_path_tenant_id_that_is_a_tenant_id(funded: Api) -> None:
    response = await hold(funded, tenant="no such tenant!")

    assert list(field_errors(response)) == ["tenant_id"]


async def test_the_schema_documents_the_hold_routes(api: Api) -> None:
    document = (await api.client.get("/schema/openapi.json")).json()
    paths = document["paths"]

    place = paths[f"{BASE}/wallets/{{tenant_id}}/holds"]["post"]
    assert {"200", "201", "400", "403", "409", "422"} <= place["responses"].keys()
    assert "lane_closed" in place["responses"]["409"]["description"]
    assert "wallet_frozen" in place["responses"]["409"]["description"]
    assert {"200", "201", "409"} <= paths[f"{BASE}/wallets/{{tenant_id}}/holds/batch"]["post"]["responses"].keys()
    assert "409" in paths[f"{BASE}/wallets/{{tenant_id}}/holds/settle"]["post"]["responses"]
    assert "404" in paths[f"{BASE}/wallets/{{tenant_id}}/holds/{{hold_id}}"]["get"]["responses"]
    hold_out = document["components"]["schemas"]["HoldOut"]
    assert set(hold_out["properties"]) == ROOT_HOLD_FIELDS
