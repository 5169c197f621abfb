"""A clinic only ever sees its own tenant's data; the root tenant sees everyone's."""

from __future__ import annotations

import pytest

from billing.application.caller import MANAGE, VIEW
from billing.domain.errors import NotFoundError, ValidationError

CLINIC = "clinic-a"
OTHER_CLINIC = "clinic-b"


async def _two_clinics(scenario):
    mine = await scenario.invoiced("10.00")
    theirs = await scenario.invoiced("20.00", scenario.other_clinic)
    return mine, theirs


async def test_a_clinic_never_sees_another_tenants_request(scenario) -> None:
    _, theirs = await _two_clinics(scenario)

    with pytest.raises(NotFoundError):
        await scenario.clinic.topup_request(theirs.id)
    # Manage changes nothing about what a clinic may see.
    with pytest.raises(NotFoundError):
        await scenario.as_(CLINIC, VIEW, MANAGE).topup_request(theirs.id)


async def test_a_clinic_never_sees_another_tenants_invoice(scenario) -> None:
    _, theirs = await _two_clinics(scenario)

    with pytest.raises(NotFoundError) as caught:
        await scenario.clinic.invoice(theirs.invoice_id)

    # Exactly what an unknown id answers: existence is not revealed.
    assert str(caught.value) == "invoice not found"


async def test_a_clinic_lists_only_its_own_requests_and_invoices(scenario) -> None:
    mine, _ = await _two_clinics(scenario)

    requests = await scenario.clinic.topup_requests()
    invoices = await scenario.clinic.invoices()

    assert [r.id for r in requests.items] == [mine.id]
    assert requests.total == 1
    assert [i.id for i in invoices.items] == [mine.invoice_id]
    assert invoices.total == 1


async def test_a_list_filtered_by_another_tenant_is_an_empty_page(scenario) -> None:
    await _two_clinics(scenario)

    requests = await scenario.clinic.topup_requests(tenant_id=OTHER_CLINIC)
    invoices = await scenario.clinic.invoices(tenant_id=OTHER_CLINIC, page=2, page_size=5)

    assert (tuple(requests.items), requests.total, requests.page, requests.page_size) == ((), 0, 1, 20)
    assert (tuple(invoices.items), invoices.total, invoices.page, invoices.page_size) == ((), 0, 2, 5)


async def test_a_list_filtered_by_the_own_tenant_is_the_own_list(scenario) -> None:
    mine, _ = await _two_clinics(scenario)

    requests = await scenario.clinic.topup_requests(tenant_id=CLINIC)

    assert [r.id for r in requests.items] == [mine.id]


async def test_a_malformed_tenant_filter_is_a_validation_error(scenario) -> None:
    for listing in (scenario.clinic.topup_requests, scenario.operator.invoices):
        with pytest.raises(ValidationError) as caught:
            await listing(tenant_id="not a tenant")
        assert [e.field for e in caught.value.errors] == ["tenant_id"]


async def test_root_sees_every_tenant(scenario) -> None:
    mine, theirs = await _two_clinics(scenario)

    requests = await scenario.operator.topup_requests()
    invoices = await scenario.operator.invoices()

    assert {r.id for r in requests.items} == {mine.id, theirs.id}
    assert {i.id for i in invoices.items} == {mine.invoice_id, theirs.invoice_id}
    assert (await scenario.operator.topup_request(theirs.id)).tenant_id == OTHER_CLINIC
    assert (await scenario.operator.invoice(theirs.invoice_id)).tenant_id == OTHER_CLINIC
    # A root viewer without Manage reads them too.
    assert (await scenario.as_("root", VIEW).topup_request(mine.id)).tenant_id == CLINIC


async def test_root_filters_by_tenant_and_status(scenario) -> None:
    mine, theirs = await _two_clinics(scenario)
    pending = await scenario.pending(clinic=scenario.other_clinic)

    by_tenant = await scenario.operator.topup_requests(tenant_id=OTHER_CLINIC)
    by_status = await scenario.operator.topup_requests(status="invoiced")
    both = await scenario.operator.topup_requests(tenant_id=OTHER_CLINIC, status="pending")
    invoices = await scenario.operator.invoices(tenant_id=CLINIC, status="issued", purpose="topup")

    assert {r.id for r in by_tenant.items} == {theirs.id, pending.id}
    assert {r.id for r in by_status.items} == {mine.id, theirs.id}
    assert [r.id for r in both.items] == [pending.id]
    assert [i.id for i in invoices.items] == [mine.invoice_id]


@pytest.mark.parametrize(
    ("listing", "field"),
    [
        (lambda s: s.operator.topup_requests(status="approved"), "status"),
        (lambda s: s.operator.invoices(status="open"), "status"),
        (lambda s: s.operator.invoices(purpose="gift"), "purpose"),
    ],
)
async def test_an_unknown_filter_value_is_a_validation_error(scenario, listing, field) -> None:
    with pytest.raises(ValidationError) as caught:
        await listing(scenario)

    assert [e.field for e in caught.value.errors] == [field]


async def test_each_clinic_has_its_own_wallet(scenario) -> None:
    await scenario.fund(CLINIC, "10.00")
    await scenario.fund(OTHER_CLINIC, "20.00")

    mine = await scenario.clinic.wallet()
    theirs = await scenario.other_clinic.wallet()

    assert (mine.tenant_id, str(mine.balance)) == (CLINIC, "10.00")
    assert (theirs.tenant_id, str(theirs.balance)) == (OTHER_CLINIC, "20.00")
    assert mine.id != theirs.id
    assert [row.tenant_id for row in (await scenario.clinic.transactions()).items] == [CLINIC]
