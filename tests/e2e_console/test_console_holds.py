"""The clinic's money on the console (contract v2 §9, §10), through Litestar's test client: balance, held, available
and status on the wallet page, and the holds page (newest first, filtered by status and category, in pages, with
what each message was held for, charged and could not be covered)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from console_support import CLINIC, CLINIC_USER, OPERATOR, error_detail, field_error, sign_in, text_of
from litestar.testing import AsyncTestClient
from wallet_support import fund, hold, settle, void

from billing.application.service import BillingService

Client = AsyncTestClient[Any]
OTHER_CLINIC = "clinic-b"


def listed(page: str) -> list[str]:
    """The message ids of the holds table's rows, in order."""
    return re.findall(r'<tr data-hold-id="[^"]+" data-message-id="([^"]+)">', page)


def row(page: str, message_id: str) -> str:
    match = re.search(rf'<tr data-hold-id="[^"]+" data-message-id="{re.escape(message_id)}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {message_id}"
    return match.group(1)


def cell(page: str, message_id: str, testid: str) -> str:
    return text_of(row(page, message_id), testid)


@pytest.fixture
async def three_holds(service: BillingService) -> None:
    """2.00 paid in; a settled hold that cost more than the wallet could cover, a voided one and an open one.

    A, B utility (0.30 each) and C marketing (0.90) held: 0.50 available. A settled as marketing (0.90): its 0.30
    comes back, so 0.80 is charged and 0.10 is the shortfall. B voided. Balance 1.20, held 0.90, available 0.30."""
    await fund(service, CLINIC, "2.00")
    await hold(service, CLINIC, "wamid.A")
    await hold(service, CLINIC, "wamid.B")
    await hold(service, CLINIC, "wamid.C", "marketing")
    await settle(service, CLINIC, "wamid.A", "marketing")
    await void(service, CLINIC, "wamid.B")
    await fund(service, OTHER_CLINIC, "5.00")
    await hold(service, OTHER_CLINIC, "wamid.other")


# The wallet page -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("three_holds")
async def test_the_wallet_page_shows_balance_held_available_and_status(client: Client) -> None:
    await sign_in(client, CLINIC_USER)

    page = (await client.get("/console/wallet")).text

    assert text_of(page, "balance") == "1.20 USD"
    assert text_of(page, "held") == "0.90 USD"
    assert text_of(page, "available") == "0.30 USD"
    assert text_of(page, "wallet-status") == "active"
    assert 'data-testid="frozen-reason"' not in page
    assert re.search(r'<a href="/console/holds" data-testid="holds-link">', page)


async def test_a_frozen_wallet_shows_the_clinic_its_reason(client: Client, service: BillingService) -> None:
    await service.as_platform("operations").freeze(CLINIC, "Chargeback on invoice TOP-2026-0007")
    await sign_in(client, CLINIC_USER)

    page = (await client.get("/console/wallet")).text

    assert text_of(page, "wallet-status") == "frozen"
    assert text_of(page, "frozen-reason") == "Frozen: Chargeback on invoice TOP-2026-0007"


async def test_the_low_balance_hint_looks_at_what_is_available(client: Client, service: BillingService) -> None:
    await fund(service, CLINIC, "10.20")  # above the hint's 10.00 ...
    await hold(service, CLINIC, "wamid.1")  # ... until 0.30 of it is held
    await sign_in(client, CLINIC_USER)

    page = (await client.get("/console/wallet")).text

    assert text_of(page, "balance") == "10.20 USD"
    assert text_of(page, "available") == "9.90 USD"
    assert 'data-testid="low-balance"' in page


# The holds page ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("three_holds")
async def test_the_holds_page_lists_the_clinics_holds_newest_first_with_charged_and_shortfall(client: Client) -> None:
    await sign_in(client, CLINIC_USER)

    page = (await client.get("/console/holds")).text

    assert listed(page) == ["wamid.C", "wamid.B", "wamid.A"]  # never another clinic's
    assert "badge-held" in row(page, "wamid.C")
    assert cell(page, "wamid.C", "hold-amount") == "0.90"
    assert cell(page, "wamid.C", "hold-charged") == "—"
    assert "badge-voided" in row(page, "wamid.B")
    assert cell(page, "wamid.B", "hold-shortfall") == "—"
    settled = row(page, "wamid.A")
    assert "badge-settled" in settled
    assert "settled as marketing" in settled
    assert cell(page, "wamid.A", "hold-amount") == "0.30"
    assert cell(page, "wamid.A", "hold-charged") == "0.80"
    assert cell(page, "wamid.A", "hold-shortfall") == "0.10"
    assert "…2671" in settled  # the recipient, masked as the quote keeps it


@pytest.mark.usefixtures("three_holds")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"status": "settled"}, ["wamid.A"]),
        ({"status": "held"}, ["wamid.C"]),
        ({"status": "expired"}, []),
        ({"category": "marketing"}, ["wamid.C"]),
        ({"status": "voided", "category": "utility"}, ["wamid.B"]),
        ({"status": "all", "category": "all"}, ["wamid.C", "wamid.B", "wamid.A"]),
    ],
)
async def test_the_holds_page_filters_by_status_and_category(
    client: Client, query: dict[str, str], expected: list[str]
) -> None:
    await sign_in(client, CLINIC_USER)

    page = (await client.get("/console/holds", params=query)).text

    assert listed(page) == expected
    if not expected:
        assert "No expired holds" in text_of(page, "no-holds")
    for name, value in query.items():
        assert re.search(rf'<option value="{value}" selected>', page), f"{name} is not kept in its filter"


