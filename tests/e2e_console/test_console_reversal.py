"""A payment reversal on the console (contract v3 §19), through Litestar's test client: an operator reverses a paid
top-up's payment from its invoice page (a reason and a ticked confirmation, a CSRF-protected form), the invoice then
shows what was taken back and what is owed, and the debt shows on the clinic's and the operators' wallet pages, with
how to clear it, only while there is one."""

from __future__ import annotations

import re
from typing import Any

import attrs
import pytest
from console_support import (
    API,
    CLINIC,
    CLINIC_USER,
    OPERATOR,
    ROOT,
    SECRET,
    bearer,
    error_detail,
    field_error,
    sign_in,
    text_of,
)
from litestar.testing import AsyncTestClient
from money_support import APPROVER, paid_topup, spend

from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.service import BillingService
from billing.config import JwtSettings, Settings
from billing.domain.invoice import Invoice, InvoiceStatus
from billing.domain.topup import TopupStatus

Client = AsyncTestClient[Any]
BOUNCED = "The bank returned the transfer (account closed)"
DEBT_HINT = "Billable messages are refused until the debt is repaid."
HOW_TO_CLEAR = "Request a top-up: money that comes in repays the debt first."
four_eyes = pytest.mark.parametrize("settings", [True], indirect=True, ids=["four-eyes"])


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    """The console's settings; `four_eyes` turns BILLING_FOUR_EYES on."""
    base = Settings(jwt=JwtSettings(secret=SECRET))
    return attrs.evolve(base, billing=attrs.evolve(base.billing, four_eyes=getattr(request, "param", False)))


async def reverse(client: Client, invoice: Invoice, csrf: str | None, reason: str = BOUNCED, **extra: str) -> Any:
    data = {"reason": reason, **extra, **({"_csrf_token": csrf} if csrf is not None else {})}
    return await client.post(f"/console/invoices/{invoice.id}/reverse-payment", data=data)


async def confirmed(client: Client, invoice: Invoice, csrf: str | None, reason: str = BOUNCED) -> Any:
    return await reverse(client, invoice, csrf, reason, confirm="yes")


async def status_of(service: BillingService, invoice: Invoice) -> InvoiceStatus:
    return (await service.acting_as(APPROVER).invoice(invoice.id)).status


def reverse_form(page: str) -> str | None:
    match = re.search(r'<form method="post" action="/console/invoices/[^"]+/reverse-payment".*?</form>', page, re.S)
    return match.group(0) if match else None


# Reversing ----------------------------------------------------------------------------------------------------


async def test_a_paid_top_ups_page_offers_the_reversal_with_a_reason_and_a_confirmation(
    client: Client, service: BillingService
) -> None:
    invoice = await paid_topup(service, "10.00")
    await sign_in(client, OPERATOR, user="operator-1")

    page = (await client.get(f"/console/invoices/{invoice.id}")).text

    form = reverse_form(page)
    assert form, "no reversal form"
    assert 'name="reason"' in form
    assert re.search(r'<input id="reverse-confirm" name="confirm" type="checkbox" value="yes"', form)
    assert "I confirm the transfer bounced" in form
    assert 'name="_csrf_token"' in form
    assert text_of(page, "paid-by") == "by cashier"


async def test_an_operator_reverses_a_payment_and_the_invoice_shows_the_reversal(
    client: Client, service: BillingService
) -> None:
    invoice = await paid_topup(service, "10.00")
    await spend(service, "4.00")  # 6.00 left: the reversal takes it back, the other 4.00 are owed
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await confirmed(client, invoice, csrf)

    assert response.status_code == 303
    assert response.headers["location"] == f"/console/invoices/{invoice.id}?done=reversed"
    page = (await client.get(response.headers["location"])).text
    assert "Payment reversed: the top-up was taken back" in page
    assert 'class="badge badge-payment_reversed">payment_reversed<' in page
    assert text_of(page, "reversed-by") == "operator-1"
    assert text_of(page, "reversed-amount") == "6.00 USD"
    assert text_of(page, "debt-added") == "4.00 USD"
    assert text_of(page, "reversal-reason") == f"Reason: {BOUNCED}"
    assert reverse_form(page) is None
    api = (await client.get(f"{API}/invoices/{invoice.id}", headers=bearer(OPERATOR))).json()
    assert (api["status"], api["reversed_by"], api["reversed_amount"], api["debt_added"]) == (
        "payment_reversed",
        "operator-1",
        "6.00",
        "4.00",
    )
    request = await service.acting_as(APPROVER).topup_request(invoice.topup_request_id)  # type: ignore[arg-type]
    assert request.status is TopupStatus.REVERSED


