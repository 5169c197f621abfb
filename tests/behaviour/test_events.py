"""Events (contract v2 §13): the container's table handles them inside the unit of work that recorded them;
subscribers hear them after the commit, once each, in order, and never undo what committed."""

from __future__ import annotations

import typing
from typing import Any

import pytest

from billing.application.pagination import PageRequest
from billing.application.service import BillingService
from billing.domain.errors import InsufficientFundsError, ValidationError
from billing.domain.events import (
    DomainEvent,
    InvoiceIssued,
    InvoicePaid,
    InvoiceVoided,
    TopupCancelled,
    TopupRejected,
    TopupRequested,
)

CLINIC = "clinic-a"


@pytest.fixture
def heard(service: BillingService) -> list[DomainEvent]:
    """Every event a subscriber hears, in order."""
    events: list[DomainEvent] = []

    async def hear(event: DomainEvent) -> None:
        events.append(event)

    for event_type in typing.get_args(DomainEvent):
        service.subscribe(event_type, hear)
    return events


async def test_a_lifecycle_is_heard_once_per_fact_in_order_after_each_commit(scenario: Any, heard: list) -> None:
    request = await scenario.clinic.request_topup("150.00")
    approved = await scenario.operator.approve_topup(request.id, note="thanks")
    await scenario.operator.mark_invoice_paid(approved.invoice_id, "bank-1")

    assert [type(e) for e in heard] == [TopupRequested, InvoiceIssued, InvoicePaid]
    issued, paid = heard[1], heard[2]
    assert isinstance(issued, InvoiceIssued)
    assert (issued.topup_request_id, issued.note, issued.number) == (request.id, "thanks", approved.invoice_number)
    assert isinstance(paid, InvoicePaid)
    assert (paid.payment_reference, paid.topup_request_id) == ("bank-1", request.id)


async def test_rejecting_voiding_and_cancelling_are_heard(scenario: Any, heard: list) -> None:
    await scenario.rejected()
    await scenario.voided()
    await scenario.cancelled()

    assert [type(e) for e in heard] == [
        TopupRequested,
        TopupRejected,
        TopupRequested,
        InvoiceIssued,
        InvoiceVoided,
        TopupCancelled,
        TopupRequested,
        TopupCancelled,
    ]


async def test_a_refused_operation_is_not_heard(scenario: Any, heard: list) -> None:
    with pytest.raises(ValidationError):
        await scenario.clinic.request_topup("0.10")
    with pytest.raises(InsufficientFundsError):
        await scenario.operator.charge(CLINIC, "1.00", "wamid.1")

    assert heard == []


async def test_a_subscriber_hears_only_what_committed_and_sees_it_committed(scenario: Any, service: Any) -> None:
    seen: list[str] = []

    async def read_back(event: DomainEvent) -> None:
        assert isinstance(event, TopupRequested)
        seen.append((await scenario.operator.topup_request(event.request_id)).status)  # a fresh unit sees it

    service.subscribe(TopupRequested, read_back)
    await scenario.clinic.request_topup("150.00")

    assert seen == ["pending"]


async def test_a_failing_subscriber_never_undoes_the_effect(scenario: Any, service: Any, heard: list) -> None:
    async def explode(event: DomainEvent) -> None:
        raise RuntimeError("a subscriber's own bug")

    service.subscribe(TopupRequested, explode)

    request = await scenario.clinic.request_topup("150.00")  # no exception reaches the caller

    assert (await scenario.operator.topup_request(request.id)).status == "pending"
    assert [type(e) for e in heard] == [TopupRequested]  # the other subscribers still hear it


async def test_the_event_table_queues_the_invoice_email_in_the_same_unit(scenario: Any, service: Any) -> None:
    approved = await scenario.invoiced("150.00")

    async with service.uow_factory() as uow:
        queued = (await uow.outbox.list(None, PageRequest(1, 10))).items  # written by the InvoiceIssued handler

    assert [(entry.message.kind, entry.message.tenant_id) for entry in queued] == [("invoice_issued", CLINIC)]
    assert approved.invoice_number in queued[0].message.subject


async def test_a_failing_in_transaction_handler_rolls_the_effect_back(scenario: Any, service: Any) -> None:
    async def refuse(event: DomainEvent, uow: Any, rt: Any) -> None:
        raise ValidationError.of("note", "refused by a handler of the event table")

    failing = BillingService(service.uow_factory, service.runtime, {TopupRequested: (refuse,)})
    clinic = failing.acting_as(scenario.clinic.caller)

    with pytest.raises(ValidationError):
        await clinic.request_topup("150.00")

    assert (await scenario.clinic.topup_requests()).total == 0
