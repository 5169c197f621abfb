"""Idempotency keys: a completed response replays byte for byte; the same key elsewhere is refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from api_support import BASE, CLINIC, CLINIC_USER, OPERATOR, OTHER_CLINIC_USER, Api, assert_problem, field_errors
from dependency_injector import providers
from litestar.testing import AsyncTestClient

from billing.adapters.memory.unit_of_work import InMemoryUnitOfWork
from billing.container import Container
from billing.entrypoints.http.app import create_app

TOPUPS = "/wallet/topup-requests"


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def test_a_repeat_replays_the_first_response_byte_for_byte_and_does_nothing_else(api: Api) -> None:
    first = await api.post(TOPUPS, keyed(CLINIC_USER, "order-1"), {"amount": "150.00"})
    repeat = await api.post(TOPUPS, keyed(CLINIC_USER, "order-1"), {"amount": "150.00"})

    assert first.status_code == repeat.status_code == 201
    assert repeat.content == first.content
    assert repeat.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert (await api.get(TOPUPS + "/me", CLINIC_USER)).json()["total"] == 1


async def test_a_replayed_charge_debits_once(api: Api) -> None:
    await api.fund("10.00")
    body = {"amount": "1.00", "reference_id": "m-1"}

    first = await api.post(f"/wallets/{CLINIC}/charges", keyed(OPERATOR, "k"), body)
    repeat = await api.post(f"/wallets/{CLINIC}/charges", keyed(OPERATOR, "k"), body)

    assert (first.status_code, repeat.status_code) == (201, 201)
    assert repeat.content == first.content
    assert await api.balance(CLINIC) == "9.00"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (TOPUPS, {"amount": "151.00"}),
        (TOPUPS, {"amount": "150.00", "note": "another"}),
        ("/wallets/clinic-a/charges", {"amount": "150.00", "reference_id": "x"}),
    ],
    ids=["other amount", "other field", "other path"],
)
async def test_the_same_key_for_another_request_is_refused(api: Api, path: str, body: dict[str, str]) -> None:
    await api.post(TOPUPS, keyed(OPERATOR, "k-1"), {"amount": "150.00"})

    response = await api.post(path, keyed(OPERATOR, "k-1"), body)

    assert_problem(response, 422, "idempotency_key_reused")
    assert (await api.get(TOPUPS + "/me", OPERATOR)).json()["total"] == 1


async def test_a_domain_4xx_is_kept_and_replayed(api: Api) -> None:
    pending = await api.request_topup()
    await api.post(f"{TOPUPS}/{pending['id']}/reject", OPERATOR, {"reason": "first"})

    first = await api.post(f"{TOPUPS}/{pending['id']}/reject", keyed(OPERATOR, "r"), {"reason": "again"})
    repeat = await api.post(f"{TOPUPS}/{pending['id']}/reject", keyed(OPERATOR, "r"), {"reason": "again"})

    assert_problem(first, 409, "invalid_state")
    assert repeat.status_code == 409
    assert repeat.content == first.content
    assert repeat.headers["idempotent-replayed"] == "true"


async def test_a_kept_4xx_replays_even_after_the_state_changed(api: Api) -> None:
    """The key answers what it answered first: a repeat does nothing else, even if it would now succeed."""
    request = await api.request_topup("100.00")
    charge = {"amount": "50.00", "reference_id": "m-1"}
    refused = await api.post(f"/wallets/{CLINIC}/charges", keyed(OPERATOR, "c"), charge)
    invoice = (await api.approve(request["id"]))["invoice_id"]
    await api.post(f"/invoices/{invoice}/mark-paid", OPERATOR, {"payment_reference": "p"})

    repeat = await api.post(f"/wallets/{CLINIC}/charges", keyed(OPERATOR, "c"), charge)

    assert_problem(refused, 409, "insufficient_funds")
    assert repeat.status_code == 409
    assert repeat.content == refused.content
    assert await api.balance(CLINIC) == "100.00"


async def test_a_forbidden_response_is_not_kept(api: Api) -> None:
    pending = await api.request_topup()
    body = {"reason": "no"}

    refused = await api.post(f"{TOPUPS}/{pending['id']}/reject", keyed(CLINIC_USER, "x"), body)
    retried = await api.post(f"{TOPUPS}/{pending['id']}/cancel", keyed(CLINIC_USER, "x"))

    assert_problem(refused, 403, "forbidden")
    assert retried.status_code == 200
    assert "idempotent-replayed" not in retried.headers


async def test_a_request_refused_before_the_use_case_leaves_the_key_free(api: Api) -> None:
    refused = await api.post(TOPUPS, keyed(CLINIC_USER, "fix-me"), {"amount": "10", "colour": "red"})
    corrected = await api.post(TOPUPS, keyed(CLINIC_USER, "fix-me"), {"amount": "10"})

    assert refused.status_code == 400
    assert corrected.status_code == 201


async def test_keys_are_scoped_to_the_callers_tenant(api: Api) -> None:
    mine = await api.post(TOPUPS, keyed(CLINIC_USER, "shared"), {"amount": "10.00"})
    theirs = await api.post(TOPUPS, keyed(OTHER_CLINIC_USER, "shared"), {"amount": "20.00"})

    assert mine.status_code == theirs.status_code == 201
    assert theirs.json()["tenant_id"] != mine.json()["tenant_id"]


async def test_an_expired_key_may_be_used_again(api: Api) -> None:
    await api.post(TOPUPS, keyed(CLINIC_USER, "old"), {"amount": "10.00"})
    api.clock.advance(timedelta(hours=24, seconds=1))

    response = await api.post(TOPUPS, keyed(CLINIC_USER, "old"), {"amount": "20.00"})

    assert response.status_code == 201
    assert "idempotent-replayed" not in response.headers


@pytest.mark.parametrize(
    "key", [b"", b"x" * 256, "caf\u00e9".encode(), b"tab\there"], ids=["empty", "too long", "non-ascii", "tab"]
)
async def test_a_malformed_key_is_a_validation_error(api: Api, key: bytes) -> None:
    response = await api.client.post(
        BASE + TOPUPS,
        json={"amount": "10"},
        headers=[*((k.encode(), v.encode()) for k, v in CLINIC_USER.items()), (b"idempotency-key", key)],
    )

    assert list(field_errors(response)) == ["Idempotency-Key"]
    assert (await api.get(TOPUPS + "/me", CLINIC_USER)).json()["total"] == 0


async def test_a_key_of_255_printable_characters_is_fine(api: Api) -> None:
    response = await api.post(TOPUPS, keyed(CLINIC_USER, "~" * 200 + " " + "a" * 54), {"amount": "10"})

    assert response.status_code == 201


@pytest.mark.parametrize("container", ["memory"], indirect=True)
async def test_a_key_still_held_by_a_running_request_is_in_progress(container: Container) -> None:
    class HeldKeys(InMemoryUnitOfWork):
        async def __aenter__(self) -> Any:
            await super().__aenter__()

            async def claim(tenant_id: str, key: str) -> bool:
                return False

            self.idempotency_keys.claim = claim  # type: ignore[method-assign]
            return self

    container.unit_of_work.override(providers.Factory(HeldKeys, store=container.memory_store))
    async with AsyncTestClient(create_app(container, deliver_email=False)) as client:
        response = await client.post(BASE + TOPUPS, json={"amount": "10"}, headers=keyed(CLINIC_USER, "busy"))
        listed = await client.get(BASE + TOPUPS + "/me", headers=CLINIC_USER)

    assert_problem(response, 409, "idempotency_in_progress")
    assert listed.json()["total"] == 0
