"""The operators' top-up queue on the console, through Litestar's test client: its KPI strip (pending, invoiced but
unpaid, paid this UTC month: counts and totals) equals what the API's lists say, and an unpaid top-up invoice is
voided from the queue or from its page (a CSRF-protected form behind a confirmation, with a reason), cancelling its
request, with the API's own messages when the use case refuses."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

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

from billing.adapters.memory.clock import ManualClock
from billing.application import queries
from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.service import BillingService
from billing.config import Settings
from billing.container import Container, in_memory_container
from billing.domain.errors import ForbiddenError
from billing.domain.invoice import InvoiceStatus
from billing.domain.topup import TopupStatus

Client = AsyncTestClient[Any]
OTHER = "clinic-b"
ROOT_VIEWER = (ROOT, VIEW)
REASON = "Sent to the wrong clinic"


@pytest.fixture
def clock() -> ManualClock:
    """Now (tokens are checked against the real time), moved back by a test to pay something last month."""
    return ManualClock(datetime.now(UTC))


@pytest.fixture
def container(settings: Settings, clock: ManualClock) -> Container:
    return in_memory_container(settings, clock=clock)


@pytest.fixture
def operator(service: BillingService) -> Any:
    return service.acting_as(Caller("operator", ROOT, frozenset([VIEW, MANAGE])))


def clinic(service: BillingService, tenant: str) -> Any:
    return service.acting_as(Caller("clinic-user", tenant, frozenset([VIEW])))


async def pending(service: BillingService, tenant: str, amount: str) -> UUID:
    request = await clinic(service, tenant).request_topup(amount)
    request_id: UUID = request.id
    return request_id


async def invoiced(service: BillingService, operator: Any, tenant: str, amount: str) -> UUID:
    """A request approved: its invoice issued and unpaid. Returns the invoice's id."""
    invoice = await operator.create_topup_invoice(await pending(service, tenant, amount))
    invoice_id: UUID = invoice.id
    return invoice_id


async def paid(service: BillingService, operator: Any, tenant: str, amount: str) -> None:
    invoice_id = await invoiced(service, operator, tenant, amount)
    await operator.mark_invoice_paid(invoice_id, f"bank-{invoice_id.hex[:12]}")


@pytest.fixture
async def seeded(service: BillingService, operator: Any, clock: ManualClock) -> None:
    """Two clinics' requests in every state; one paid last month (outside the strip's month)."""
    now = clock.current
    clock.current = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0) - timedelta(seconds=1)
    await paid(service, operator, CLINIC, "999.00")
    clock.current = now
    await pending(service, CLINIC, "150.00")
    await pending(service, CLINIC, "25.50")
    await pending(service, OTHER, "10.00")
    await invoiced(service, operator, CLINIC, "40.00")
    await invoiced(service, operator, OTHER, "60.25")
    await paid(service, operator, CLINIC, "70.00")
    await paid(service, operator, OTHER, "30.00")
    await operator.reject_topup(await pending(service, CLINIC, "5.00"), "duplicate")
    await clinic(service, CLINIC).cancel_topup(await pending(service, CLINIC, "7.00"))
    await operator.void_invoice(await invoiced(service, operator, OTHER, "8.00"), "wrong amount")


def strip(page: str) -> dict[str, tuple[int, str]]:
    """The KPI strip as {card: (count, total)}."""
    return {
        name: (int(text_of(page, f"kpi-{name}-count")), text_of(page, f"kpi-{name}-total"))
        for name in ("pending", "invoiced", "paid")
    }


async def api_figures(client: Client, tenant: str | None = None) -> dict[str, tuple[int, str]]:
    """The same figures from the API's lists (`GET /wallet/topup-requests?status=`, every page)."""
    month = datetime.now(UTC).strftime("%Y-%m")

    async def every(status: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"status": status, "page": page, "page_size": 100, **({"tenant_id": tenant} if tenant else {})}
            response = await client.get(f"{API}/wallet/topup-requests", params=params, headers=bearer(OPERATOR))
            assert response.status_code == 200, response.text
            body = response.json()
            found += body["items"]
            if len(found) >= body["total"]:
                return found
            page += 1

    def tally(items: list[dict[str, Any]]) -> tuple[int, str]:
        return len(items), f"{sum((Decimal(i['amount']) for i in items), Decimal('0.00')):.2f} USD"

    completed = [i for i in await every("completed") if i["completed_at"].startswith(month)]
    return {
        "pending": tally(await every("pending")),
        "invoiced": tally(await every("invoiced")),
        "paid": tally(completed),
    }


