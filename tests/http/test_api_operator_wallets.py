"""An operator on any tenant's wallet: read, charge once per reference, refund."""

from __future__ import annotations

import pytest
from api_support import (
    CLINIC,
    CLINIC_MANAGER,
    CLINIC_USER,
    OPERATOR,
    OTHER_CLINIC,
    ROOT_VIEWER,
    Api,
    assert_problem,
    field_errors,
)


async def test_root_reads_any_tenants_wallet_and_ledger(api: Api) -> None:
    await api.fund("40.00")

    wallet = await api.get(f"/wallets/{CLINIC}", ROOT_VIEWER)
    ledger = await api.get(f"/wallets/{CLINIC}/transactions", ROOT_VIEWER)

    assert wallet.status_code == 200
    assert wallet.json()["balance"] == "40.00"
    assert ledger.status_code == 200
    assert [row["kind"] for row in ledger.json()["items"]] == ["topup"]


async def test_a_clinic_cannot_read_another_tenants_wallet(api: Api) -> None:
    assert_problem(await api.get(f"/wallets/{OTHER_CLINIC}", CLINIC_USER), 403, "forbidden")
    assert_problem(await api.get(f"/wallets/{OTHER_CLINIC}/transactions", CLINIC_USER), 403, "forbidden")


async def test_the_operator_route_is_for_operators_even_on_the_own_wallet(api: Api) -> None:
    await api.fund("40.00")

    assert_problem(await api.get(f"/wallets/{CLINIC}", CLINIC_USER), 403, "forbidden")
    assert_problem(await api.get(f"/wallets/{CLINIC}/transactions", CLINIC_USER), 403, "forbidden")
    assert (await api.get("/wallet/me", CLINIC_USER)).json()["balance"] == "40.00"


async def test_a_charge_debits_once_per_reference(api: Api) -> None:
    await api.fund("100.00")

    first = await api.post(f"/wallets/{CLINIC}/charges", OPERATOR, {"amount": "0.35", "reference_id": "wamid.1"})
    repeat = await api.post(f"/wallets/{CLINIC}/charges", OPERATOR, {"amount": 0.35, "reference_id": "wamid.1"})

    assert first.status_code == 201
    row = first.json()
    assert (row["kind"], row["amount"], row["balance_after"], row["reference_id"]) == (
        "charge",
        "-0.35",
        "99.65",
        "wamid.1",
    )
    assert repeat.status_code == 200
    assert repeat.json() == row
    assert await api.balance(CLINIC) == "99.65"


async def test_the_same_reference_with_another_amount_is_a_conflict(api: Api) -> None:
    await api.fund("100.00")
    await api.post(f"/wallets/{CLINIC}/charges", OPERATOR, {"amount": "1.00", "reference_id": "m-1"})

    response = await api.post(f"/wallets/{CLINIC}/charges", OPERATOR, {"amount": "2.00", "reference_id": "m-1"})

    assert_problem(response, 409, "duplicate")
    assert await api.balance(CLINIC) == "99.00"


async def test_a_charge_that_would_overdraw_fails_and_changes_nothing(api: Api) -> None:
    await api.fund("1.00")

    response = await api.post(f"/wallets/{CLINIC}/charges", OPERATOR, {"amount": "1.01", "reference_id": "m-1"})

    assert_problem(response, 409, "insufficient_funds")
    assert await api.balance(CLINIC) == "1.00"
    assert (await api.get(f"/wallets/{CLINIC}/transactions", OPERATOR)).json()["total"] == 1


async def test_a_refund_credits_the_rest_of_a_charge_by_default(api: Api) -> None:
    await api.fund("10.00")
    await api.post(f"/wallets/{CLINIC}/charges", OPERATOR, {"amount": "3.00", "reference_id": "m-1"})

    partial = await api.post(f"/wallets/{CLINIC}/refunds", OPERATOR, {"reference_id": "m-1", "amount": "1.00"})
    rest = await api.post(f"/wallets/{CLINIC}/refunds", OPERATOR, {"reference_id": "m-1"})
    more = await api.post(f"/wallets/{CLINIC}/refunds", OPERATOR, {"reference_id": "m-1"})

    assert partial.status_code == 201
    assert partial.json()["amount"] == "1.00"
    assert rest.status_code == 201
    assert rest.json()["amount"] == "2.00"
    assert rest.json()["balance_after"] == "10.00"
    assert_problem(more, 409, "invalid_state")


async def test_refunding_an_unknown_charge_is_not_found(api: Api) -> None:
    response = await api.post(f"/wallets/{CLINIC}/refunds", OPERATOR, {"reference_id": "nope"})

    assert_problem(response, 404, "not_found")


@pytest.mark.parametrize("who", [CLINIC_USER, CLINIC_MANAGER, ROOT_VIEWER], ids=["clinic", "clinic-manager", "viewer"])
async def test_only_a_root_manager_charges_or_refunds(api: Api, who: dict[str, str]) -> None:
    await api.fund("10.00")

    charge = await api.post(f"/wallets/{CLINIC}/charges", who, {"amount": "1.00", "reference_id": "m-1"})
    refund = await api.post(f"/wallets/{CLINIC}/refunds", who, {"reference_id": "m-1"})

    assert_problem(charge, 403, "forbidden")
    assert_problem(refund, 403, "forbidden")
    assert await api.balance(CLINIC) == "10.00"


@pytest.mark.parametrize("reference", ["", "r" * 201])
async def test_a_reference_is_1_to_200_characters(api: Api, reference: str) -> None:
    await api.fund("10.00")

    response = await api.post(f"/wallets/{CLINIC}/charges", OPERATOR, {"amount": "1.00", "reference_id": reference})

    assert set(field_errors(response)) == {"reference_id"}


async def test_a_bad_tenant_id_in_the_path_is_a_validation_error(api: Api) -> None:
    response = await api.get(f"/wallets/{'x' * 65}", OPERATOR)

    assert set(field_errors(response)) == {"tenant_id"}
