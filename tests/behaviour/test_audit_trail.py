"""The audit trail (contract v3 §20, §23) through the in-process facade on every backend: one row for every change a
person made, in the change's own transaction; none for holds, settles, voids, charges, Meta's statuses, reads, a
refused command or an idempotent repeat; the service's own rows (the sweeper, the automatic top-up, the alerts); the
filters of `audit` and the clinic's own view `my_audit`. Each test fails if the rule it names is removed.

In-process no HTTP operation is bound, so a row's `action` is the facade method's name."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs
import pytest
from dependency_injector import providers

from billing.application import context
from billing.application.caller import MANAGE, VIEW
from billing.application.handlers.invoices import ReversePayment, reverse_payment
from billing.application.handlers.topups import ApproveTopup, approve_topup
from billing.application.service import BillingSession
from billing.container import Container
from billing.domain.audit import Actor, ActorKind, AuditEntry, Target, redacted
from billing.domain.errors import (
    ForbiddenError,
    InsufficientFundsError,
    InvalidStateError,
    NotFoundError,
    ValidationError,
)
from billing.domain.money import Money
from billing.domain.pricing import mask_recipient
from billing.domain.protections import AUTO_REQUESTER
from billing.domain.whatsapp import parse_status_notifications

ROOT = "root"
CLINIC = "clinic-a"
OTHER = "clinic-b"
NUMBER = "106540352242922"
USA = "+14155552671"
STARTED = datetime(2026, 1, 1, tzinfo=UTC)
MARKETS = {"US": "North America", "*": "Other"}
RATES: list[dict[str, object]] = [
    {"market": "North America", "category": "marketing", "unit_price": "1.0000"},
    {"market": "North America", "category": "utility", "unit_price": "2.0000"},
]
OPERATOR = Actor(ActorKind.USER, "operator-1", ROOT)
CLINIC_USER = Actor(ActorKind.USER, "clinic-user", CLINIC)


def d(text: str) -> Decimal:
    return Decimal(text)


@pytest.fixture
async def messaging(scenario) -> BillingSession:
    """A card in force (marketing 1.00, utility 2.00 to the US); the platform's messaging module."""
    scenario.tick()
    await scenario.operator.create_rate_card("Card", STARTED, MARKETS, RATES)
    return scenario.service.as_platform("messaging")


async def trail(scenario, **filters: Any) -> list[AuditEntry]:
    """Every row the filters keep, newest first (all pages)."""
    rows: list[AuditEntry] = []
    page = 1
    while True:
        chunk = await scenario.operator.audit(**filters, page=page, page_size=100)
        rows.extend(chunk.items)
        if len(rows) >= chunk.total or not chunk.items:
            assert len(rows) == chunk.total
            return rows
        page += 1


async def written_by(scenario, work: Callable[[], Awaitable[Any]]) -> tuple[Any, list[AuditEntry]]:
    """What `work` returned, and the rows it added (oldest first)."""
    before = {row.id for row in await trail(scenario)}
    scenario.tick()
    result = await work()
    added = [row for row in await trail(scenario) if row.id not in before]
    return result, list(reversed(added))


def at_now(scenario) -> datetime:
    return scenario.clock.now()


# One row for each person's change ---------------------------------------------------------------------------------


async def test_a_clinic_s_top_up_request_is_its_own_row(scenario) -> None:
    request, [row] = await written_by(scenario, lambda: scenario.clinic.request_topup("150.00", "for March"))

    assert (row.action, row.actor, row.target, row.tenant_id, row.at) == (
        "request_topup",
        CLINIC_USER,
        Target("topup_request", str(request.id)),
        CLINIC,
        at_now(scenario),
    )
    assert (d(row.details["amount"]), row.details["note"]) == (d("150.00"), "for March")
    assert (row.request_id, row.ip) == (None, None)  # in-process: no request, no client address


async def _paid_invoice(scenario):
    request = await scenario.invoiced("40.00")
    scenario.tick()
    return await scenario.operator.mark_invoice_paid(request.invoice_id, "bank-1")


def _four_eyes(container: Container, scenario):
    settings = container.settings()
    container.settings.override(
        providers.Object(attrs.evolve(settings, billing=attrs.evolve(settings.billing, four_eyes=True)))
    )
    container.runtime.reset()
    container.service.reset()
    return attrs.evolve(scenario, service=container.service())


