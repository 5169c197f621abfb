"""Meta's status webhook on the console (contract v2 §11), through Litestar's test client: the operators' page of the
webhook's events (newest first, filtered by outcome and tenant) and the phone-number mapping (map a number to a
tenant and unmap it, CSRF-protected forms behind a confirmation, with the API's own messages when refused)."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from console_support import (
    API,
    CLINIC,
    CLINIC_USER,
    OPERATOR,
    ROOT,
    bearer,
    error_detail,
    field_error,
    sign_in,
    text_of,
)
from litestar.testing import AsyncTestClient
from wallet_support import fund, hold

from billing.application.service import BillingService
from billing.domain.whatsapp import parse_status_notifications

Client = AsyncTestClient[Any]
ROOT_VIEWER = (ROOT, "Billing.View")
OTHER_CLINIC = "clinic-b"
NUMBER = "106540352242922"
OTHER_NUMBER = "206540352242922"
UNKNOWN_NUMBER = "999000111222333"
NUMBERS = "/console/whatsapp-numbers"
EVENTS = "/console/webhook-events"


# Meta's bodies, applied as the webhook applies them -----------------------------------------------------------------


def status(message_id: str, kind: str, number: str = NUMBER) -> dict[str, object]:
    item: dict[str, object] = {
        "id": message_id,
        "status": kind,
        "timestamp": str(int(datetime.now(UTC).timestamp())),
        "recipient_id": "14155552671",
    }
    if kind in ("delivered", "read"):
        item["pricing"] = {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}
    return {"number": number, "status": item}


def body(*statuses: dict[str, object]) -> dict[str, object]:
    """Meta's envelope: one change per status, in the order given."""
    changes = [
        {
            "field": "messages",
            "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550001234", "phone_number_id": s["number"]},
                "statuses": [s["status"]],
            },
        }
        for s in statuses
    ]
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": changes}]}


async def deliver(service: BillingService, *statuses: dict[str, object]) -> None:
    """Each status in a body of its own, one after the other (so they are received in this order)."""
    for one in statuses:
        await service.as_platform("webhook").apply_whatsapp_statuses(parse_status_notifications(body(one)))


@pytest.fixture
async def events(service: BillingService) -> None:
    """Four statuses, oldest first: wamid.A sent (ignored) then delivered (applied: its hold settled); wamid.B failed
    on the other clinic's number without a hold (ignored, no_hold); wamid.X from a number nobody mapped (unmatched)."""
    await fund(service, CLINIC, "3.00")
    await hold(service, CLINIC, "wamid.A")
    platform = service.as_platform("operations")
    await platform.map_whatsapp_number(NUMBER, CLINIC)
    await platform.map_whatsapp_number(OTHER_NUMBER, OTHER_CLINIC)
    await deliver(
        service,
        status("wamid.A", "sent"),
        status("wamid.A", "delivered"),
        status("wamid.B", "failed", OTHER_NUMBER),
        status("wamid.X", "delivered", UNKNOWN_NUMBER),
    )


def listed(page: str) -> list[tuple[str, str]]:
    """(message id, outcome) of the events table's rows, in order."""
    return re.findall(r'<tr data-event-id="[^"]+" data-message-id="([^"]*)" data-outcome="([^"]+)">', page)


def event_row(page: str, message_id: str, outcome: str) -> str:
    pattern = (
        rf'<tr data-event-id="[^"]+" data-message-id="{re.escape(message_id)}" data-outcome="{outcome}">(.*?)</tr>'
    )
    match = re.search(pattern, page, re.S)
    assert match, f"no {outcome} row for {message_id}"
    return match.group(1)


def mapped(page: str) -> list[str]:
    """The phone number ids of the numbers table's rows, in order."""
    return re.findall(r'<tr data-phone-number-id="([^"]+)">', page)