# The KPI strip ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("seeded")
async def test_the_strip_counts_and_totals_pending_unpaid_and_this_months_paid(client: Client) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    page = (await client.get("/console/topups")).text

    assert strip(page) == {
        "pending": (3, "185.50 USD"),
        "invoiced": (2, "100.25 USD"),
        "paid": (2, "100.00 USD"),
    }
    assert strip(page) == await api_figures(client)
    assert 'href="/console/topups?status=invoiced"' in page  # each card opens those requests


@pytest.mark.usefixtures("seeded")
async def test_the_strip_follows_the_tenant_filter_but_not_the_status_filter(client: Client) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    page = (await client.get("/console/topups", params={"tenant_id": CLINIC, "status": "rejected"})).text

    assert strip(page) == {
        "pending": (2, "175.50 USD"),
        "invoiced": (1, "40.00 USD"),
        "paid": (1, "70.00 USD"),
    }
    assert strip(page) == await api_figures(client, CLINIC)
    assert f'href="/console/topups?tenant_id={CLINIC}&amp;status=completed"' in page


async def test_an_empty_queue_shows_zeros(client: Client) -> None:
    await sign_in(client, ROOT_VIEWER, user="viewer")

    page = (await client.get("/console/topups")).text

    assert strip(page) == {"pending": (0, "0.00 USD"), "invoiced": (0, "0.00 USD"), "paid": (0, "0.00 USD")}


async def test_the_figures_are_for_operators_only(service: BillingService) -> None:
    figures = queries.GetTopupQueueFigures()
    for who in (Caller("u", CLINIC, frozenset([VIEW, MANAGE])), Caller("u", ROOT, frozenset([MANAGE]))):
        with pytest.raises(ForbiddenError):
            await service.execute(queries.get_topup_queue_figures, figures, who)


async def test_a_clinic_never_sees_the_strip(client: Client) -> None:
    await sign_in(client, CLINIC_USER)

    response = await client.get("/console/topups")

    assert response.status_code == 403
    assert 'data-testid="kpis"' not in response.text


# Voiding an unpaid top-up invoice -------------------------------------------------------------------


async def request_of(service: BillingService, invoice_id: UUID) -> Any:
    invoice = await service.as_platform("test").invoice(invoice_id)
    return await service.as_platform("test").topup_request(invoice.topup_request_id)


async def void(client: Client, invoice_id: UUID, csrf: str | None, reason: str = REASON, **extra: str) -> Any:
    data = {"reason": reason, **extra, **({"_csrf_token": csrf} if csrf is not None else {})}
    return await client.post(f"/console/invoices/{invoice_id}/void", data=data)


async def test_the_queue_offers_void_beside_mark_paid_behind_a_confirmation(
    client: Client, service: BillingService, operator: Any
) -> None:
    invoice_id = await invoiced(service, operator, CLINIC, "40.00")
    await sign_in(client, OPERATOR, user="operator-1")

    page = (await client.get("/console/topups", params={"status": "invoiced"})).text

    form = re.search(rf'<form method="post" action="/console/invoices/{invoice_id}/void".*?</form>', page, re.S)
    assert form, "no void form"
    confirm = r"data-confirm=\"Void TOP-[^\"]*\? clinic-a's request for 40\.00 USD is cancelled"
    assert re.search(confirm, form.group(0))
    assert 'name="_csrf_token"' in form.group(0)
    assert 'name="reason"' in form.group(0)
    assert 'name="back" value="topups"' in form.group(0)


async def test_an_operator_voids_from_the_queue_and_the_request_is_cancelled(
    client: Client, service: BillingService, operator: Any
) -> None:
    invoice_id = await invoiced(service, operator, CLINIC, "40.00")
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await void(client, invoice_id, csrf, back="topups", status="invoiced")

    assert response.status_code == 303
    assert response.headers["location"] == "/console/topups?status=invoiced&done=voided"
    page = (await client.get(response.headers["location"])).text
    assert "Voided: the invoice is void and the clinic&#39;s request cancelled." in page
    assert strip(page)["invoiced"] == (0, "0.00 USD")
    invoice = (await client.get(f"{API}/invoices/{invoice_id}", headers=bearer(OPERATOR))).json()
    assert (invoice["status"], invoice["void_reason"]) == ("void", REASON)
    assert (await request_of(service, invoice_id)).status is TopupStatus.CANCELLED