def _operator_2(scenario) -> BillingSession:
    return scenario.as_(ROOT, VIEW, MANAGE, user_id="operator-2")


# (the use case's name, how to reach the state before it, the change, the target's type and id from the result)
CASES: list[tuple[str, Any, Any, str, Callable[[Any, Any], str]]] = [
    (
        "approve_topup",
        lambda s: s.pending(),
        lambda s, r: s.operator.approve_topup(r.id, "ok"),
        "topup_request",
        lambda before, result: str(result.id),
    ),
    (
        "reject_topup",
        lambda s: s.pending(),
        lambda s, r: s.operator.reject_topup(r.id, "not now"),
        "topup_request",
        lambda before, result: str(result.id),
    ),
    (
        "cancel_topup",
        lambda s: s.pending(),
        lambda s, r: s.clinic.cancel_topup(r.id),
        "topup_request",
        lambda before, result: str(result.id),
    ),
    (
        "mark_invoice_paid",
        lambda s: s.invoiced(),
        lambda s, r: s.operator.mark_invoice_paid(r.invoice_id, "bank-9"),
        "invoice",
        lambda before, result: str(before.invoice_id),
    ),
    (
        "void_invoice",
        lambda s: s.invoiced(),
        lambda s, r: s.operator.void_invoice(r.invoice_id, "issued by mistake"),
        "invoice",
        lambda before, result: str(before.invoice_id),
    ),
    (
        "reverse_payment",
        _paid_invoice,
        lambda s, invoice: s.operator.reverse_payment(invoice.id, "bounced"),
        "invoice",
        lambda before, result: str(before.id),
    ),
    (
        "adjust",
        lambda s: s.pending(),
        lambda s, _: s.operator.adjust(CLINIC, "5.00", "promised credit", "adj-1"),
        "adjustment",
        lambda before, result: str(result.id),
    ),
    (
        "refund",
        lambda s: s.fund(CLINIC, "10.00"),
        lambda s, _: _charged_then_refunded(s),
        "transaction",
        lambda before, result: str(result.id),
    ),
    (
        "freeze",
        lambda s: s.fund(CLINIC, "10.00"),
        lambda s, _: s.operator.freeze(CLINIC, "chargeback under review"),
        "wallet",
        lambda before, result: CLINIC,
    ),
    (
        "unfreeze",
        lambda s: s.operator.freeze(CLINIC, "review"),
        lambda s, _: s.operator.unfreeze(CLINIC),
        "wallet",
        lambda before, result: CLINIC,
    ),
    (
        "set_settings",
        lambda s: s.pending(),
        lambda s, _: s.operator.set_settings("1.00", CLINIC, low_balance_levels=["5.00"]),
        "wallet",
        lambda before, result: CLINIC,
    ),
    (
        "set_billing_contact",
        lambda s: s.pending(),
        lambda s, _: s.operator.set_billing_contact("accounts@clinic-a.test", "Accounts", tenant_id=CLINIC),
        "billing_contact",
        lambda before, result: CLINIC,
    ),
    (
        "create_rate_card",
        lambda s: s.pending(),
        lambda s, _: s.operator.create_rate_card("Clinic card", STARTED, MARKETS, RATES, tenant_id=CLINIC),
        "rate_card",
        lambda before, result: str(result.id),
    ),
    (
        "map_whatsapp_number",
        lambda s: s.pending(),
        lambda s, _: s.operator.map_whatsapp_number(NUMBER, CLINIC),
        "whatsapp_number",
        lambda before, result: NUMBER,
    ),
]


async def _charged_then_refunded(scenario):
    await scenario.operator.charge(CLINIC, "4.00", "sms-1")  # not audited: the ledger records it
    scenario.tick()
    return await scenario.operator.refund(CLINIC, "sms-1", "1.50")


