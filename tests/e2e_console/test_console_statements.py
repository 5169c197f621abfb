"""The statement download on the console (contract v2 §12), through Litestar's test client: a form with from/to
days (default: this UTC month) answered with the very CSV file the API serves; a bad period is a message beside the
field, never a broken download."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from console_support import API, CLINIC, CLINIC_USER, OPERATOR, bearer, error_detail, field_error, sign_in
from litestar.testing import AsyncTestClient
from wallet_support import fund, hold, settle

from billing.application.service import BillingService
from billing.entrypoints.statement_csv import HEADER_LINE

Client = AsyncTestClient[Any]
OTHER_CLINIC = "clinic-b"
HEADER = (
    "created_at,kind,reference_id,description,amount,balance_after,category,market,country,rate_card_id,unit_price,"
    "tier,free_reason"
)


def this_month() -> tuple[date, date]:
    today = datetime.now(UTC).date()
    first = today.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


@pytest.fixture
async def activity(service: BillingService) -> None:
    """A top-up and a message charged at its held price, for the clinic; a top-up for another clinic."""
    await fund(service, CLINIC, "5.00")
    await hold(service, CLINIC, "wamid.1")
    await settle(service, CLINIC, "wamid.1")
    await fund(service, OTHER_CLINIC, "7.00")


@pytest.mark.usefixtures("activity")
async def test_the_clinic_downloads_the_same_csv_the_api_serves(client: Client) -> None:
    await sign_in(client, CLINIC_USER)
    first, last = this_month()

    download = await client.get("/console/wallet/statement.csv")

    assert download.status_code == 200
    assert download.headers["content-type"] == "text/csv; charset=utf-8"
    assert download.headers["content-disposition"] == f'attachment; filename="statement-{CLINIC}-{first}-{last}.csv"'
    lines = download.text.split("\r\n")
    assert lines[0] == HEADER == HEADER_LINE.strip()
    assert [line.split(",")[1] for line in lines[1:-1]] == ["topup", "charge"]
    assert ",wamid.1," in lines[2]
    api = await client.get(f"{API}/wallet/me/statement.csv", headers=bearer(CLINIC_USER))
    assert download.content == api.content


@pytest.mark.usefixtures("activity")
async def test_the_period_typed_in_the_form_is_the_statements(client: Client) -> None:
    await sign_in(client, CLINIC_USER)
    query = {"from": "2020-01-01", "to": "2020-12-31"}

    download = await client.get("/console/wallet/statement.csv", params=query)

    assert (
        download.headers["content-disposition"]
        == f'attachment; filename="statement-{CLINIC}-2020-01-01-2020-12-31.csv"'
    )
    assert download.text == HEADER_LINE  # nothing happened in 2020
    api = await client.get(f"{API}/wallet/me/statement.csv", params=query, headers=bearer(CLINIC_USER))
    assert download.content == api.content


async def test_the_form_offers_this_month_by_default(client: Client) -> None:
    await sign_in(client, CLINIC_USER)
    first, last = this_month()

    page = (await client.get("/console/wallet")).text

    form = re.search(r'<form method="get" action="/console/wallet/statement.csv".*?</form>', page, re.S)
    assert form, "no statement form on the wallet page"
    assert f'name="from" type="date" value="{first}"' in form.group(0)
    assert f'name="to" type="date" value="{last}"' in form.group(0)


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"from": "2026-03-31", "to": "2026-03-01"}, "from", "must not be after to (2026-03-31 > 2026-03-01)"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "from", "must be a date YYYY-MM-DD"),
        ({"from": "2026-03-01", "to": "next week"}, "to", "must be a date YYYY-MM-DD"),
        ({"from": "2024-01-01", "to": "2025-12-31"}, "to", "a statement covers at most 366 days"),
    ],
)
async def test_a_bad_period_is_a_message_beside_the_field(
    client: Client, query: dict[str, str], field: str, message: str
) -> None:
    await sign_in(client, CLINIC_USER)

    response = await client.get("/console/wallet/statement.csv", params=query)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert html.unescape(field_error(response.text, "statement", field) or "") == message
    for typed in query.values():
        assert f'value="{typed}"' in response.text  # what was typed stays in the form


@pytest.mark.usefixtures("activity")
async def test_an_operator_downloads_a_tenants_statement(client: Client) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    download = await client.get(f"/console/wallets/{OTHER_CLINIC}/statement.csv")

    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith(f'attachment; filename="statement-{OTHER_CLINIC}-')
    api = await client.get(f"{API}/wallets/{OTHER_CLINIC}/statement.csv", headers=bearer(OPERATOR))
    assert download.content == api.content
    assert "7.00" in download.text


async def test_an_operators_bad_period_is_shown_on_the_tenants_wallet_page(client: Client) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    response = await client.get(f"/console/wallets/{OTHER_CLINIC}/statement.csv", params={"from": "x"})

    assert response.status_code == 400
    assert field_error(response.text, "statement", "from") == "must be a date YYYY-MM-DD"
    assert f'Wallet <span class="muted">· {OTHER_CLINIC}</span>' in response.text


@pytest.mark.usefixtures("activity")
async def test_a_clinic_cannot_download_another_tenants_statement(client: Client) -> None:
    await sign_in(client, CLINIC_USER)

    response = await client.get(f"/console/wallets/{OTHER_CLINIC}/statement.csv")

    assert response.status_code == 403
    assert "operators of the platform" in error_detail(response.text)
    assert "7.00" not in response.text