async def test_an_operator_voids_from_the_invoice_page(client: Client, service: BillingService, operator: Any) -> None:
    invoice_id = await invoiced(service, operator, CLINIC, "40.00")
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    page = (await client.get(f"/console/invoices/{invoice_id}")).text
    assert re.search(rf'action="/console/invoices/{invoice_id}/void"[^>]*\s+data-confirm="Void TOP-', page)

    response = await void(client, invoice_id, csrf, back="invoice")

    assert response.status_code == 303
    assert response.headers["location"] == f"/console/invoices/{invoice_id}?done=voided"
    page = (await client.get(response.headers["location"])).text
    assert "Voided: the invoice is void" in page
    assert text_of(page, "invoice-number").startswith("TOP-")
    assert "badge-void" in page
    assert REASON in page
    assert "/void" not in page  # a void invoice offers no second void
    assert (await service.as_platform("test").invoice(invoice_id)).status is InvoiceStatus.VOID
    assert (await request_of(service, invoice_id)).status is TopupStatus.CANCELLED


@pytest.mark.parametrize("back", ["topups", "invoice"])
@pytest.mark.parametrize("reason", ["", "   ", "x" * 513])
async def test_a_void_needs_a_reason_and_shows_the_apis_message_beside_the_field(
    client: Client, service: BillingService, operator: Any, back: str, reason: str
) -> None:
    invoice_id = await invoiced(service, operator, CLINIC, "40.00")
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    api = await client.post(f"{API}/invoices/{invoice_id}/void", json={"reason": reason}, headers=bearer(OPERATOR))
    assert api.status_code == 400

    response = await void(client, invoice_id, csrf, reason, back=back, status="invoiced")

    assert response.status_code == 400
    assert field_error(response.text, str(invoice_id), "reason") == api.json()["errors"][0]["message"]
    assert (await service.as_platform("test").invoice(invoice_id)).status is InvoiceStatus.ISSUED
    assert (await request_of(service, invoice_id)).status is TopupStatus.INVOICED


async def test_voiding_a_paid_invoice_is_a_message_not_a_500(
    client: Client, service: BillingService, operator: Any
) -> None:
    invoice_id = await invoiced(service, operator, CLINIC, "40.00")
    await operator.mark_invoice_paid(invoice_id, "bank-1")
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await void(client, invoice_id, csrf, back="topups", status="all")

    assert response.status_code == 409
    assert re.search(r'class="alert" role="alert">Cannot void invoice TOP-[^:]*: it is paid\.', response.text)
    assert (await request_of(service, invoice_id)).status is TopupStatus.COMPLETED


@pytest.mark.parametrize("back", ["topups", "invoice"])
async def test_a_clinic_cannot_void_even_with_a_valid_csrf_token(
    client: Client, service: BillingService, operator: Any, back: str
) -> None:
    invoice_id = await invoiced(service, operator, CLINIC, "40.00")
    csrf = await sign_in(client, (CLINIC, VIEW, MANAGE), user="clinic-manager")

    response = await void(client, invoice_id, csrf, back=back)

    assert response.status_code == 403
    if back == "topups":
        assert "operators of the platform" in error_detail(response.text)
    else:  # its own invoice's page, with the API's refusal
        assert "Only an operator of the platform may do this." in response.text
        assert "/void" not in response.text  # and no void form for it
    assert (await service.as_platform("test").invoice(invoice_id)).status is InvoiceStatus.ISSUED
    assert (await request_of(service, invoice_id)).status is TopupStatus.INVOICED


async def test_a_root_viewer_sees_no_void_button_and_cannot_void(
    client: Client, service: BillingService, operator: Any
) -> None:
    invoice_id = await invoiced(service, operator, CLINIC, "40.00")
    csrf = await sign_in(client, ROOT_VIEWER, user="viewer")

    queue = (await client.get("/console/topups", params={"status": "invoiced"})).text
    invoice_page = (await client.get(f"/console/invoices/{invoice_id}")).text
    response = await void(client, invoice_id, csrf, back="topups")

    assert "/void" not in queue
    assert "/void" not in invoice_page
    assert response.status_code == 403
    assert (await service.as_platform("test").invoice(invoice_id)).status is InvoiceStatus.ISSUED


async def test_a_void_without_the_csrf_token_is_refused(client: Client, service: BillingService, operator: Any) -> None:
    invoice_id = await invoiced(service, operator, CLINIC, "40.00")
    await sign_in(client, OPERATOR, user="operator-1")

    response = await void(client, invoice_id, None, back="topups")

    assert response.status_code == 403
    assert "could not be verified" in error_detail(response.text)
    assert (await service.as_platform("test").invoice(invoice_id)).status is InvoiceStatus.ISSUED


async def test_voiding_an_unknown_invoice_is_a_404_page(client: Client) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    malformed = await client.post("/console/invoices/not-a-uuid/void", data={"reason": REASON, "_csrf_token": csrf})
    unknown = await void(client, UUID(int=0), csrf, back="invoice")

    assert malformed.status_code == 404
    assert unknown.status_code == 404
