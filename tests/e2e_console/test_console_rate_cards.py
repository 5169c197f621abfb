"""Rate cards in the console, through Litestar's test client: the clinic's price list on its wallet page, and the
operators' list, card pages and upload (JSON or CSV) through the same use case as `POST /rate-cards`."""

from __future__ import annotations

import html
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from console_support import API, CLINIC, CLINIC_USER, OPERATOR, ROOT, csrf_field, error_detail, field_error, token
from litestar.testing import AsyncTestClient

import billing

Client = AsyncTestClient[Any]
SAMPLE = Path(billing.__file__).parent / "data" / "rate_cards" / "meta_usd.json"
ROOT_VIEWER = (ROOT, "Billing.View")
CARD: dict[str, Any] = {
    "name": "Test card 2025",
    "currency": "USD",
    "effective_from": "2025-01-01T00:00:00Z",
    "free_in_service_window": ["utility", "service"],
    "markets": {"US": "North America", "CA": "North America", "IN": "India", "*": "Other"},
    "rates": [
        {"market": "North America", "category": "marketing", "unit_price": "0.025"},
        {"market": "North America", "category": "utility", "unit_price": "0.0034"},
        {"market": "North America", "category": "utility", "unit_price": "0.0030", "tier_from": 1000},
        {"market": "India", "category": "marketing", "unit_price": "0.0118"},
        {"market": "Other", "category": "marketing", "unit_price": "0.0604"},
    ],
}
CSV = """\
country,market,category,unit_price,tier_from
# Clinic A's negotiated prices
US,North America,,,
*,Other,,,
,North America,marketing,0.02,
,Other,marketing,0.05,
"""


async def sign_in(client: Client, who: tuple[str, ...], user: str = "user-1") -> str:
    """Sign in through the form; returns the CSRF token the pages carry."""
    csrf = csrf_field((await client.get("/console/sign-in")).text)
    response = await client.post("/console/sign-in", data={"token": token(*who, user=user), "_csrf_token": csrf})
    assert response.status_code == 303, response.text
    return csrf_field((await client.get(response.headers["location"])).text)  # the session's own, once signed in


def bearer(who: tuple[str, ...]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(*who, user='api-user')}"}


async def add_card(client: Client, **changes: Any) -> dict[str, Any]:
    response = await client.post(f"{API}/rate-cards", json={**CARD, **changes}, headers=bearer(OPERATOR))
    assert response.status_code == 201, response.text
    card: dict[str, Any] = response.json()
    return card


async def upload(client: Client, csrf: str | None, filename: str, content: bytes, **fields: str | list[str]) -> Any:
    data = {**fields, **({"_csrf_token": csrf} if csrf is not None else {})}
    return await client.post("/console/rate-cards", data=data, files={"file": (filename, content)})


def cells(page: str, market: str) -> list[str]:
    """The price table's cells of one market's row, as text."""
    row = re.search(rf'<tr data-market="{re.escape(html.escape(market))}">(.*?)</tr>', page, re.S)
    assert row, f"no row for {market}"
    found = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", cell)).split()) for cell in found]


def headings(page: str) -> list[str]:
    table = re.search(r'data-testid="price-table">\s*<thead>(.*?)</thead>', page, re.S)
    assert table, "no price table"
    return [html.unescape(heading) for heading in re.findall(r"<th[^>]*>([^<]*)</th>", table.group(1))]


def listed_problems(page: str) -> list[str]:
    box = re.search(r'<ul data-testid="card-problems">(.*?)</ul>', page, re.S)
    assert box, "no list of problems on the page"
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", box.group(1), re.S)]


def card_rows(page: str) -> list[str]:
    return re.findall(r'<tr data-card-id="([^"]+)">', page)


async def api_cards(client: Client) -> list[dict[str, Any]]:
    response = await client.get(f"{API}/rate-cards", headers=bearer(OPERATOR))
    items: list[dict[str, Any]] = response.json()["items"]
    return items


# The clinic's wallet page ------------------------------------------------------------------------------------------


async def test_the_wallet_page_says_when_no_rate_card_is_in_force(client: Client) -> None:
    await sign_in(client, CLINIC_USER)

    page = (await client.get("/console/wallet")).text

    assert re.search(r'data-testid="no-card">No rate card is in force', page)
    assert 'data-testid="price-table"' not in page


