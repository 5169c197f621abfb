"""The statement over HTTP (contract v2 §12): CSV, streamed, whole UTC days (default this UTC month, 366 at most),
spreadsheet-safe, for the caller's own wallet or (root + View) any tenant's."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, timedelta
from typing import Any

from api_support import (
    CLINIC,
    CLINIC_USER,
    OPERATOR,
    OTHER_CLINIC_USER,
    ROOT_VIEWER,
    Api,
    assert_problem,
    field_errors,
)
from httpx import Response

from billing.application.caller import MANAGE, VIEW, Caller
from billing.container import Container

HEADER = (
    "created_at,kind,reference_id,description,amount,balance_after,category,market,country,rate_card_id,unit_price,"
    "tier,free_reason"
)
CARD: dict[str, Any] = {
    "name": "Statement card",
    "currency": "USD",
    "effective_from": "2025-01-01T00:00:00Z",
    "markets": {"IN": "India", "*": "Other"},
    "rates": [
        {"market": "India", "category": "marketing", "unit_price": "0.0118"},
        {"market": "Other", "category": "marketing", "unit_price": "0.0604"},
    ],
}


async def statement(
    api: Api, headers: dict[str, str] = CLINIC_USER, path: str = "/wallet/me", **params: str
) -> Response:
    return await api.get(f"{path}/statement.csv", headers, params=params)


def rows(response: Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


def this_month(api: Api) -> tuple[date, date]:
    today = api.clock.current.astimezone(UTC).date()
    first = today.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


async def charge(api: Api, reference_id: str, description: str | None = None, amount: str = "1.00") -> None:
    body = {"amount": amount, "reference_id": reference_id, "description": description}
    response = await api.post(f"/wallets/{CLINIC}/charges", OPERATOR, body)
    assert response.status_code == 201, response.text


async def test_a_statement_is_csv_with_the_contracts_header_as_an_attachment(api: Api) -> None:
    await api.fund("10.00")
    first, last = this_month(api)

    response = await statement(api)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="statement-{CLINIC}-{first.isoformat()}-{last.isoformat()}.csv"'
    )
    assert "content-length" not in response.headers  # streamed
    assert response.text.splitlines()[0] == HEADER
    assert response.text.endswith("\r\n")


async def test_rows_come_oldest_first_with_a_message_charges_price_and_empty_cells_for_nulls(api: Api) -> None:
    assert (await api.post("/rate-cards", OPERATOR, CARD)).status_code == 201
    await api.fund("10.00")
    body = {"message_id": "wamid.in/1+=", "category": "marketing", "recipient": "+919876543210"}
    placed = (await api.post(f"/wallets/{CLINIC}/holds", OPERATOR, body)).json()
    settled = await api.post(f"/wallets/{CLINIC}/holds/settle", OPERATOR, {"message_id": "wamid.in/1+="})
    assert settled.status_code == 200, settled.text
    await charge(api, "direct-1")

    topup, message, direct = rows(await statement(api))

    assert (topup["kind"], topup["amount"], topup["balance_after"], topup["category"], topup["tier"]) == (
        "topup",
        "10.00",
        "10.00",
        "",
        "",
    )
    assert {key: message[key] for key in ("kind", "reference_id", "amount", "balance_after")} == {
        "kind": "charge",
        "reference_id": "wamid.in/1+=",
        "amount": "-0.0118",
        "balance_after": "9.9882",
    }
    assert [message[k] for k in ("category", "market", "country", "rate_card_id", "unit_price", "tier")] == [
        "marketing",
        "India",
        "IN",
        placed["rate_card_id"],
        "0.0118",
        "1",
    ]
    assert message["free_reason"] == ""
    assert (direct["reference_id"], direct["amount"], direct["description"], direct["market"]) == (
        "direct-1",
        "-1.00",
        "",
        "",
    )
    assert message["created_at"].endswith("Z")


async def test_cells_are_spreadsheet_safe(api: Api) -> None:
    await api.fund("10.00")
    await charge(api, "=1+1", '=HYPERLINK("http://evil.example","click")')
    await charge(api, "@SUM(A1)", "+1+1")
    await charge(api, "ref-3", "\t=cmd|' /C calc'!A0")

    listed = rows(await statement(api))[1:]

    assert [(row["reference_id"], row["description"], row["amount"]) for row in listed] == [
        ("'=1+1", '\'=HYPERLINK("http://evil.example","click")', "-1.00"),
        ("'@SUM(A1)", "'+1+1", "-1.00"),
        ("ref-3", "'\t=cmd|' /C calc'!A0", "-1.00"),
    ]


async def test_the_period_is_whole_utc_days_inclusive(api: Api) -> None:
    await api.fund("10.00")
    today = api.clock.current.astimezone(UTC).date()

    same_day = rows(await statement(api, **{"from": today.isoformat(), "to": today.isoformat()}))
    yesterday = await statement(
        api, **{"from": (today - timedelta(days=1)).isoformat(), "to": (today - timedelta(days=1)).isoformat()}
    )
    last_year = await statement(api, **{"from": "2025-01-01", "to": "2025-12-31"})

    assert [row["kind"] for row in same_day] == ["topup"]
    assert yesterday.text == HEADER + "\r\n"
    assert (last_year.status_code, last_year.text) == (200, HEADER + "\r\n")
    assert "statement-clinic-a-2025-01-01-2025-12-31.csv" in last_year.headers["content-disposition"]


async def test_a_period_is_at_most_366_days_and_never_backwards(api: Api) -> None:
    assert list(field_errors(await statement(api, **{"from": "2026-03-02", "to": "2026-03-01"}))) == ["from"]
    assert list(field_errors(await statement(api, **{"from": "2024-01-01", "to": "2025-01-01"}))) == ["to"]
    assert (await statement(api, **{"from": "2024-01-01", "to": "2024-12-31"})).status_code == 200  # a leap year
    assert list(field_errors(await statement(api, **{"from": "2026-02-30"}))) == ["from"]
    assert list(field_errors(await statement(api, to="yesterday"))) == ["to"]


async def test_an_operator_reads_any_tenants_statement(api: Api) -> None:
    await api.fund("10.00")

    theirs = await statement(api, ROOT_VIEWER, f"/wallets/{CLINIC}")

    assert [row["kind"] for row in rows(theirs)] == ["topup"]
    assert f"statement-{CLINIC}-" in theirs.headers["content-disposition"]
    assert rows(await statement(api, OPERATOR)) == []  # the root tenant's own wallet


async def test_a_clinic_reads_only_its_own_statement(api: Api) -> None:
    await api.fund("10.00")

    assert rows(await statement(api, OTHER_CLINIC_USER)) == []
    assert_problem(await statement(api, CLINIC_USER, f"/wallets/{CLINIC}"), 403, "forbidden")
    assert_problem(await statement(api, OTHER_CLINIC_USER, f"/wallets/{CLINIC}"), 403, "forbidden")
    assert_problem(await statement(api, {}), 401, "unauthorized")


async def test_a_statement_longer_than_one_read_streams_every_row_once(api: Api, container: Container) -> None:
    platform = container.service().acting_as(Caller("operator-1", "root", frozenset([VIEW, MANAGE])))
    await api.fund("2000.00")
    for n in range(1000):  # with the top-up, one row more than the statement reads at once
        await platform.charge(CLINIC, "0.01", f"wamid.{n:04d}")

    listed = rows(await statement(api))

    assert len(listed) == 1001
    assert [row["reference_id"] for row in listed[1:]] == [f"wamid.{n:04d}" for n in range(1000)]
    assert listed[-1]["balance_after"] == "1990.00"


async def test_the_schema_documents_the_csv_answer(api: Api) -> None:
    document = (await api.client.get("/schema/openapi.json")).json()

    for path in ("/api/v1/billing/wallet/me/statement.csv", "/api/v1/billing/wallets/{tenant_id}/statement.csv"):
        operation = document["paths"][path]["get"]
        assert list(operation["responses"]["200"]["content"]) == ["text/csv"]
        assert "Content-Disposition" in operation["responses"]["200"]["headers"]
        assert {p["name"] for p in operation["parameters"]} >= {"from", "to"}
        assert {"400", "403"} <= operation["responses"].keys()
