"""Invoice numbers, checked against vectors computed here, independently of the code under test."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest

from billing.domain.numbering import subscription_invoice_number, tenant_token, topup_invoice_number

REQUEST_ID = UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0")


def _token(tenant_id: str) -> str:
    return hashlib.sha256(tenant_id.encode("utf-8")).hexdigest()[:12].upper()


@pytest.mark.parametrize(
    ("tenant_id", "token"),
    # From `printf '%s' TENANT | sha256sum`, not from Python.
    [
        ("clinic-a", "B1AF3DD8A1C5"),
        ("root", "4813494D137E"),
        ("clinic_b-9", "C8A7654943EC"),
        ("clínica", "19AE4F8B1629"),  # UTF-8, not Latin-1
    ],
)
def test_tenant_token_is_the_first_12_hex_of_sha256_upper_cased(tenant_id: str, token: str) -> None:
    assert _token(tenant_id) == token
    assert tenant_token(tenant_id) == token


def test_topup_number_spells_month_tenant_token_and_request_suffix() -> None:
    approved_at = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

    number = topup_invoice_number("clinic-a", REQUEST_ID, approved_at)

    assert number == "TOP-202611-B1AF3DD8A1C5-C3D2E1F0"
    assert number == f"TOP-202611-{_token('clinic-a')}-{str(REQUEST_ID).replace('-', '')[-8:].upper()}"


@pytest.mark.parametrize(
    ("approved_at", "month"),
    [
        # 1 Dec 01:30 at UTC+05:00 is still 30 Nov 20:30 in UTC.
        (datetime(2026, 12, 1, 1, 30, tzinfo=timezone(timedelta(hours=5))), "202611"),
        # 30 Nov 21:00 at UTC-05:00 is already 1 Dec 02:00 in UTC.
        (datetime(2026, 11, 30, 21, 0, tzinfo=timezone(timedelta(hours=-5))), "202612"),
        # New Year's Eve in Sao Paulo is New Year's Day in UTC.
        (datetime(2026, 12, 31, 22, 0, tzinfo=timezone(timedelta(hours=-3))), "202701"),
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), "202612"),
    ],
)
def test_topup_month_is_taken_in_utc(approved_at: datetime, month: str) -> None:
    expected_month = approved_at.astimezone(UTC).strftime("%Y%m")
    assert expected_month == month

    number = topup_invoice_number("clinic-a", REQUEST_ID, approved_at)

    assert number == f"TOP-{month}-B1AF3DD8A1C5-C3D2E1F0"


def test_topup_numbers_differ_per_request() -> None:
    at = datetime(2026, 11, 26, tzinfo=UTC)
    other = UUID("0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f1")

    assert topup_invoice_number("clinic-a", REQUEST_ID, at) != topup_invoice_number("clinic-a", other, at)


@pytest.mark.parametrize(
    ("tenant_id", "period", "number"),
    [
        ("clinic-a", "2026-11", "SUB-202611-B1AF3DD8A1C5"),
        ("root", "2027-01", "SUB-202701-4813494D137E"),
        ("clinic_b-9", "2026-12", "SUB-202612-C8A7654943EC"),
    ],
)
def test_subscription_number_is_named_by_its_period(tenant_id: str, period: str, number: str) -> None:
    assert subscription_invoice_number(tenant_id, period) == number
    assert number == f"SUB-{period[:4]}{period[5:]}-{_token(tenant_id)}"