@pytest.mark.parametrize(("action", "arrange", "change", "target_type", "target_id"), CASES, ids=[c[0] for c in CASES])
async def test_an_operator_s_change_writes_one_row_naming_it(
    scenario, action, arrange, change, target_type, target_id
) -> None:
    before = await arrange(scenario)

    result, [row] = await written_by(scenario, lambda: change(scenario, before))

    actor = CLINIC_USER if action == "cancel_topup" else OPERATOR
    assert (row.action, row.actor, row.target, row.tenant_id, row.at) == (
        action,
        actor,
        Target(target_type, target_id(before, result)),
        CLINIC,
        at_now(scenario),
    )
    assert hasattr(BillingSession, row.action), "the action is the in-process method's name"
    assert row.details, "details keep the command's input"
    assert [r.id for r in await trail(scenario, target_id=row.target.id, action=action)] == [row.id]


async def test_the_details_keep_the_command_s_input(scenario) -> None:
    invoice = await _paid_invoice(scenario)

    _, [row] = await written_by(scenario, lambda: scenario.operator.reverse_payment(invoice.id, "returned: R01"))

    assert row.details == {"invoice_id": str(invoice.id), "reason": "returned: R01"}


async def test_adjustments_proposed_approved_and_rejected_under_four_eyes_are_rows(container, scenario) -> None:
    four_eyes = _four_eyes(container, scenario)
    second = _operator_2(four_eyes)
    first = await four_eyes.operator.adjust(CLINIC, "5.00", "promised credit", "adj-1")
    other = await four_eyes.operator.adjust(CLINIC, "6.00", "other credit", "adj-2")

    _, [approved] = await written_by(four_eyes, lambda: second.approve_adjustment(first.id))
    _, [rejected] = await written_by(four_eyes, lambda: second.reject_adjustment(other.id, "no such promise"))

    operator_2 = Actor(ActorKind.USER, "operator-2", ROOT)
    assert [(r.action, r.actor, r.target, r.tenant_id) for r in (approved, rejected)] == [
        ("approve_adjustment", operator_2, Target("adjustment", str(first.id)), CLINIC),
        ("reject_adjustment", operator_2, Target("adjustment", str(other.id)), CLINIC),
    ]
    proposals = await trail(four_eyes, action="adjust")
    assert [(r.actor, r.target.id, r.details["reference_id"]) for r in reversed(proposals)] == [
        (OPERATOR, str(first.id), "adj-1"),
        (OPERATOR, str(other.id), "adj-2"),
    ]
    assert d(proposals[-1].details["amount"]) == d("5.00")


async def test_a_platform_wide_change_has_no_tenant(scenario) -> None:
    card, [row] = await written_by(
        scenario, lambda: scenario.operator.create_rate_card("Default", STARTED, MARKETS, RATES)
    )

    assert (row.action, row.tenant_id, row.target) == ("create_rate_card", None, Target("rate_card", str(card.id)))


async def test_unmapping_a_number_is_a_row(scenario) -> None:
    await scenario.operator.map_whatsapp_number(NUMBER, CLINIC)

    _, [row] = await written_by(scenario, lambda: scenario.operator.unmap_whatsapp_number(NUMBER))

    assert (row.action, row.actor, row.target) == ("unmap_whatsapp_number", OPERATOR, Target("whatsapp_number", NUMBER))


async def test_a_bound_request_gives_its_id_address_and_operation(scenario) -> None:
    request = await scenario.pending()
    scenario.tick()

    with context.bound(request_id="req-42", ip="203.0.113.9", action="approve_topup_request"):
        await scenario.operator.approve_topup(request.id)

    [row] = await trail(scenario, target_id=str(request.id), actor="operator-1")
    assert (row.action, row.request_id, row.ip) == ("approve_topup_request", "req-42", "203.0.113.9")


# No row ------------------------------------------------------------------------------------------------------------


