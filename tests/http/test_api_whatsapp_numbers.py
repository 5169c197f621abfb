"""Meta's business phone numbers mapped to tenants (contract v2 §11): map (201, the same again 200, another
tenant's 409), list (a page, newest first, by tenant), unmap (204, unknown 404), and who may do each: root +
Manage writes, root + View reads, a clinic does neither."""

from __future__ import annotations

from typing import Any

import pytest
from api_support import (
    BASE,
    CLINIC,
    CLINIC_MANAGER,
    CLINIC_USER,
    OPERATOR,
    OTHER_CLINIC,
    ROOT,
    ROOT_VIEWER,
    Api,
    assert_problem,
    bearer,
    field_errors,
)
from httpx import Response

NUMBERS = "/whatsapp-numbers"
PHONE = "106540352242922"
OTHER_PHONE = "106540352242999"
ROOT_WITHOUT_PERMISSIONS = bearer(ROOT, user="nobody")


async def map_number(
    api: Api, phone: str = PHONE, tenant: str = CLINIC, headers: dict[str, str] = OPERATOR, **options: Any
) -> Response:
    return await api.post(NUMBERS, headers, {"phone_number_id": phone, "tenant_id": tenant}, **options)


async def unmap(api: Api, phone: str = PHONE, headers: dict[str, str] = OPERATOR) -> Response:
    return await api.client.delete(f"{BASE}{NUMBERS}/{phone}", headers=headers)


async def listed(api: Api, **query: str) -> dict[str, Any]:
    response = await api.get(NUMBERS, OPERATOR, params=query)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def test_an_operator_maps_a_number_to_a_tenant(api: Api) -> None:
    response = await map_number(api)

    assert response.status_code == 201, response.text
    mapping = response.json()
    assert set(mapping) == {"phone_number_id", "tenant_id", "created_by", "created_at"}
    assert (mapping["phone_number_id"], mapping["tenant_id"], mapping["created_by"]) == (PHONE, CLINIC, "operator-1")
    assert mapping["created_at"].endswith(("Z", "+00:00"))


async def test_the_same_mapping_again_is_a_200_with_the_mapping_as_it_was(api: Api) -> None:
    first = (await map_number(api)).json()

    again = await map_number(api)

    assert (again.status_code, again.json()) == (200, first)
    assert (await listed(api))["total"] == 1


async def test_a_number_mapped_to_another_tenant_is_a_409_and_stays_where_it_was(api: Api) -> None:
    await map_number(api)

    response = await map_number(api, tenant=OTHER_CLINIC)

    assert_problem(response, 409, "duplicate")
    assert [m["tenant_id"] for m in (await listed(api))["items"]] == [CLINIC]


async def test_the_list_is_a_page_newest_first_filtered_by_tenant(api: Api) -> None:
    await map_number(api, PHONE, CLINIC)
    await map_number(api, OTHER_PHONE, OTHER_CLINIC)
    await map_number(api, "1065403522", CLINIC)

    everything = await listed(api)
    of_clinic = await listed(api, tenant_id=CLINIC)
    second = await listed(api, page="2", page_size="2")

    assert [m["phone_number_id"] for m in everything["items"]] == ["1065403522", OTHER_PHONE, PHONE]
    assert (everything["page"], everything["page_size"], everything["total"]) == (1, 20, 3)
    assert [m["phone_number_id"] for m in of_clinic["items"]] == ["1065403522", PHONE]
    assert ([m["phone_number_id"] for m in second["items"]], second["total"]) == ([PHONE], 3)
    assert (await listed(api, tenant_id="clinic-z"))["items"] == []


async def test_unmapping_is_a_204_and_a_number_not_mapped_is_a_404(api: Api) -> None:
    await map_number(api)

    removed = await unmap(api)
    again = await unmap(api)

    assert (removed.status_code, removed.content) == (204, b"")
    assert_problem(again, 404, "not_found")
    assert (await listed(api))["total"] == 0
    assert (await map_number(api, tenant=OTHER_CLINIC)).status_code == 201  # free to map anew


@pytest.mark.parametrize(
    "headers",
    [CLINIC_MANAGER, CLINIC_USER, ROOT_VIEWER, ROOT_WITHOUT_PERMISSIONS],
    ids=["clinic manager", "clinic user", "root view only", "root without permissions"],
)
async def test_only_root_with_manage_maps_and_unmaps(api: Api, headers: dict[str, str]) -> None:
    await map_number(api)

    mapped = await map_number(api, OTHER_PHONE, headers=headers)
    unmapped = await unmap(api, headers=headers)

    assert_problem(mapped, 403, "forbidden")
    assert_problem(unmapped, 403, "forbidden")
    assert [m["phone_number_id"] for m in (await listed(api))["items"]] == [PHONE]


async def test_root_with_view_lists_and_a_clinic_does_not(api: Api) -> None:
    await map_number(api)

    assert (await api.get(NUMBERS, ROOT_VIEWER)).json()["total"] == 1
    assert_problem(await api.get(NUMBERS, CLINIC_MANAGER), 403, "forbidden")
    assert_problem(await api.get(NUMBERS, CLINIC_USER, params={"tenant_id": CLINIC}), 403, "forbidden")
    assert_problem(await api.get(NUMBERS, {}), 401, "unauthorized")


async def test_every_route_needs_a_token(api: Api) -> None:
    assert_problem(await map_number(api, headers={}), 401, "unauthorized")
    assert_problem(await unmap(api, headers={}), 401, "unauthorized")


@pytest.mark.parametrize(
    ("mapping", "fields"),
    [
        ({"phone_number_id": "", "tenant_id": CLINIC}, ["phone_number_id"]),
        ({"phone_number_id": "   ", "tenant_id": CLINIC}, ["phone_number_id"]),
        ({"phone_number_id": "1" * 65, "tenant_id": CLINIC}, ["phone_number_id"]),
        ({"phone_number_id": "1065\n4035", "tenant_id": CLINIC}, ["phone_number_id"]),
        ({"phone_number_id": PHONE, "tenant_id": "clinic a"}, ["tenant_id"]),
        ({"phone_number_id": 106540352242922, "tenant_id": CLINIC}, ["phone_number_id"]),
        ({"tenant_id": CLINIC}, ["phone_number_id"]),
        ({}, ["phone_number_id", "tenant_id"]),
        ({"phone_number_id": PHONE, "tenant_id": CLINIC, "tenant": CLINIC}, ["tenant"]),
    ],
    ids=["empty", "blank", "too long", "two lines", "bad tenant", "a number", "no number", "nothing", "unknown field"],
)
async def test_a_bad_mapping_is_a_400_naming_the_field_and_maps_nothing(
    api: Api, mapping: dict[str, Any], fields: list[str]
) -> None:
    response = await api.post(NUMBERS, OPERATOR, mapping)

    assert list(field_errors(response)) == fields
    assert (await listed(api))["total"] == 0


async def test_a_bad_list_filter_is_a_400(api: Api) -> None:
    assert list(field_errors(await api.get(NUMBERS, OPERATOR, params={"tenant_id": "a b"}))) == ["tenant_id"]
    assert list(field_errors(await api.get(NUMBERS, OPERATOR, params={"page_size": "101"}))) == ["page_size"]


async def test_a_mapping_with_an_idempotency_key_replays(api: Api) -> None:
    first = await map_number(api, headers={**OPERATOR, "Idempotency-Key": "map-1"})
    again = await map_number(api, headers={**OPERATOR, "Idempotency-Key": "map-1"})

    assert (first.status_code, again.status_code, again.content) == (201, 201, first.content)
    assert again.headers["idempotent-replayed"] == "true"
