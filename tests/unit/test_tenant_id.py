"""Tenant ids: 1-64 characters of A-Z a-z 0-9 _ -."""

from __future__ import annotations

import pytest

from billing.application.caller import VIEW, Caller
from billing.domain.errors import ValidationError
from billing.domain.tenant import validate_tenant_id


@pytest.mark.parametrize("tenant_id", ["a", "root", "clinic-a", "Clinic_42", "-_-", "x" * 64, "0"])
def test_valid_tenant_ids_pass_unchanged(tenant_id: str) -> None:
    assert validate_tenant_id(tenant_id) == tenant_id


@pytest.mark.parametrize(
    "tenant_id",
    ["", "x" * 65, "clinic a", "clinic.a", "clinic/a", "clínica", "a\n", " a", "a;drop", None, 42, b"abc"],
)
def test_invalid_tenant_ids_are_a_validation_error_naming_the_field(tenant_id: object) -> None:
    with pytest.raises(ValidationError) as caught:
        validate_tenant_id(tenant_id)

    assert [e.field for e in caught.value.errors] == ["tenant_id"]


def test_the_field_name_can_be_chosen() -> None:
    with pytest.raises(ValidationError) as caught:
        validate_tenant_id("", field="tenant")

    assert [e.field for e in caught.value.errors] == ["tenant"]


def test_a_caller_needs_a_valid_tenant_id() -> None:
    assert Caller("u1", "clinic-a", {VIEW}).tenant_id == "clinic-a"
    with pytest.raises(ValidationError):
        Caller("u1", "clinic a", {VIEW})
