"""The billing contact: who receives a tenant's invoice email."""

from __future__ import annotations

from api_support import (
    BASE,
    CLINIC,
    CLINIC_MANAGER,
    CLINIC_USER,
    OPERATOR,
    OTHER_CLINIC,
    OTHER_CLINIC_USER,
    Api,
    assert_problem,
    field_errors,
)
from httpx import Response


async def _put(api: Api, headers: dict[str, str], body: object, query: str = "") -> Response:
    return await api.client.put(f"{BASE}/contact{query}", headers=headers, json=body)


async def test_a_clinic_manager_sets_its_contact_and_its_users_read_it(api: Api) -> None:
    response = await _put(api, CLINIC_MANAGER, {"email": "accounts@clinic-a.example", "name": "Accounts"})

    assert response.status_code == 200, response.text
    contact = (await api.get("/contact", CLINIC_USER)).json()
    assert contact["tenant_id"] == CLINIC
    assert contact["email"] == "accounts@clinic-a.example"
    assert contact["name"] == "Accounts"
    assert contact["updated_by"] == "clinic-manager"


async def test_a_tenant_without_a_contact_is_not_found(api: Api) -> None:
    assert_problem(await api.get("/contact", CLINIC_USER), 404, "not_found")


async def test_an_invalid_email_is_a_validation_error_naming_the_field(api: Api) -> None:
    for email in ("not-an-email", "a@b", "two@@at.example", " "):
        response = await _put(api, CLINIC_MANAGER, {"email": email})
        assert set(field_errors(response)) == {"email"}
    assert "email" in field_errors(await _put(api, CLINIC_MANAGER, {"name": "no email"}))
    assert_problem(await api.get("/contact", CLINIC_USER), 404, "not_found")  # nothing was written


async def test_view_alone_cannot_write_the_contact(api: Api) -> None:
    response = await _put(api, CLINIC_USER, {"email": "x@clinic-a.example"})
    assert_problem(response, 403, "forbidden")


async def test_a_clinic_cannot_read_or_write_another_tenants_contact(api: Api) -> None:
    await _put(api, OPERATOR, {"email": "billing@clinic-b.example"}, f"?tenant_id={OTHER_CLINIC}")

    written = await _put(api, CLINIC_MANAGER, {"email": "evil@clinic-a.example"}, f"?tenant_id={OTHER_CLINIC}")
    assert_problem(written, 404, "not_found")
    read = await api.client.get(f"{BASE}/contact?tenant_id={OTHER_CLINIC}", headers=CLINIC_USER)
    assert_problem(read, 404, "not_found")
    own = (await api.get("/contact", OTHER_CLINIC_USER)).json()
    assert own["email"] == "billing@clinic-b.example"


async def test_the_operator_sets_any_tenants_contact(api: Api) -> None:
    response = await _put(api, OPERATOR, {"email": "ops@clinic-a.example"}, f"?tenant_id={CLINIC}")

    assert response.status_code == 200
    assert (await api.get("/contact", CLINIC_USER)).json()["email"] == "ops@clinic-a.example"


async def test_an_address_that_would_inject_a_mail_header_is_refused_naming_the_field(api: Api) -> None:
    for email in (
        "up@clinic-a.example\r",
        "up@clinic-a.example\n",
        "up@clinic-a.example\r\nBcc: x@evil.example",
        "up\x00@clinic-a.example",
        "up\t@clinic-a.example",
        "up@clinic-a.example\u2028Bcc: x@evil.example",
        "up@clinic-a.example\u2029",
        "up\x85@clinic-a.example",
        "up,x@evil.example",
        "up@" + ".".join(["a" * 63] * 3) + "." + "b" * 52 + ".example",  # 255 characters, each part valid
    ):
        response = await _put(api, CLINIC_MANAGER, {"email": email, "name": "Accounts"})
        assert field_errors(response) == {"email": "must be an email address such as billing@clinic.example"}, email
    assert_problem(await api.get("/contact", CLINIC_USER), 404, "not_found")  # nothing was written