def number_row(page: str, phone_number_id: str) -> str:
    match = re.search(rf'<tr data-phone-number-id="{re.escape(phone_number_id)}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {phone_number_id}"
    return match.group(1)


async def map_number(client: Client, csrf: str | None, phone_number_id: str = NUMBER, tenant: str = CLINIC) -> Any:
    data = {"phone_number_id": phone_number_id, "tenant_id": tenant, **({"_csrf_token": csrf} if csrf else {})}
    return await client.post(NUMBERS, data=data)


async def numbers_of(service: BillingService, tenant: str | None = None) -> list[tuple[str, str]]:
    page = await service.as_platform("test").whatsapp_numbers(tenant)
    return [(n.phone_number_id, n.tenant_id) for n in page.items]


# The webhook's events -----------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("events")
async def test_the_events_page_lists_every_status_newest_first_with_what_became_of_it(client: Client) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    page = (await client.get(EVENTS)).text

    assert listed(page) == [
        ("wamid.X", "unmatched"),
        ("wamid.B", "ignored"),
        ("wamid.A", "applied"),
        ("wamid.A", "ignored"),
    ]
    assert "4 events, newest first." in text_of(page, "events-total")
    unknown = event_row(page, "wamid.X", "unmatched")
    assert UNKNOWN_NUMBER in unknown
    assert "badge-unmatched" in unknown
    assert text_of(unknown, "event-reason") == "unknown_number"
    assert "/console/wallets/" not in unknown  # no tenant for a number nobody mapped
    settled = event_row(page, "wamid.A", "applied")
    assert f'<a href="/console/wallets/{CLINIC}">{CLINIC}</a>' in settled
    assert NUMBER in settled
    assert ">delivered<" in settled
    assert text_of(settled, "event-reason") == "—"
    assert text_of(event_row(page, "wamid.A", "ignored"), "event-reason") == "sent"
    assert text_of(event_row(page, "wamid.B", "ignored"), "event-reason") == "no_hold"
    assert 'href="/console/webhook-events" aria-current="page"' in page  # in the operators' menu


@pytest.mark.usefixtures("events")
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"outcome": "applied"}, [("wamid.A", "applied")]),
        ({"outcome": "ignored"}, [("wamid.B", "ignored"), ("wamid.A", "ignored")]),
        ({"outcome": "unmatched"}, [("wamid.X", "unmatched")]),
        (
            {"outcome": "all"},
            [("wamid.X", "unmatched"), ("wamid.B", "ignored"), ("wamid.A", "applied"), ("wamid.A", "ignored")],
        ),
        ({"outcome": "all", "tenant_id": OTHER_CLINIC}, [("wamid.B", "ignored")]),
        ({"outcome": "ignored", "tenant_id": CLINIC}, [("wamid.A", "ignored")]),
        ({"outcome": "unmatched", "tenant_id": CLINIC}, []),
    ],
)
async def test_the_events_page_filters_by_outcome_and_tenant(
    client: Client, query: dict[str, str], expected: list[tuple[str, str]]
) -> None:
    await sign_in(client, ROOT_VIEWER, user="viewer")

    page = (await client.get(EVENTS, params=query)).text

    assert listed(page) == expected
    assert f'<option value="{query["outcome"]}" selected>' in page  # the filter keeps its choice
    if "tenant_id" in query:
        assert (
            f'id="filter-tenant" name="tenant_id" type="text" placeholder="all tenants" value="{query["tenant_id"]}"'
            in page
        )
    if not expected:
        assert text_of(page, "no-events") == f"No unmatched events for {CLINIC}."


async def test_the_events_page_comes_in_pages_that_keep_the_filter(client: Client, service: BillingService) -> None:
    await deliver(service, *(status(f"wamid.{n:02}", "sent", UNKNOWN_NUMBER) for n in range(25)))
    await sign_in(client, OPERATOR, user="operator-1")

    first = (await client.get(EVENTS, params={"outcome": "unmatched"})).text
    second = (await client.get(EVENTS, params={"outcome": "unmatched", "page": "2"})).text

    assert len(listed(first)) == 20
    assert listed(first)[0] == ("wamid.24", "unmatched")
    assert "page 1 of 2" in first
    assert 'href="?outcome=unmatched&amp;page=2"' in first
    assert [message for message, _ in listed(second)] == [f"wamid.{n:02}" for n in range(4, -1, -1)]


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"outcome": "settled"}, "outcome", "must be one of: applied, ignored, unmatched"),
        ({"tenant_id": "no spaces, please"}, "tenant_id", None),
    ],
)
async def test_a_bad_events_filter_is_a_message_beside_it_not_a_500(
    client: Client, query: dict[str, str], field: str, message: str | None
) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    response = await client.get(EVENTS, params=query)

    assert response.status_code == 400
    shown = field_error(response.text, "filters", field)
    assert shown
    if message:
        assert shown == message
    assert listed(response.text) == []