async def test_the_wallet_page_shows_the_price_list_in_force(client: Client) -> None:
    await add_card(client)
    await add_card(client, name="Next year's card", effective_from="2999-01-01T00:00:00Z")  # not in force yet
    await sign_in(client, CLINIC_USER)

    page = (await client.get("/console/wallet")).text

    assert "No rate card is in force" not in page
    in_force = re.search(r'data-testid="card-in-force">(.*?)</p>', page, re.S)
    assert in_force
    assert "Test card 2025" in in_force.group(1)
    assert "effective from 2025-01-01 00:00 UTC" in in_force.group(1)
    assert "Next year" not in page
    assert headings(page) == ["Market", "Marketing", "Utility"]
    assert cells(page, "North America") == ["0.025", "from message 1: 0.0034 from message 1000: 0.003"]
    assert cells(page, "India") == ["0.0118", "—"]
    assert cells(page, "Other") == ["0.0604", "—"]
    assert "Free inside an open customer service window: Utility, Service." in page
    assert "CA, US" in page  # the countries of each market
    assert "every other country" in page


async def test_a_clinics_own_card_is_the_one_its_wallet_page_shows(client: Client) -> None:
    await add_card(client)
    await add_card(client, name="Clinic A's prices", tenant_id=CLINIC)
    await add_card(client, name="Clinic B's prices", tenant_id="clinic-b")
    await sign_in(client, CLINIC_USER)

    page = (await client.get("/console/wallet")).text

    assert "Clinic A&#39;s prices" in page
    assert "Test card 2025" not in page
    assert "Clinic B" not in page


# The operators' list and card pages -------------------------------------------------------------------------------


async def test_operators_have_a_rate_cards_page_in_the_navigation_and_clinics_do_not(client: Client) -> None:
    await sign_in(client, CLINIC_USER)
    clinic_nav = (await client.get("/console/wallet")).text
    await sign_in(client, OPERATOR, user="operator-1")
    operator_nav = (await client.get("/console/topups")).text  # an operator's home (the Wallet page sends it on)

    assert 'href="/console/rate-cards"' not in clinic_nav
    assert 'href="/console/rate-cards"' in operator_nav


async def test_the_rate_cards_page_lists_cards_latest_effective_date_first(client: Client) -> None:
    older = await add_card(client, name="Old card", effective_from="2024-01-01T00:00:00Z")
    newer = await add_card(client, name="Clinic A card", effective_from="2025-06-01T00:00:00Z", tenant_id=CLINIC)
    later = await add_card(client, name="Scheduled card", effective_from="2999-01-01T00:00:00Z")
    await sign_in(client, OPERATOR, user="operator-1")

    response = await client.get("/console/rate-cards")

    assert response.status_code == 200
    page = response.text
    assert card_rows(page) == [later["id"], newer["id"], older["id"]]
    row = re.search(rf'<tr data-card-id="{newer["id"]}">(.*?)</tr>', page, re.S)
    assert row
    texts = [
        " ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row[1], re.S)
    ]
    assert texts[:5] == ["2025-06-01 00:00 UTC", "Clinic A card", CLINIC, "5", "3"]
    assert f'href="/console/rate-cards/{older["id"]}"' in page
    assert page.count("badge-scheduled") == 1
    assert ">default<" in page


async def test_the_list_is_paginated(client: Client) -> None:
    for day in range(1, 22):
        await add_card(client, name=f"Card {day:02d}", effective_from=f"2025-01-{day:02d}T00:00:00Z")
    await sign_in(client, OPERATOR, user="operator-1")

    first = (await client.get("/console/rate-cards")).text
    second = (await client.get("/console/rate-cards", params={"page": 2})).text

    assert len(card_rows(first)) == 20
    assert "Card 21" in first
    assert 'href="?page=2"' in first
    assert len(card_rows(second)) == 1
    assert "Card 01" in second