async def test_the_debt_shows_on_the_clinics_and_the_operators_wallet_pages_with_how_to_clear_it(
    client: Client, service: BillingService
) -> None:
    invoice = await paid_topup(service, "10.00")
    await spend(service, "4.00")
    await service.acting_as(Caller("operator-2", ROOT, frozenset([VIEW, MANAGE]))).reverse_payment(invoice.id, BOUNCED)

    await sign_in(client, CLINIC_USER, user="dr-ana")
    own = (await client.get("/console/wallet")).text
    await sign_in(client, OPERATOR, user="operator-1")
    theirs = (await client.get(f"/console/wallets/{CLINIC}")).text

    for page in (own, theirs):
        assert text_of(page, "debt") == "4.00 USD"
        assert text_of(page, "available") == "0.00 USD"
        assert DEBT_HINT in text_of(page, "debt-note")
    assert HOW_TO_CLEAR in text_of(own, "debt-note")
    assert "Your wallet owes 4.00 USD." in text_of(own, "debt-note")
    assert "repays the debt first" in text_of(theirs, "debt-note")


async def test_no_debt_is_shown_while_there_is_none(client: Client, service: BillingService) -> None:
    invoice = await paid_topup(service, "10.00")
    await paid_topup(service, "5.00")
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    await confirmed(client, invoice, csrf)  # 15.00 available: all 10.00 taken back, nothing owed

    theirs = (await client.get(f"/console/wallets/{CLINIC}")).text
    invoice_page = (await client.get(f"/console/invoices/{invoice.id}")).text
    await sign_in(client, CLINIC_USER, user="dr-ana")
    own = (await client.get("/console/wallet")).text

    for page in (own, theirs):
        assert text_of(page, "available") == "5.00 USD"
        assert 'data-testid="debt"' not in page
        assert 'data-testid="debt-note"' not in page
    assert text_of(invoice_page, "debt-added") == "0.00 USD"
    assert "owed as debt" not in invoice_page


async def test_a_top_up_repays_the_debt_and_the_note_goes_away(client: Client, service: BillingService) -> None:
    invoice = await paid_topup(service, "10.00")
    await spend(service, "4.00")
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    await confirmed(client, invoice, csrf)

    await paid_topup(service, "6.00")  # 4.00 repay the debt, 2.00 are available

    page = (await client.get(f"/console/wallets/{CLINIC}")).text
    assert text_of(page, "available") == "2.00 USD"
    assert 'data-testid="debt-note"' not in page


async def test_the_top_up_queue_links_a_completed_request_to_its_reversal(
    client: Client, service: BillingService
) -> None:
    invoice = await paid_topup(service, "10.00")
    await sign_in(client, OPERATOR, user="operator-1")

    page = (await client.get("/console/topups", params={"status": "completed"})).text

    assert f'href="/console/invoices/{invoice.id}#reverse" data-testid="reverse-link"' in page


# Refusals -----------------------------------------------------------------------------------------------------


async def test_an_unticked_confirmation_is_a_message_beside_the_checkbox(
    client: Client, service: BillingService
) -> None:
    invoice = await paid_topup(service, "10.00")
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await reverse(client, invoice, csrf)

    assert response.status_code == 400
    assert field_error(response.text, "reverse", "confirm") == "tick the box to confirm that the bank transfer bounced"
    assert f'value="{BOUNCED}"' in response.text  # the reason as it was typed
    assert await status_of(service, invoice) is InvoiceStatus.PAID


@pytest.mark.parametrize("reason", ["", "   ", "x" * 513])
async def test_a_refused_reason_shows_the_apis_message_beside_the_field(
    client: Client, service: BillingService, reason: str
) -> None:
    invoice = await paid_topup(service, "10.00")
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    api = await client.post(
        f"{API}/invoices/{invoice.id}/reverse-payment", json={"reason": reason}, headers=bearer(OPERATOR)
    )
    assert api.status_code == 400

    response = await confirmed(client, invoice, csrf, reason)

    assert response.status_code == 400
    assert field_error(response.text, "reverse", "reason") == api.json()["errors"][0]["message"]
    assert re.search(r'id="reverse-confirm"[^>]* checked', response.text)  # the tick as it was sent
    assert await status_of(service, invoice) is InvoiceStatus.PAID


async def test_an_unsafe_character_in_the_reason_is_a_message_beside_it(
    client: Client, service: BillingService
) -> None:
    invoice = await paid_topup(service, "10.00")
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await confirmed(client, invoice, csrf, "bounced\x00")

    assert response.status_code == 400
    assert (field_error(response.text, "reverse", "reason") or "").startswith("must not contain control characters")
    assert await status_of(service, invoice) is InvoiceStatus.PAID