async def test_holds_settles_voids_charges_statuses_and_reads_write_no_row(scenario, messaging) -> None:
    await scenario.fund(CLINIC, "50.00")
    await scenario.operator.map_whatsapp_number(NUMBER, CLINIC)
    before = await trail(scenario)
    webhook = scenario.service.as_platform("webhook")
    delivered = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "WABA",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "15550001234", "phone_number_id": NUMBER},
                            "statuses": [
                                {
                                    "id": "m-3",
                                    "status": "delivered",
                                    "timestamp": str(int(scenario.clock.now().timestamp())),
                                    "recipient_id": USA.lstrip("+"),
                                    "pricing": {
                                        "billable": True,
                                        "pricing_model": "PMP",
                                        "category": "marketing",
                                        "type": "regular",
                                    },
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    steps = [
        lambda: messaging.hold(CLINIC, "m-1", "marketing", USA),
        lambda: messaging.hold_batch(CLINIC, [{"message_id": "m-2", "category": "marketing", "recipient": USA}]),
        lambda: messaging.hold(CLINIC, "m-3", "marketing", USA),
        lambda: messaging.settle(CLINIC, "m-1"),
        lambda: messaging.settle(CLINIC, "m-1"),  # a repeat
        lambda: messaging.void(CLINIC, "m-2"),
        lambda: webhook.apply_whatsapp_statuses(parse_status_notifications(delivered)),
        lambda: messaging.charge(CLINIC, "1.00", "sms-1"),
        lambda: messaging.charge(CLINIC, "1.00", "sms-1"),  # a repeat
        lambda: scenario.operator.expire_holds(),  # nothing due
        lambda: scenario.clinic.wallet(),
        lambda: scenario.clinic.transactions(),
        lambda: scenario.clinic.invoices(),
        lambda: scenario.clinic.topup_requests(),
        lambda: scenario.clinic.holds(),
        lambda: scenario.clinic.settings(),
        lambda: scenario.clinic.alerts(),
        lambda: scenario.clinic.quote("marketing", [USA]),
        lambda: scenario.clinic.my_audit(),
        lambda: scenario.operator.adjustments(CLINIC),
        lambda: scenario.operator.webhook_events(),
        lambda: scenario.operator.audit(),
    ]
    for step in steps:
        scenario.tick()
        await step()

    assert await trail(scenario) == before
    assert (await scenario.operator.holds(CLINIC, message_id="m-3")).items[0].status == "settled"


async def test_a_refused_command_writes_no_row(scenario) -> None:
    completed = await scenario.completed("40.00")
    proposal_free = await scenario.pending()
    before = await trail(scenario)
    refusals = [
        (InvalidStateError, lambda: scenario.operator.reject_topup(completed.id, "too late")),
        (ForbiddenError, lambda: scenario.clinic.approve_topup(proposal_free.id)),
        ((ForbiddenError, NotFoundError), lambda: scenario.as_(OTHER, VIEW).cancel_topup(proposal_free.id)),
        (InsufficientFundsError, lambda: scenario.operator.adjust(CLINIC, "-40.01", "correction", "adj-1")),
        (ValidationError, lambda: scenario.operator.reverse_payment(completed.invoice_id, "")),
        (ValidationError, lambda: scenario.operator.set_settings("-1", CLINIC)),
        (ForbiddenError, lambda: scenario.clinic.freeze(CLINIC, "me")),
    ]
    for error, refused in refusals:
        scenario.tick()
        with pytest.raises(error):
            await refused()

    assert await trail(scenario) == before


async def test_the_row_rolls_back_with_its_change(scenario) -> None:
    request = await scenario.pending()
    invoice = await _paid_invoice(scenario)
    before = await trail(scenario)

    async def crash(uow: object, result: object) -> None:
        raise RuntimeError("crash before the commit")

    for handler, cmd in ((approve_topup, ApproveTopup(request.id)), (reverse_payment, ReversePayment(invoice.id, "x"))):
        with pytest.raises(RuntimeError):
            await scenario.service.execute(handler, cmd, scenario.operator.caller, before_commit=crash)

    assert await trail(scenario) == before
    assert (await scenario.operator.topup_request(request.id)).status == "pending"


async def test_an_idempotent_repeat_writes_no_row(scenario) -> None:
    await scenario.operator.adjust(CLINIC, "5.00", "promised credit", "adj-1")
    await scenario.operator.map_whatsapp_number(NUMBER, CLINIC)
    before = await trail(scenario)

    scenario.tick()
    await scenario.operator.adjust(CLINIC, "5.00", "promised credit", "adj-1")
    await scenario.operator.map_whatsapp_number(NUMBER, CLINIC)

    assert await trail(scenario) == before


# The service's own rows --------------------------------------------------------------------------------------------


async def test_a_sweep_writes_one_row_per_tenant_it_changed(scenario, messaging) -> None:
    await scenario.fund(CLINIC, "10.00")
    await scenario.fund(OTHER, "10.00")
    for tenant_id, message_id in [(CLINIC, "a-1"), (CLINIC, "a-2"), (OTHER, "b-1")]:
        scenario.tick()
        await messaging.hold(tenant_id, message_id, "marketing", USA, expires_in_seconds=60)
    await messaging.hold(CLINIC, "a-long", "marketing", USA)
    scenario.clock.advance(timedelta(seconds=61))

    swept, rows = await written_by(scenario, lambda: scenario.operator.expire_holds())

    assert swept.expired == 3
    sweeper = Actor(ActorKind.SYSTEM, "sweeper", None)
    assert sorted((r.tenant_id, r.actor, r.action, r.target, dict(r.details)) for r in rows) == [
        (CLINIC, sweeper, "expire_holds", Target("wallet", CLINIC), {"count": 2}),
        (OTHER, sweeper, "expire_holds", Target("wallet", OTHER), {"count": 1}),
    ]
    _, again = await written_by(scenario, lambda: scenario.operator.expire_holds())
    assert again == []  # a sweep that changed nothing writes nothing


async def test_an_automatic_top_up_request_is_the_service_s_row(scenario) -> None:
    await scenario.fund(CLINIC, "30.00")
    auto = {"enabled": True, "threshold": "20.00", "target": "100.00", "monthly_cap": "1000.00"}
    await scenario.operator.set_settings("0", CLINIC, auto_topup=auto)

    _, rows = await written_by(scenario, lambda: scenario.operator.charge(CLINIC, "15.00", "sms-1"))

    [request] = [r for r in (await scenario.operator.topup_requests(CLINIC)).items if r.requested_by == AUTO_REQUESTER]
    [row] = rows
    assert (row.action, row.actor, row.target, row.tenant_id) == (
        "auto_topup_request",
        Actor(ActorKind.SYSTEM, "auto_topup", None),
        Target("topup_request", str(request.id)),
        CLINIC,
    )
    assert d(row.details["amount"]) == d("85.00")


async def test_a_low_balance_alert_is_the_service_s_row(scenario, messaging) -> None:
    await scenario.fund(CLINIC, "10.00")
    await scenario.operator.set_settings("0", CLINIC, low_balance_levels=["8.50"])
    await messaging.hold(CLINIC, "m-1", "marketing", USA)  # 9.00 available: above the level

    _, rows = await written_by(scenario, lambda: messaging.hold(CLINIC, "m-2", "marketing", USA))  # 8.00

    [row] = rows
    [alert] = (await scenario.operator.alerts(CLINIC)).items
    assert (row.action, row.actor, row.target, row.tenant_id) == (
        "low_balance_alert",
        Actor(ActorKind.SYSTEM, "alerts", None),
        Target("wallet", CLINIC),
        CLINIC,
    )
    assert (row.details["alert_id"], d(row.details["level"]), d(row.details["available"])) == (
        str(alert.id),
        d("8.50"),
        d("8.00"),
    )


# Reading the trail --------------------------------------------------------------------------------------------------


@attrs.frozen
class History:
    first_day: date
    second_day: date
    clinic_request: UUID
    other_request: UUID


@pytest.fixture
async def history(scenario) -> History:
    """Day 1: clinic-a asks, operator-1 approves. Day 2: clinic-b asks, operator-2 rejects, operator-1 freezes
    clinic-b, and a default card (a platform row)."""
    first_day = scenario.clock.now().date()
    clinic_request = await scenario.clinic.request_topup("10.00")
    scenario.tick()
    await scenario.operator.approve_topup(clinic_request.id)
    scenario.clock.advance(timedelta(days=1))
    other_request = await scenario.other_clinic.request_topup("20.00")
    scenario.tick()
    await _operator_2(scenario).reject_topup(other_request.id, "not now")
    scenario.tick()
    await scenario.operator.freeze(OTHER, "review")
    scenario.tick()
    await scenario.operator.create_rate_card("Default", STARTED, MARKETS, RATES)
    return History(first_day, first_day + timedelta(days=1), clinic_request.id, other_request.id)


def summary(rows: list[AuditEntry]) -> list[tuple[str | None, str | None, str]]:
    return [(row.tenant_id, row.actor.sub, row.action) for row in rows]


async def test_the_trail_is_newest_first(scenario, history) -> None:
    rows = await trail(scenario)

    assert summary(rows) == [
        (None, "operator-1", "create_rate_card"),
        (OTHER, "operator-1", "freeze"),
        (OTHER, "operator-2", "reject_topup"),
        (OTHER, "other-user", "request_topup"),
        (CLINIC, "operator-1", "approve_topup"),
        (CLINIC, "clinic-user", "request_topup"),
    ]
    assert [row.at for row in rows] == sorted((row.at for row in rows), reverse=True)
    page = await scenario.operator.audit(page=2, page_size=4)
    assert (summary(list(page.items)), page.total) == (summary(rows[4:]), 6)


async def test_the_trail_filters_by_tenant_actor_action_target_and_days(scenario, history) -> None:
    assert summary(await trail(scenario, tenant_id=CLINIC)) == [
        (CLINIC, "operator-1", "approve_topup"),
        (CLINIC, "clinic-user", "request_topup"),
    ]
    assert summary(await trail(scenario, actor="operator-1")) == [
        (None, "operator-1", "create_rate_card"),
        (OTHER, "operator-1", "freeze"),
        (CLINIC, "operator-1", "approve_topup"),
    ]
    assert summary(await trail(scenario, action="request_topup")) == [
        (OTHER, "other-user", "request_topup"),
        (CLINIC, "clinic-user", "request_topup"),
    ]
    assert summary(await trail(scenario, target_id=str(history.other_request))) == [
        (OTHER, "operator-2", "reject_topup"),
        (OTHER, "other-user", "request_topup"),
    ]
    assert summary(await trail(scenario, from_day=history.second_day)) == summary(await trail(scenario))[:4]
    assert summary(await trail(scenario, to_day=history.first_day)) == summary(await trail(scenario))[4:]
    assert summary(await trail(scenario, from_day=history.first_day, to_day=history.first_day)) == [
        (CLINIC, "operator-1", "approve_topup"),
        (CLINIC, "clinic-user", "request_topup"),
    ]
    assert summary(await trail(scenario, tenant_id=OTHER, actor="operator-1", action="freeze")) == [
        (OTHER, "operator-1", "freeze")
    ]
    assert await trail(scenario, tenant_id=CLINIC, action="freeze") == []
    with pytest.raises(ValidationError):
        await scenario.operator.audit(from_day=history.second_day, to_day=history.first_day)


async def test_a_clinic_sees_only_its_own_rows_without_addresses_or_operator_names(scenario, history) -> None:
    with context.bound(request_id="req-1", ip="203.0.113.9"):
        scenario.tick()
        await scenario.operator.set_billing_contact("accounts@clinic-a.test", tenant_id=CLINIC)

    page = await scenario.clinic.my_audit(page_size=100)

    root_user = Actor(ActorKind.USER, None, ROOT)
    assert [(row.tenant_id, row.actor, row.action) for row in page.items] == [
        (CLINIC, root_user, "set_billing_contact"),
        (CLINIC, root_user, "approve_topup"),
        (CLINIC, CLINIC_USER, "request_topup"),
    ]
    assert page.total == 3
    assert [row.ip for row in page.items] == [None, None, None]
    assert page.items[0].request_id == "req-1"
    [as_operators_see_it] = await trail(scenario, action="set_billing_contact")
    assert (as_operators_see_it.actor, as_operators_see_it.ip) == (OPERATOR, "203.0.113.9")


async def test_a_clinic_cannot_find_an_operator_by_name(scenario, history) -> None:
    assert list((await scenario.clinic.my_audit(actor="operator-1")).items) == []
    assert [row.action for row in (await scenario.clinic.my_audit(actor="clinic-user")).items] == ["request_topup"]
    assert [row.action for row in (await scenario.other_clinic.my_audit(action="freeze")).items] == ["freeze"]
    assert [row.action for row in (await scenario.clinic.my_audit(target_id=str(history.clinic_request))).items] == [
        "approve_topup",
        "request_topup",
    ]
    assert list((await scenario.clinic.my_audit(target_id=str(history.other_request))).items) == []


async def test_a_clinic_sees_the_sweeps_of_its_own_wallet(scenario, messaging) -> None:
    await scenario.fund(CLINIC, "10.00")
    await scenario.fund(OTHER, "10.00")
    for tenant_id in (CLINIC, OTHER):
        await messaging.hold(tenant_id, f"{tenant_id}-m", "marketing", USA, expires_in_seconds=60)
    scenario.clock.advance(timedelta(seconds=61))
    await scenario.operator.expire_holds()

    [row] = (await scenario.clinic.my_audit(action="expire_holds")).items

    assert (row.tenant_id, row.actor, dict(row.details)) == (
        CLINIC,
        Actor(ActorKind.SYSTEM, "sweeper", None),
        {"count": 1},
    )


async def test_only_the_platform_s_viewers_read_the_whole_trail(scenario, history) -> None:
    for caller in (scenario.clinic, scenario.as_(CLINIC, VIEW, MANAGE), scenario.as_(ROOT, MANAGE)):
        with pytest.raises(ForbiddenError) as caught:
            await caller.audit()
        assert caught.value.code == "forbidden"
    with pytest.raises(ForbiddenError):
        await scenario.as_(CLINIC, MANAGE).my_audit()
    assert (await scenario.as_(ROOT, VIEW, user_id="auditor").audit()).total == 6


# Details without secrets (billing.domain.audit.redacted) ---------------------------------------------------------


def test_secrets_are_dropped_at_any_depth() -> None:
    details = redacted(
        {
            "name": "Card",
            "access_token": "EAAG…",
            "password": "hunter2",
            "client_secret": "s3",
            "X-Hub-Signature-256": "sha256=ab",
            "Authorization": "Bearer x",
            "nested": {"refresh_token": "r", "kept": 1, "items": [{"app_secret": "a", "id": "i-1"}]},
        }
    )

    assert details == {"name": "Card", "nested": {"kept": 1, "items": [{"id": "i-1"}]}}


def test_phone_numbers_and_bsuids_are_masked_as_quotes_mask_them() -> None:
    details = redacted(
        {
            "recipient": USA,
            "recipients": [USA, "+919876543210"],
            "phone": "+44 20 7946 0958",
            "bsuid": "US.13491208655302741918",
            "user_id": "DE.ENT.11815799212886844830",
            "phone_number_id": NUMBER,
        }
    )

    assert details == {
        "recipient": mask_recipient(USA),
        "recipients": [mask_recipient(USA), mask_recipient("+919876543210")],
        "phone": mask_recipient("+44 20 7946 0958"),
        "bsuid": "US.…1918",  # a BSUID as quotes show it (contract v3 §16): its prefix and last 4 characters
        "user_id": "DE.…4830",
        "phone_number_id": NUMBER,  # Meta's id of a business number, not a person's
    }
    assert details["recipient"] == "…2671"
    assert redacted({"recipient": "…2671"}) == {"recipient": "…2671"}  # masked once, not twice
    assert redacted({"recipient": "US.…1918"}) == {"recipient": "US.…1918"}
    assert redacted({"recipient": "US.13491208655302741918"}) == {"recipient": "US.…1918"}
    assert redacted({"recipient": "…98765 43210"}) == {"recipient": "…3210"}  # an ellipsis hides nothing by itself


@pytest.mark.parametrize("raw", ["date,messages\n2026-11-01,12\n" * 50, b"\x00\x01binary"])
def test_bulk_input_is_kept_as_its_sha256_and_size(raw: str | bytes) -> None:
    data = raw.encode() if isinstance(raw, str) else raw

    details = redacted({"data": raw, "note": "November"})

    assert details == {"data": {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}, "note": "November"}


def test_a_command_s_values_become_plain_json() -> None:
    @attrs.frozen
    class Command:
        invoice_id: UUID
        amount: Money
        at: datetime
        day: date
        token: str
        items: tuple[str, ...]

    invoice_id = UUID("00000000-0000-0000-0000-000000000001")
    cmd = Command(
        invoice_id, Money(Decimal("12.50"), "USD"), datetime(2026, 11, 1, tzinfo=UTC), date(2026, 11, 2), "t", ("a",)
    )

    details = redacted(cmd)

    assert details.keys() == {"invoice_id", "amount", "at", "day", "items"}
    assert (details["invoice_id"], d(details["amount"]), details["at"], details["day"], details["items"]) == (
        str(invoice_id),
        d("12.50"),
        "2026-11-01T00:00:00+00:00",
        "2026-11-02",
        ["a"],
    )