async def test_the_holds_page_comes_in_pages_that_keep_the_filters(client: Client, service: BillingService) -> None:
    await fund(service, CLINIC, "10.00")
    messages = [{"message_id": f"wamid.{n:02}", "category": "utility", "recipient": "+14155552671"} for n in range(25)]
    await service.as_platform("messaging").hold_batch(CLINIC, messages)
    await sign_in(client, CLINIC_USER)

    first = (await client.get("/console/holds", params={"status": "held"})).text
    second = (await client.get("/console/holds", params={"status": "held", "page": "2"})).text

    assert len(listed(first)) == 20
    assert "page 1 of 2" in first
    assert 'href="?status=held&amp;category=all&amp;page=2"' in first
    assert len(listed(second)) == 5
    assert set(listed(first)).isdisjoint(listed(second))
    assert "25 holds, newest first." in text_of(first, "holds-total")


async def test_a_bad_filter_is_a_message_beside_it_not_a_500(client: Client) -> None:
    await sign_in(client, CLINIC_USER)

    response = await client.get("/console/holds", params={"status": "pending"})

    assert response.status_code == 400
    assert field_error(response.text, "filters", "status") == "must be one of: held, settled, voided, expired"
    assert listed(response.text) == []


@pytest.mark.usefixtures("three_holds")
async def test_a_clinic_cannot_read_another_tenants_holds(client: Client) -> None:
    await sign_in(client, CLINIC_USER)

    response = await client.get("/console/holds", params={"tenant_id": OTHER_CLINIC})

    assert response.status_code == 403
    assert "wamid.other" not in response.text
    assert error_detail(response.text)
    assert 'id="filter-tenant"' not in (await client.get("/console/holds")).text  # no tenant field for a clinic


@pytest.mark.usefixtures("three_holds")
async def test_an_operator_reads_a_tenants_holds(client: Client) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    page = (await client.get("/console/holds", params={"tenant_id": OTHER_CLINIC})).text

    assert listed(page) == ["wamid.other"]
    assert f'value="{OTHER_CLINIC}"' in page
    assert f'href="/console/wallets/{OTHER_CLINIC}"' in page  # back to the tenant's wallet