async def test_a_reversal_without_the_csrf_token_is_refused(client: Client, service: BillingService) -> None:
    invoice = await paid_topup(service, "10.00")
    await sign_in(client, OPERATOR, user="operator-1")

    response = await confirmed(client, invoice, None)

    assert response.status_code == 403
    assert "could not be verified" in error_detail(response.text)
    assert await status_of(service, invoice) is InvoiceStatus.PAID


async def test_a_reversed_payment_cannot_be_reversed_again(client: Client, service: BillingService) -> None:
    invoice = await paid_topup(service, "10.00")
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    await confirmed(client, invoice, csrf)

    again = await confirmed(client, invoice, csrf)

    assert again.status_code == 409
    assert re.search(r'<p class="alert" role="alert">Cannot reverse the payment of [^<]*payment_reversed', again.text)


async def test_an_unpaid_invoice_offers_no_reversal_and_refuses_one(client: Client, service: BillingService) -> None:
    request = await service.acting_as(Caller("u", CLINIC, frozenset([VIEW]))).request_topup("10.00")
    invoice = await service.acting_as(APPROVER).create_topup_invoice(request.id)
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    page = (await client.get(f"/console/invoices/{invoice.id}")).text
    response = await confirmed(client, invoice, csrf)

    assert reverse_form(page) is None
    assert response.status_code == 409
    assert 'role="alert"' in response.text
    assert await status_of(service, invoice) is InvoiceStatus.ISSUED


async def test_a_malformed_invoice_id_is_not_found(client: Client) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await client.post(
        "/console/invoices/not-an-id/reverse-payment", data={"reason": BOUNCED, "confirm": "yes", "_csrf_token": csrf}
    )

    assert response.status_code == 404


# Who may ------------------------------------------------------------------------------------------------------


async def test_a_clinic_sees_no_reversal_form_and_cannot_reverse_its_own_payment(
    client: Client, service: BillingService
) -> None:
    invoice = await paid_topup(service, "10.00")
    csrf = await sign_in(client, (CLINIC, VIEW, MANAGE), user="clinic-manager")

    page = (await client.get(f"/console/invoices/{invoice.id}")).text
    response = await confirmed(client, invoice, csrf)

    assert reverse_form(page) is None
    assert response.status_code == 403
    assert 'role="alert"' in response.text
    assert await status_of(service, invoice) is InvoiceStatus.PAID


async def test_a_root_viewer_sees_no_reversal_form_and_cannot_reverse(client: Client, service: BillingService) -> None:
    invoice = await paid_topup(service, "10.00")
    csrf = await sign_in(client, (ROOT, VIEW), user="viewer")

    page = (await client.get(f"/console/invoices/{invoice.id}")).text
    response = await confirmed(client, invoice, csrf)

    assert reverse_form(page) is None
    assert response.status_code == 403
    assert await status_of(service, invoice) is InvoiceStatus.PAID


async def test_a_clinic_sees_its_reversed_invoice_without_the_operators_name(
    client: Client, service: BillingService
) -> None:
    invoice = await paid_topup(service, "10.00")
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    await confirmed(client, invoice, csrf)
    await sign_in(client, CLINIC_USER, user="dr-ana")

    page = (await client.get(f"/console/invoices/{invoice.id}")).text

    assert text_of(page, "reversal-reason") == f"Reason: {BOUNCED}"
    assert text_of(page, "reversed-amount") == "10.00 USD"
    assert "Payment reversed" in (await client.get("/console/wallet")).text  # beside its request
    assert 'data-testid="reversed-by"' not in page
    assert 'data-testid="paid-by"' not in page
    assert "operator-1" not in page


@four_eyes
async def test_under_four_eyes_who_marked_it_paid_cannot_reverse_it(client: Client, service: BillingService) -> None:
    invoice = await paid_topup(service, "10.00")  # marked paid by "cashier"
    csrf = await sign_in(client, OPERATOR, user="cashier")

    page = (await client.get(f"/console/invoices/{invoice.id}")).text
    response = await confirmed(client, invoice, csrf)

    assert reverse_form(page) is None
    assert "you marked this invoice paid, so another operator must reverse its payment" in text_of(
        page, "four-eyes-reversal"
    )
    assert response.status_code == 403
    assert "Four eyes: another operator than the one who marked this invoice paid" in response.text
    assert await status_of(service, invoice) is InvoiceStatus.PAID

    csrf = await sign_in(client, OPERATOR, user="operator-1")
    assert (await confirmed(client, invoice, csrf)).status_code == 303
    assert await status_of(service, invoice) is InvoiceStatus.PAYMENT_REVERSED