# Who may ------------------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("events")
@pytest.mark.parametrize("path", [EVENTS, NUMBERS, f"{EVENTS}?outcome=applied&tenant_id={CLINIC}"])
async def test_a_clinic_cannot_open_the_webhook_pages(client: Client, path: str) -> None:
    await sign_in(client, CLINIC_USER)

    response = await client.get(path)

    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "operators of the platform" in error_detail(response.text)
    assert "wamid.A" not in response.text
    wallet_page = (await client.get("/console/wallet")).text
    assert EVENTS not in wallet_page  # not in a clinic's menu
    assert NUMBERS not in wallet_page


async def test_a_clinic_cannot_map_or_unmap_even_with_a_valid_csrf_token(
    client: Client, service: BillingService
) -> None:
    await service.as_platform("operations").map_whatsapp_number(NUMBER, CLINIC)
    csrf = await sign_in(client, (CLINIC, "Billing.View", "Billing.Manage"), user="clinic-manager")

    mapping = await map_number(client, csrf, OTHER_NUMBER)
    unmapping = await client.post(f"{NUMBERS}/{NUMBER}/unmap", data={"_csrf_token": csrf})

    assert (mapping.status_code, unmapping.status_code) == (403, 403)
    assert "operators of the platform" in error_detail(mapping.text)
    assert await numbers_of(service) == [(NUMBER, CLINIC)]


# The numbers and their tenants --------------------------------------------------------------------------------------


async def test_an_operator_maps_a_number_sees_it_and_unmaps_it_behind_a_confirmation(
    client: Client, service: BillingService
) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    empty = (await client.get(NUMBERS)).text
    form = re.search(rf'<form method="post" action="{NUMBERS}".*?</form>', empty, re.S)
    assert form, "no mapping form"
    assert 'name="_csrf_token"' in form.group(0)
    assert 'data-confirm="Map this number' in form.group(0)
    assert text_of(empty, "no-numbers") == "No numbers mapped."

    response = await map_number(client, csrf)

    assert response.status_code == 303
    assert response.headers["location"] == f"{NUMBERS}?done=mapped"
    page = (await client.get(response.headers["location"])).text
    assert "The number is mapped" in page
    assert mapped(page) == [NUMBER]
    row = number_row(page, NUMBER)
    assert f'<a href="/console/wallets/{CLINIC}">{CLINIC}</a>' in row
    assert "operator-1" in row  # created_by
    assert await numbers_of(service) == [(NUMBER, CLINIC)]
    api = (await client.get(f"{API}/whatsapp-numbers", headers=bearer(OPERATOR))).json()
    assert [(n["phone_number_id"], n["tenant_id"], n["created_by"]) for n in api["items"]] == [
        (NUMBER, CLINIC, "operator-1")
    ]
    unmap = re.search(rf'<form method="post" action="{NUMBERS}/{NUMBER}/unmap"[^>]*>', row)
    assert unmap, "no unmap form"
    assert f'data-confirm="Unmap {NUMBER} from {CLINIC}?' in unmap.group(0)

    again = await map_number(client, csrf)  # the same mapping: changes nothing

    assert again.headers["location"] == f"{NUMBERS}?done=unchanged"
    assert "already mapped to that tenant" in (await client.get(again.headers["location"])).text

    unmapped = await client.post(f"{NUMBERS}/{NUMBER}/unmap", data={"_csrf_token": csrf})

    assert unmapped.status_code == 303
    assert unmapped.headers["location"] == f"{NUMBERS}?done=unmapped"
    page = (await client.get(unmapped.headers["location"])).text
    assert "The number is unmapped" in page
    assert mapped(page) == []
    assert await numbers_of(service) == []


async def test_a_number_mapped_to_another_tenant_is_a_duplicate(client: Client, service: BillingService) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    await map_number(client, csrf)
    api = await client.post(
        f"{API}/whatsapp-numbers",
        json={"phone_number_id": NUMBER, "tenant_id": OTHER_CLINIC},
        headers=bearer(OPERATOR),
    )
    assert (api.status_code, api.json()["code"]) == (409, "duplicate")

    response = await map_number(client, csrf, NUMBER, OTHER_CLINIC)

    assert response.status_code == 409
    assert re.search(rf'role="alert">Phone number {NUMBER} is mapped to another tenant', response.text)
    form = re.search(rf'<form method="post" action="{NUMBERS}".*?</form>', response.text, re.S)
    assert form
    assert f'value="{NUMBER}"' in form.group(0)  # what was typed stays in the fields
    assert f'value="{OTHER_CLINIC}"' in form.group(0)
    assert await numbers_of(service) == [(NUMBER, CLINIC)]


