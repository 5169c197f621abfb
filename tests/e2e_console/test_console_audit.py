"""The audit trail on the console (contract v3 §20), through Litestar's test client: the operators' page of every
tenant's rows, filtered by tenant, actor, action, target id and UTC days, page by page; and a clinic's page of its own
rows, without client addresses and with the platform's operators unnamed. Both are in the console's navigation."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from console_support import CLINIC, CLINIC_USER, OPERATOR, ROOT, error_detail, field_error, sign_in, text_of
from litestar.testing import AsyncTestClient
from money_support import APPROVER, paid_topup

from billing.application.caller import VIEW
from billing.application.service import BillingService
from billing.domain.invoice import Invoice

Client = AsyncTestClient[Any]
OTHER = "clinic-b"
BOUNCED = "The bank returned the transfer"
PAID = ["mark_invoice_paid", "approve_topup", "request_topup"]
EVERY_ROW = ["reverse_payment", *PAID, *PAID]  # the clinic's top-up, the other's, the clinic's reversal


def actions(page: str) -> list[str]:
    """The listed rows' actions, newest first, less the console sign-ins every test makes (audited too: the
    sign-in tests check those rows)."""
    listed = re.findall(r'<tr data-audit-id="[^"]+" data-action="([^"]+)"', page)
    return [action for action in listed if action != "console_sign_in"]


def today() -> str:
    return datetime.now(UTC).date().isoformat()


async def reversed_by_console(client: Client, service: BillingService) -> Invoice:
    """A paid top-up of the clinic reversed from the console by `operator-1` (so its row has a client address)."""
    invoice = await paid_topup(service, "10.00")
    await paid_topup(service, "5.00", tenant=OTHER)
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    data = {"reason": BOUNCED, "confirm": "yes", "_csrf_token": csrf}
    response = await client.post(f"/console/invoices/{invoice.id}/reverse-payment", data=data)
    assert response.status_code == 303
    return invoice


# The operators' page ------------------------------------------------------------------------------------------


async def test_the_operators_page_lists_every_tenants_rows_newest_first(
    client: Client, service: BillingService
) -> None:
    await reversed_by_console(client, service)

    page = (await client.get("/console/audit")).text

    assert 'href="/console/audit" aria-current="page">Audit<' in page  # in the operators' navigation
    assert actions(page) == EVERY_ROW
    newest = page[page.index('data-action="reverse_payment"') :]
    newest = newest[: newest.index("</tr>")]
    assert f'<a href="/console/wallets/{CLINIC}">{CLINIC}</a>' in newest
    assert "operator-1" in newest
    assert "testclient" in newest  # the client's address, for operators
    assert BOUNCED in newest  # the details
    assert text_of(page, "audit-total") == "8 rows, newest first. Days are UTC."  # with the sign-in


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"action": "reverse_payment"}, ["reverse_payment"]),
        ({"tenant_id": OTHER}, PAID),
        ({"actor": "operator-1"}, ["reverse_payment"]),
        ({"actor": "cashier", "tenant_id": CLINIC}, ["mark_invoice_paid"]),
        ({"from": "today", "to": "today"}, EVERY_ROW),
        ({"to": "yesterday"}, []),
    ],
)
async def test_the_operators_page_is_filtered(
    client: Client, service: BillingService, query: dict[str, str], expected: list[str]
) -> None:
    await reversed_by_console(client, service)
    days = {"today": today(), "yesterday": (datetime.now(UTC).date() - timedelta(days=1)).isoformat()}
    params = {name: days.get(value, value) for name, value in query.items()}

    page = (await client.get("/console/audit", params=params)).text

    assert actions(page) == expected
    for name, value in params.items():  # the filters as they were given
        assert re.search(rf'name="{name}"[^>]* value="{value}"', page)
    if not expected:
        assert "No audit rows match these filters." in page


async def test_the_operators_page_is_filtered_by_target(client: Client, service: BillingService) -> None:
    invoice = await reversed_by_console(client, service)

    page = (await client.get("/console/audit", params={"target_id": str(invoice.id)})).text

    assert actions(page) == ["reverse_payment", "mark_invoice_paid"]
    assert f'href="/console/invoices/{invoice.id}"' in page


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"from": "2026-13-01"}, "from", "must be a date YYYY-MM-DD"),
        ({"to": "tomorrow"}, "to", "must be a date YYYY-MM-DD"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "to", "must not be before `from`"),
    ],
)
async def test_a_bad_day_is_a_message_beside_its_field(
    client: Client, params: dict[str, str], field: str, message: str
) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    response = await client.get("/console/audit", params=params)

    assert response.status_code == 400
    assert field_error(response.text, "filters", field) == message
    assert actions(response.text) == []


async def test_a_malformed_tenant_is_a_message_beside_the_field(client: Client) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    response = await client.get("/console/audit", params={"tenant_id": "no spaces, please"})

    assert response.status_code == 400
    assert field_error(response.text, "filters", "tenant_id")
    assert 'value="no spaces, please"' in response.text


async def test_the_operators_page_goes_page_by_page_keeping_its_filters(
    client: Client, service: BillingService
) -> None:
    operator = service.acting_as(APPROVER)
    for n in range(27):
        await operator.adjust(CLINIC, "1.00", f"credit {n}", f"credit-{n}")
    await sign_in(client, OPERATOR, user="operator-1")

    first = (await client.get("/console/audit", params={"action": "adjust"})).text
    second = (await client.get("/console/audit", params={"action": "adjust", "page": "2"})).text

    assert len(actions(first)) == 25
    assert 'href="?action=adjust&amp;page=2" rel="next"' in first
    assert "page 1 of 2" in first
    assert actions(second) == ["adjust", "adjust"]
    assert 'href="?action=adjust&amp;page=1" rel="prev"' in second
    assert "credit 0" in second
    assert "credit 26" in first


# The clinic's page ---------------------------------------------------------------------------------------------


async def test_a_clinic_sees_its_own_rows_without_addresses_or_operators_names(
    client: Client, service: BillingService
) -> None:
    await reversed_by_console(client, service)
    await sign_in(client, CLINIC_USER, user="dr-ana")

    page = (await client.get("/console/wallet/audit")).text

    assert 'href="/console/wallet/audit" aria-current="page">Audit<' in page  # in the clinic's navigation
    assert 'href="/console/audit"' not in page
    assert actions(page) == ["reverse_payment", *PAID]  # not the other clinic's
    assert "Address" not in page
    assert "testclient" not in page
    assert "operator-1" not in page
    assert "cashier" not in page
    actors = re.findall(r'data-testid="audit-actor">(.*?)</td>', page, re.S)
    named = [re.sub(r"<[^>]+>|\s+", " ", actor).split()[:2] for actor in actors]
    assert named[0] == ["dr-ana", "clinic-a"]  # the clinic user's own sign-in, the newest row
    assert named[1:4] == [["the", "platform"]] * 3
    assert 'name="tenant_id"' not in page  # its own rows only


async def test_a_clinic_filters_its_own_rows(client: Client, service: BillingService) -> None:
    await reversed_by_console(client, service)
    await sign_in(client, CLINIC_USER, user="dr-ana")

    page = (await client.get("/console/wallet/audit", params={"action": "request_topup"})).text
    bad = await client.get("/console/wallet/audit", params={"from": "03/01/2026"})

    assert actions(page) == ["request_topup"]
    assert 'href="/console/wallet/audit?action=request_topup"' in page
    assert bad.status_code == 400
    assert field_error(bad.text, "filters", "from") == "must be a date YYYY-MM-DD"


async def test_a_clinic_cannot_open_the_operators_audit_page(client: Client) -> None:
    await sign_in(client, CLINIC_USER, user="dr-ana")

    response = await client.get("/console/audit", params={"tenant_id": OTHER})

    assert response.status_code == 403
    assert "operators of the platform" in error_detail(response.text)


async def test_an_operator_is_sent_from_the_clinics_audit_page_to_the_full_trail(client: Client) -> None:
    await sign_in(client, (ROOT, VIEW), user="viewer")

    response = await client.get("/console/wallet/audit")

    assert response.status_code == 303
    assert response.headers["location"] == "/console/audit"
    assert (await client.get("/console/audit")).status_code == 200  # View is enough to read it


# Signing in and out (§20: audited; failures at most once a minute per client address) ---------------------------


async def test_signing_in_and_out_are_audited_and_failures_counted_once_a_minute(
    client: Client, service: BillingService
) -> None:
    operator = service.as_platform("audit-reader")
    form = (await client.get("/console/sign-in")).text
    csrf = re.search(r'name="_csrf_token" value="([^"]+)"', form)
    assert csrf is not None
    for _ in range(3):  # three refused tokens from one address: one row now, the next two counted later
        refused = await client.post("/console/sign-in", data={"token": "not-a-jwt", "_csrf_token": csrf.group(1)})
        assert refused.status_code == 401
    failed = (await operator.audit(action="console_sign_in_failed")).items
    assert [(row.tenant_id, row.actor.sub, row.details["failures"]) for row in failed] == [(None, None, 1)]
    assert failed[0].ip is not None

    page_csrf = await sign_in(client, CLINIC_USER, user="dr-ana")
    signed_out = await client.post("/console/sign-out", data={"_csrf_token": page_csrf})
    assert signed_out.status_code == 303

    rows = (await operator.audit(tenant_id=CLINIC)).items
    assert [(row.action, row.actor.sub, row.target.type, row.target.id) for row in rows] == [
        ("console_sign_out", "dr-ana", "user", "dr-ana"),
        ("console_sign_in", "dr-ana", "user", "dr-ana"),
    ]
