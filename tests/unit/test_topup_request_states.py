"""The top-up request state machine: every legal move, and every other one refused with nothing changed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from billing.domain.errors import InvalidStateError, ValidationError
from billing.domain.events import TopupCancelled, TopupRejected, TopupRequested
from billing.domain.topup import TopupRequest, TopupStatus

AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
LATER = AT + timedelta(hours=1)
INVOICE_ID = uuid4()
NUMBER = "TOP-202611-B1AF3DD8A1C5-00000001"

Builder = Callable[..., TopupRequest]
Snapshot = Callable[[Any], dict[str, Any]]


def _approve(request: TopupRequest) -> None:
    request.approve(INVOICE_ID, NUMBER, "operator-1", "approved", LATER)


def _reject(request: TopupRequest) -> None:
    request.reject("operator-1", "not this month", LATER)


def _cancel(request: TopupRequest) -> None:
    request.cancel(LATER)


def _complete(request: TopupRequest) -> None:
    request.complete(LATER)


def _cancel_for_voided_invoice(request: TopupRequest) -> None:
    request.cancel_for_voided_invoice(LATER)


ACTIONS: dict[str, Callable[[TopupRequest], None]] = {
    "approve": _approve,
    "reject": _reject,
    "cancel": _cancel,
    "complete": _complete,
    "cancel_for_voided_invoice": _cancel_for_voided_invoice,
}

# How to reach each status from a fresh (pending) request.
PATHS: dict[TopupStatus, tuple[str, ...]] = {
    TopupStatus.PENDING: (),
    TopupStatus.INVOICED: ("approve",),
    TopupStatus.COMPLETED: ("approve", "complete"),
    TopupStatus.REJECTED: ("reject",),
    TopupStatus.CANCELLED: ("cancel",),
}

LEGAL: dict[tuple[TopupStatus, str], TopupStatus] = {
    (TopupStatus.PENDING, "approve"): TopupStatus.INVOICED,
    (TopupStatus.PENDING, "reject"): TopupStatus.REJECTED,
    (TopupStatus.PENDING, "cancel"): TopupStatus.CANCELLED,
    (TopupStatus.INVOICED, "complete"): TopupStatus.COMPLETED,
    (TopupStatus.INVOICED, "cancel_for_voided_invoice"): TopupStatus.CANCELLED,
}

ILLEGAL = [(status, action) for status in PATHS for action in ACTIONS if (status, action) not in LEGAL]


def _in(status: TopupStatus, new_request: Builder) -> TopupRequest:
    request = new_request()
    for step in PATHS[status]:
        ACTIONS[step](request)
    request.pull_events()
    assert request.status is status
    return request


def test_submit_makes_a_pending_request_and_records_it(new_request: Builder) -> None:
    request = new_request("150.00")

    assert request.status is TopupStatus.PENDING
    assert str(request.amount) == "150.00"
    assert request.currency == "USD"
    assert request.decided_by is request.invoice_id is request.completed_at is request.cancelled_at is None
    assert request.pull_events() == [
        TopupRequested(request.id, "clinic-a", request.amount, "user-1", "u1@clinic.test", AT)
    ]
    assert request.pull_events() == []


def test_submit_refuses_a_note_over_512_characters(usd: Callable[[str], Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        TopupRequest.submit(uuid4(), "clinic-a", usd("1.00"), "n" * 513, "user-1", None, AT)

    assert [e.field for e in caught.value.errors] == ["note"]


def test_submit_keeps_a_512_character_note_and_drops_an_empty_one(usd: Callable[[str], Any]) -> None:
    kept = TopupRequest.submit(uuid4(), "clinic-a", usd("1.00"), "n" * 512, "user-1", None, AT)
    dropped = TopupRequest.submit(uuid4(), "clinic-a", usd("1.00"), "", "user-1", None, AT)

    assert kept.note == "n" * 512
    assert dropped.note is None


@pytest.mark.parametrize(("status", "action"), sorted(LEGAL, key=str), ids=lambda v: str(v))
def test_every_legal_transition_reaches_its_status(status: TopupStatus, action: str, new_request: Builder) -> None:
    request = _in(status, new_request)

    ACTIONS[action](request)

    assert request.status is LEGAL[(status, action)]


def test_approve_records_the_decision_and_the_invoice(new_request: Builder) -> None:
    request = new_request()

    _approve(request)

    assert request.status is TopupStatus.INVOICED
    assert (request.invoice_id, request.invoice_number) == (INVOICE_ID, NUMBER)
    assert (request.decided_by, request.decided_at, request.decision_note) == ("operator-1", LATER, "approved")
    assert request.rejection_reason is None


def test_reject_records_the_reason(new_request: Builder) -> None:
    request = new_request()
    request.pull_events()

    _reject(request)

    assert request.status is TopupStatus.REJECTED
    assert request.rejection_reason == request.decision_note == "not this month"
    assert (request.decided_by, request.decided_at) == ("operator-1", LATER)
    assert request.pull_events() == [TopupRejected(request.id, "clinic-a", "not this month", LATER)]


@pytest.mark.parametrize("path", [("cancel",), ("approve", "cancel_for_voided_invoice")])
def test_cancelling_stamps_the_time_and_records_it(path: tuple[str, ...], new_request: Builder) -> None:
    request = new_request()
    for step in path:
        ACTIONS[step](request)

    assert request.status is TopupStatus.CANCELLED
    assert request.cancelled_at == LATER
    assert request.pull_events()[-1] == TopupCancelled(request.id, "clinic-a", LATER)


def test_complete_stamps_the_time(new_request: Builder) -> None:
    request = _in(TopupStatus.INVOICED, new_request)

    _complete(request)

    assert request.completed_at == LATER


@pytest.mark.parametrize(("status", "action"), ILLEGAL, ids=lambda v: str(v))
def test_every_illegal_transition_is_a_conflict_that_changes_nothing(
    status: TopupStatus, action: str, new_request: Builder, snapshot: Snapshot
) -> None:
    request = _in(status, new_request)
    before = snapshot(request)

    with pytest.raises(InvalidStateError) as caught:
        ACTIONS[action](request)

    assert caught.value.code == "invalid_state"
    assert snapshot(request) == before


def test_second_reject_is_a_conflict(new_request: Builder, snapshot: Snapshot) -> None:
    request = _in(TopupStatus.REJECTED, new_request)
    before = snapshot(request)

    with pytest.raises(InvalidStateError):
        request.reject("operator-2", "again", LATER + timedelta(hours=1))

    assert snapshot(request) == before


@pytest.mark.parametrize("reason", ["", "   ", "r" * 513])
def test_reject_needs_a_reason_and_changes_nothing_without_one(
    reason: str, new_request: Builder, snapshot: Snapshot
) -> None:
    request = new_request()
    before = snapshot(request)

    with pytest.raises(ValidationError) as caught:
        request.reject("operator-1", reason, LATER)

    assert [e.field for e in caught.value.errors] == ["reason"]
    assert snapshot(request) == before


def test_approve_with_an_overlong_note_changes_nothing(new_request: Builder, snapshot: Snapshot) -> None:
    request = new_request()
    before = snapshot(request)

    with pytest.raises(ValidationError) as caught:
        request.approve(INVOICE_ID, NUMBER, "operator-1", "n" * 513, LATER)

    assert [e.field for e in caught.value.errors] == ["note"]
    assert snapshot(request) == before