@pytest.mark.parametrize(
    ("phone_number_id", "tenant", "field"),
    [
        ("", CLINIC, "phone_number_id"),
        ("1" * 65, CLINIC, "phone_number_id"),
        (NUMBER, "no spaces, please", "tenant_id"),
    ],
)
async def test_a_refused_mapping_shows_the_apis_message_beside_the_field(
    client: Client, service: BillingService, phone_number_id: str, tenant: str, field: str
) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    api = await client.post(
        f"{API}/whatsapp-numbers",
        json={"phone_number_id": phone_number_id, "tenant_id": tenant},
        headers=bearer(OPERATOR),
    )
    assert api.status_code == 400

    response = await map_number(client, csrf, phone_number_id, tenant)

    assert response.status_code == 400
    assert html.unescape(field_error(response.text, "map", field) or "") == api.json()["errors"][0]["message"]
    assert f'value="{tenant}"' in response.text
    assert await numbers_of(service) == []


async def test_the_numbers_page_filters_by_tenant_and_unmapping_keeps_the_filter(
    client: Client, service: BillingService
) -> None:
    platform = service.as_platform("operations")
    await platform.map_whatsapp_number(NUMBER, CLINIC)
    await platform.map_whatsapp_number(OTHER_NUMBER, OTHER_CLINIC)
    await platform.map_whatsapp_number(UNKNOWN_NUMBER, OTHER_CLINIC)
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    everyone = (await client.get(NUMBERS)).text
    page = (await client.get(NUMBERS, params={"tenant_id": OTHER_CLINIC})).text

    assert mapped(everyone) == [UNKNOWN_NUMBER, OTHER_NUMBER, NUMBER]
    assert mapped(page) == [UNKNOWN_NUMBER, OTHER_NUMBER]
    assert f'name="tenant_id" value="{OTHER_CLINIC}"' in number_row(page, OTHER_NUMBER)  # the filter, kept

    unmapped = await client.post(
        f"{NUMBERS}/{OTHER_NUMBER}/unmap", data={"tenant_id": OTHER_CLINIC, "_csrf_token": csrf}
    )

    assert unmapped.headers["location"] == f"{NUMBERS}?tenant_id={OTHER_CLINIC}&done=unmapped"
    assert mapped((await client.get(unmapped.headers["location"])).text) == [UNKNOWN_NUMBER]
    assert text_of((await client.get(NUMBERS, params={"tenant_id": "clinic-z"})).text, "no-numbers") == (
        "No numbers mapped to clinic-z."
    )


async def test_unmapping_a_number_nobody_mapped_is_a_message_not_a_500(client: Client) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await client.post(f"{NUMBERS}/{NUMBER}/unmap", data={"_csrf_token": csrf})

    assert response.status_code == 404
    assert 'role="alert">Phone number not mapped.' in response.text


async def test_mapping_or_unmapping_without_the_csrf_token_is_refused(client: Client, service: BillingService) -> None:
    await service.as_platform("operations").map_whatsapp_number(OTHER_NUMBER, OTHER_CLINIC)
    await sign_in(client, OPERATOR, user="operator-1")

    mapping = await map_number(client, None)
    unmapping = await client.post(f"{NUMBERS}/{OTHER_NUMBER}/unmap")

    assert (mapping.status_code, unmapping.status_code) == (403, 403)
    assert "could not be verified" in error_detail(mapping.text)
    assert await numbers_of(service) == [(OTHER_NUMBER, OTHER_CLINIC)]


async def test_a_root_viewer_sees_the_numbers_without_the_forms_and_cannot_map(
    client: Client, service: BillingService
) -> None:
    await service.as_platform("operations").map_whatsapp_number(NUMBER, CLINIC)
    csrf = await sign_in(client, ROOT_VIEWER, user="viewer")

    page = (await client.get(NUMBERS)).text
    mapping = await map_number(client, csrf, OTHER_NUMBER, OTHER_CLINIC)
    unmapping = await client.post(f"{NUMBERS}/{NUMBER}/unmap", data={"_csrf_token": csrf})

    assert mapped(page) == [NUMBER]
    assert f'<form method="post" action="{NUMBERS}"' not in page
    assert "/unmap" not in page
    assert 'href="/console/whatsapp-numbers" aria-current="page"' in page
    assert (mapping.status_code, unmapping.status_code) == (403, 403)
    assert 'role="alert"' in mapping.text  # the use case's refusal, as a message on the page
    assert await numbers_of(service) == [(NUMBER, CLINIC)]
