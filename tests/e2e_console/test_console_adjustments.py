"""A tenant wallet's adjustments on the console (contract v3 §19), through Litestar's test client: the operators'
page (from the tenant's wallet page) lists them by status, proposes one with a fresh reference id (so that the same
form sent twice is a repeat, never a second adjustment), applies it at once without four eyes and, with them, leaves
it proposed until another operator approves or rejects it; refusals show the API's messages beside the fields."""

from __future__ import annotations

import html
import re
from typing import Any
from uuid import UUID

import attrs
import pytest
from console_support import (
    API,
    CLINIC,
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
from money_support import APPROVER, paid_topup

from billing.application.caller import MANAGE, VIEW
from billing.application.service import BillingService
from billing.config import JwtSettings, Settings
from billing.domain.adjustment import Adjustment, AdjustmentStatus

Client = AsyncTestClient[Any]
PAGE = f"/console/wallets/{CLINIC}/adjustments"
REASON = "Goodwill credit for the outage of 3 March"
four_eyes = pytest.mark.parametrize("settings", [True], indirect=True, ids=["four-eyes"])


@pytest.fixture
def settings(request: pytest.FixtureRequest) -> Settings:
    """The console's settings; `four_eyes` turns BILLING_FOUR_EYES on."""
    base = Settings(jwt=JwtSettings(secret=SECRET))
    return attrs.evolve(base, billing=attrs.evolve(base.billing, four_eyes=getattr(request, "param", False)))


def reference_of(page: str) -> str:
    """The reference id the propose form was filled in with."""
    match = re.search(r'id="adjust-reference" name="reference_id"[^>]*value="([^"]*)"', page)
    assert match, "no reference id field"
    return match.group(1)


async def propose(
    client: Client, csrf: str | None, amount: str, reason: str = REASON, reference_id: str | None = None
) -> Any:
    reference = reference_id if reference_id is not None else reference_of((await client.get(PAGE)).text)
    data = {"amount": amount, "reason": reason, "reference_id": reference, "status": "all"}
    return await client.post(PAGE, data={**data, **({"_csrf_token": csrf} if csrf is not None else {})})


async def adjustments(service: BillingService) -> list[Adjustment]:
    return list((await service.acting_as(APPROVER).adjustments(CLINIC)).items)


async def available(service: BillingService) -> str:
    return str((await service.as_platform("test").wallet(CLINIC)).available)


def rows(page: str) -> list[str]:
    return re.findall(r'<tr data-adjustment-id="([^"]+)"', page)


# The page -------------------------------------------------------------------------------------------------------


async def test_the_tenants_wallet_page_links_to_its_adjustments(client: Client) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    page = (await client.get(f"/console/wallets/{CLINIC}")).text

    assert f'href="{PAGE}" data-testid="adjustments-link"' in page


async def test_each_form_gets_a_fresh_reference_id_and_says_it_applies_at_once(client: Client) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    first = (await client.get(PAGE)).text
    second = (await client.get(PAGE)).text

    assert UUID(reference_of(first)) != UUID(reference_of(second))
    assert "Four eyes are off: the adjustment is applied as soon as you send the form." in text_of(first, "four-eyes")
    assert f'<form method="post" action="{PAGE}"' in first
    assert 'data-testid="no-adjustments"' in first


async def test_an_operator_applies_a_credit_and_a_debit_at_once(client: Client, service: BillingService) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    credited = await propose(client, csrf, "12.50")
    debited = await propose(client, csrf, "-2.5", "Charged twice for one campaign message")

    assert credited.status_code == debited.status_code == 303
    assert credited.headers["location"] == f"{PAGE}?status=all&done=applied"
    page = (await client.get(credited.headers["location"])).text
    assert "Applied: the wallet was adjusted" in page
    assert text_of(page, "available") == "10.00 USD"
    amounts = re.findall(r'data-testid="adjustment-amount">([^<]*)<', page)
    assert amounts == ["-2.50", "+12.50"]  # newest first
    assert re.findall(r'data-testid="adjustment-status"><span class="badge badge-applied">applied<', page)
    assert [a.status for a in await adjustments(service)] == [AdjustmentStatus.APPLIED] * 2
    assert [a.decided_by for a in await adjustments(service)] == ["operator-1"] * 2
    assert await available(service) == "10.00"


async def test_the_same_form_sent_twice_is_one_adjustment(client: Client, service: BillingService) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    reference = reference_of((await client.get(PAGE)).text)

    first = await propose(client, csrf, "5.00", reference_id=reference)
    again = await propose(client, csrf, "5.00", reference_id=reference)

    assert first.headers["location"].endswith("done=applied")
    assert again.status_code == 303
    assert again.headers["location"].endswith("done=repeated")
    assert "nothing new was made" in (await client.get(again.headers["location"])).text
    assert len(await adjustments(service)) == 1
    assert await available(service) == "5.00"


async def test_the_same_reference_with_another_amount_is_refused(client: Client, service: BillingService) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    await propose(client, csrf, "5.00", reference_id="ticket-42")

    response = await propose(client, csrf, "6.00", reference_id="ticket-42")

    assert response.status_code == 409
    assert "Reference 'ticket-42' was already an adjustment of 5.00" in html.unescape(response.text)
    assert reference_of(response.text) == "ticket-42"  # the form as it was sent
    assert 'value="6.00"' in response.text
    assert len(await adjustments(service)) == 1


async def test_a_credit_repays_the_debt_first(client: Client, service: BillingService) -> None:
    invoice = await paid_topup(service, "10.00")
    await service.acting_as(APPROVER).adjust(CLINIC, "-4.00", "spent", "spent-1")
    await service.acting_as(APPROVER).reverse_payment(invoice.id, "bounced")  # 6.00 back, 4.00 owed
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    assert text_of((await client.get(PAGE)).text, "debt") == "4.00 USD"

    response = await propose(client, csrf, "5.00")

    page = (await client.get(response.headers["location"])).text
    assert text_of(page, "available") == "1.00 USD"
    assert 'data-testid="debt"' not in page


@pytest.mark.parametrize("amount", ["", "abc", "0", "1.00001", "-0.00001"])
async def test_a_refused_amount_shows_the_apis_message_beside_the_field(
    client: Client, service: BillingService, amount: str
) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    body = {"amount": amount, "reason": REASON, "reference_id": "api-1"}
    api = await client.post(f"{API}/wallets/{CLINIC}/adjustments", json=body, headers=bearer(OPERATOR))
    assert api.status_code == 400

    response = await propose(client, csrf, amount, reference_id="form-1")

    assert response.status_code == 400
    assert html.unescape(field_error(response.text, "propose", "amount") or "") == api.json()["errors"][0]["message"]
    assert f'value="{REASON}"' in response.text
    assert reference_of(response.text) == "form-1"
    assert await adjustments(service) == []


@pytest.mark.parametrize(
    ("field", "reason", "reference"),
    [
        ("reason", "", "ref-1"),
        ("reason", "a\x1bb", "ref-1"),
        ("reference_id", REASON, ""),
        ("reference_id", REASON, "r\x00"),
    ],
)
async def test_a_refused_reason_or_reference_is_a_message_beside_it(
    client: Client, service: BillingService, field: str, reason: str, reference: str
) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await propose(client, csrf, "5.00", reason, reference)

    assert response.status_code == 400
    assert field_error(response.text, "propose", field)
    assert await adjustments(service) == []


async def test_a_debit_the_wallet_cannot_cover_is_refused(client: Client, service: BillingService) -> None:
    await paid_topup(service, "10.00")
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await propose(client, csrf, "-10.01")

    assert response.status_code == 409
    assert 'role="alert"' in response.text
    assert 'data-testid="no-adjustments"' in response.text  # nothing was created
    assert await adjustments(service) == []
    assert await available(service) == "10.00"


async def test_the_list_is_filtered_by_status(client: Client, service: BillingService) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    await propose(client, csrf, "1.00")

    applied = (await client.get(PAGE, params={"status": "applied"})).text
    proposed = (await client.get(PAGE, params={"status": "proposed"})).text
    bad = await client.get(PAGE, params={"status": "done"})

    assert len(rows(applied)) == 1
    assert rows(proposed) == []
    assert "No proposed adjustments." in proposed
    assert bad.status_code == 400
    assert field_error(bad.text, "filters", "status") == "must be one of: proposed, applied, rejected"


async def test_a_proposal_without_the_csrf_token_is_refused(client: Client, service: BillingService) -> None:
    await sign_in(client, OPERATOR, user="operator-1")

    response = await propose(client, None, "5.00")

    assert response.status_code == 403
    assert "could not be verified" in error_detail(response.text)
    assert await adjustments(service) == []


# Four eyes ------------------------------------------------------------------------------------------------------


@four_eyes
async def test_under_four_eyes_a_proposal_waits_for_another_operator(client: Client, service: BillingService) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")

    response = await propose(client, csrf, "5.00")

    assert response.headers["location"] == f"{PAGE}?status=all&done=proposed"
    page = (await client.get(response.headers["location"])).text
    assert "Proposed: another operator approves it" in page
    assert "Four eyes are on" in text_of(page, "four-eyes")
    assert "Waiting for another operator to approve it." in page
    assert "/approve" not in page  # not for its proposer
    assert "/reject" in page  # but it may withdraw it
    (adjustment,) = await adjustments(service)
    assert adjustment.status is AdjustmentStatus.PROPOSED
    assert await available(service) == "0.00"


@four_eyes
async def test_under_four_eyes_another_operator_approves_it(client: Client, service: BillingService) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    await propose(client, csrf, "5.00")
    (adjustment,) = await adjustments(service)

    own = await client.post(
        f"/console/adjustments/{adjustment.id}/approve", data={"tenant_id": CLINIC, "_csrf_token": csrf}
    )
    assert own.status_code == 403
    assert "Four eyes: another operator than the one who proposed this adjustment must approve it" in own.text

    csrf = await sign_in(client, OPERATOR, user="operator-2")
    page = (await client.get(PAGE)).text
    assert f'action="/console/adjustments/{adjustment.id}/approve"' in page
    approved = await client.post(
        f"/console/adjustments/{adjustment.id}/approve",
        data={"tenant_id": CLINIC, "status": "proposed", "_csrf_token": csrf},
    )

    assert approved.status_code == 303
    assert approved.headers["location"] == f"{PAGE}?status=proposed&done=applied"
    (adjustment,) = await adjustments(service)
    assert (adjustment.status, adjustment.decided_by) == (AdjustmentStatus.APPLIED, "operator-2")
    assert await available(service) == "5.00"


@four_eyes
async def test_under_four_eyes_an_approval_the_wallet_cannot_cover_leaves_it_proposed(
    client: Client, service: BillingService
) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    await propose(client, csrf, "-3.00")
    (adjustment,) = await adjustments(service)
    csrf = await sign_in(client, OPERATOR, user="operator-2")

    response = await client.post(
        f"/console/adjustments/{adjustment.id}/approve", data={"tenant_id": CLINIC, "_csrf_token": csrf}
    )

    assert response.status_code == 409
    assert 'role="alert"' in response.text
    assert (await adjustments(service))[0].status is AdjustmentStatus.PROPOSED


@four_eyes
async def test_under_four_eyes_a_proposal_is_rejected_with_a_reason(client: Client, service: BillingService) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    await propose(client, csrf, "5.00")
    (adjustment,) = await adjustments(service)
    csrf = await sign_in(client, OPERATOR, user="operator-2")
    reject = f"/console/adjustments/{adjustment.id}/reject"

    refused = await client.post(reject, data={"tenant_id": CLINIC, "reason": " ", "_csrf_token": csrf})
    rejected = await client.post(reject, data={"tenant_id": CLINIC, "reason": "Not agreed", "_csrf_token": csrf})

    assert refused.status_code == 400
    assert field_error(refused.text, str(adjustment.id), "reason") == "must not be blank"
    assert rejected.status_code == 303
    assert rejected.headers["location"] == f"{PAGE}?status=all&done=rejected"
    page = (await client.get(rejected.headers["location"])).text
    assert "Rejected: Not agreed" in page
    assert (await adjustments(service))[0].status is AdjustmentStatus.REJECTED
    again = await client.post(reject, data={"tenant_id": CLINIC, "reason": "Twice", "_csrf_token": csrf})
    assert again.status_code == 409


@four_eyes
async def test_an_approval_without_the_csrf_token_is_refused(client: Client, service: BillingService) -> None:
    csrf = await sign_in(client, OPERATOR, user="operator-1")
    await propose(client, csrf, "5.00")
    (adjustment,) = await adjustments(service)
    await sign_in(client, OPERATOR, user="operator-2")

    response = await client.post(f"/console/adjustments/{adjustment.id}/approve", data={"tenant_id": CLINIC})

    assert response.status_code == 403
    assert (await adjustments(service))[0].status is AdjustmentStatus.PROPOSED


# Who may ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", PAGE),
        ("POST", PAGE),
        ("POST", "/console/adjustments/00000000-0000-0000-0000-000000000001/approve"),
        ("POST", "/console/adjustments/00000000-0000-0000-0000-000000000001/reject"),
    ],
)
async def test_a_clinic_cannot_reach_the_adjustments(
    client: Client, service: BillingService, method: str, path: str
) -> None:
    csrf = await sign_in(client, (CLINIC, VIEW, MANAGE), user="clinic-manager")
    data = {"amount": "100.00", "reason": "mine", "reference_id": "r-1", "tenant_id": CLINIC, "_csrf_token": csrf}

    response = await (client.get(path) if method == "GET" else client.post(path, data=data))

    assert response.status_code == 403
    assert "operators of the platform" in error_detail(response.text)
    assert await adjustments(service) == []


async def test_a_root_viewer_sees_the_list_without_the_form_and_cannot_adjust(
    client: Client, service: BillingService
) -> None:
    csrf = await sign_in(client, (ROOT, VIEW), user="viewer")

    page = (await client.get(PAGE)).text
    response = await propose(client, csrf, "5.00", reference_id="r-1")

    assert f'<form method="post" action="{PAGE}"' not in page
    assert response.status_code == 403
    assert 'role="alert"' in response.text
    assert await adjustments(service) == []