async def test_a_card_page_shows_its_facts_prices_and_markets(client: Client) -> None:
    card = await add_card(client, tenant_id=CLINIC)
    await sign_in(client, ROOT_VIEWER, user="viewer")

    response = await client.get(f"/console/rate-cards/{card['id']}")

    assert response.status_code == 200
    page = response.text
    assert re.search(r'data-testid="card-name">Test card 2025<', page)
    assert re.search(rf'data-testid="card-tenant">{CLINIC}<', page)
    assert re.search(r'data-testid="card-effective-from">2025-01-01 00:00 UTC<', page)
    assert re.search(r'data-testid="card-rates">5<', page)
    assert cells(page, "North America") == ["0.025", "from message 1: 0.0034 from message 1000: 0.003"]
    assert "<dt>North America</dt><dd>CA, US</dd>" in page
    assert "<dt>Other</dt><dd>every other country</dd>" in page


@pytest.mark.parametrize("card_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
async def test_an_unknown_card_is_a_404_page(client: Client, card_id: str) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    response = await client.get(f"/console/rate-cards/{card_id}")

    assert response.status_code == 404
    assert error_detail(response.text) == "Rate card not found."


# Uploads ----------------------------------------------------------------------------------------------------------


async def test_uploading_the_sample_json_card_adds_it_and_shows_its_page(client: Client) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await upload(client, csrf, "meta_usd.json", SAMPLE.read_bytes())

    assert response.status_code == 303, response.text
    [card] = await api_cards(client)
    assert response.headers["location"] == f"/console/rate-cards/{card['id']}?done=created"
    sample = json.loads(SAMPLE.read_text())
    assert (card["name"], card["tenant_id"], card["created_by"]) == (sample["name"], None, "operator-1")
    assert [(r["market"], r["category"], Decimal(r["unit_price"]), r["tier_from"]) for r in card["rates"]] == [
        (r["market"], r["category"], Decimal(r["unit_price"]), r.get("tier_from", 1)) for r in sample["rates"]
    ]
    shown = (await client.get(response.headers["location"])).text
    assert "The rate card was added." in shown
    assert cells(shown, "India")[0] == "0.0118"


async def test_the_form_fields_replace_a_json_files_values(client: Client) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await upload(
        client, csrf, "meta_usd.json", SAMPLE.read_bytes(), tenant_id="clinic-b", effective_from="2026-03-01"
    )

    assert response.status_code == 303, response.text
    [card] = await api_cards(client)
    assert (card["tenant_id"], card["effective_from"]) == ("clinic-b", "2026-03-01T00:00:00Z")


async def test_uploading_a_csv_card_for_a_clinic_prices_its_messages(client: Client) -> None:
    await add_card(client)
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await upload(
        client,
        csrf,
        "clinic-a.csv",
        CSV.encode(),
        name="Clinic A negotiated",
        effective_from="2025-02-01T00:00:00Z",
        tenant_id=CLINIC,
        free_in_service_window=["service", "utility"],
    )

    assert response.status_code == 303, response.text
    card = next(card for card in await api_cards(client) if card["tenant_id"] == CLINIC)
    assert response.headers["location"] == f"/console/rate-cards/{card['id']}?done=created"
    assert card["name"] == "Clinic A negotiated"
    assert card["effective_from"] == "2025-02-01T00:00:00Z"
    assert card["free_in_service_window"] == ["service", "utility"]
    assert card["markets"] == {"*": "Other", "US": "North America"}
    assert card["rates"] == [
        {"market": "North America", "category": "marketing", "unit_price": "0.02", "tier_from": 1},
        {"market": "Other", "category": "marketing", "unit_price": "0.05", "tier_from": 1},
    ]
    await sign_in(client, CLINIC_USER)
    wallet = (await client.get("/console/wallet")).text
    assert "Clinic A negotiated" in wallet
    assert cells(wallet, "North America") == ["0.02"]


async def test_a_refused_card_lists_every_one_of_the_apis_problems_beside_the_form(client: Client) -> None:
    broken = {
        **CARD,
        "currency": "EUR",
        "markets": {"us": "North America"},
        "rates": [{"market": "Atlantis", "category": "spam", "unit_price": "0.01"}],
    }
    api = await client.post(f"{API}/rate-cards", json=broken, headers=bearer(OPERATOR))
    assert api.status_code == 400
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await upload(client, csrf, "broken.json", json.dumps(broken).encode())

    assert response.status_code == 400
    expected = [f"{error['field']}: {error['message']}" for error in api.json()["errors"]]
    assert len(expected) >= 4
    assert listed_problems(response.text) == expected
    assert await api_cards(client) == []


async def test_a_problem_with_what_was_typed_is_shown_beside_its_field(client: Client) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await upload(client, csrf, "meta_usd.json", SAMPLE.read_bytes(), tenant_id="no spaces")

    assert response.status_code == 400
    message = "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'"
    assert field_error(html.unescape(response.text), "upload", "tenant_id") == message
    assert listed_problems(response.text) == [f"tenant_id: {message}"]
    assert 'value="no spaces"' in response.text
    assert await api_cards(client) == []


async def test_a_bad_csv_names_its_line_and_keeps_what_was_typed(client: Client) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    content = CSV + ",Other,utility\n,Atlantis,marketing,0.01,\n"

    response = await upload(
        client, csrf, "card.csv", content.encode(), name="Typed name", free_in_service_window=["service"]
    )

    assert response.status_code == 400
    assert listed_problems(response.text) == [
        "line 7: has 3 cells, the header 5 (country,market,category,unit_price,tier_from)",
        "effective_from: is required for a CSV file",
    ]
    assert 'value="Typed name"' in response.text
    assert 'value="service" checked' in response.text

    fixed = await upload(
        client, csrf, "card.csv", (CSV + ",Atlantis,marketing,0.01,\n").encode(), name="n", effective_from="2025-01-01"
    )

    assert fixed.status_code == 400
    assert listed_problems(fixed.text) == [
        "rates[2].market (line 7): 'Atlantis' is not a market of this card's markets"
    ]


@pytest.mark.parametrize(
    ("filename", "content", "problem"),
    [
        ("", b"", "file: choose a .json or .csv file"),
        ("card.xlsx", b"PK\x03\x04", "file: must be a .json file (the API's body) or a .csv file"),
        ("card.json", b"", "file: is empty"),
        ("card.json", b"[1, 2]", "body: must be a JSON object"),
    ],
)
async def test_a_file_that_cannot_be_read_is_a_message(
    client: Client, filename: str, content: bytes, problem: str
) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await upload(client, csrf, filename, content)

    assert response.status_code == 400
    assert listed_problems(response.text) == [problem]


# Who may --------------------------------------------------------------------------------------------------------


async def test_a_clinic_gets_the_403_page_for_every_rate_card_page(client: Client) -> None:
    card = await add_card(client)
    csrf = await sign_in(client, CLINIC_USER)

    pages = [
        await client.get("/console/rate-cards"),
        await client.get(f"/console/rate-cards/{card['id']}"),
        await upload(client, csrf, "meta_usd.json", SAMPLE.read_bytes()),
    ]

    for response in pages:
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("text/html")
        assert "rate cards are for operators of the platform" in error_detail(response.text).lower()
    assert len(await api_cards(client)) == 1


async def test_a_root_viewer_sees_the_cards_but_cannot_upload(client: Client) -> None:
    csrf = await sign_in(client, ROOT_VIEWER, user="viewer")

    page = (await client.get("/console/rate-cards")).text
    refused = await upload(client, csrf, "meta_usd.json", SAMPLE.read_bytes())

    assert 'action="/console/rate-cards"' not in page
    assert refused.status_code == 403
    assert "This needs the Billing.Manage permission." in refused.text
    assert await api_cards(client) == []


async def test_an_upload_without_the_csrf_token_is_refused(client: Client) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    response = await upload(client, None, "meta_usd.json", SAMPLE.read_bytes())
    forged = await upload(client, "f" * 128, "meta_usd.json", SAMPLE.read_bytes())

    assert response.status_code == 403
    assert "could not be verified" in error_detail(response.text)
    assert forged.status_code == 403
    assert await api_cards(client) == []


async def test_a_card_file_larger_than_the_apis_body_limit_uploads(client: Client) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    tiers = "".join(f",North America,utility,0.003,{1000 * n}\n" for n in range(1, 4001))  # ~150 KB
    content = (CSV + ",North America,utility,0.0034,\n" + tiers).encode()
    assert len(content) > 64 * 1024

    response = await upload(client, csrf, "tiers.csv", content, name="Many tiers", effective_from="2025-01-01")

    assert response.status_code == 303, response.text
    [card] = await api_cards(client)
    assert len(card["rates"]) == 3 + 4000
