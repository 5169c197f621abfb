"""The clinic's protections (contract v2 §10) through the in-process facade on every backend: the settings' levels and
automatic top-up, low-balance alerts and their email, the runway, and automatic top-up requests. Each test fails if
the rule it names is removed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from billing.application.caller import MANAGE, VIEW
from billing.application.pagination import PageRequest
from billing.domain.errors import ForbiddenError, ValidationError
from billing.domain.events import LowBalance, TopupRequested
from billing.domain.protections import AUTO_REQUESTER
from billing.domain.topup import TopupStatus
from billing.domain.whatsapp import parse_status_notifications

CLINIC = "clinic-a"
OTHER = "clinic-b"
USA = "+14155552671"
NUMBER = "106540352242922"
STARTED = datetime(2026, 1, 1, tzinfo=UTC)
MARKETS = {"US": "North America", "*": "Other"}
RATES: list[dict[str, object]] = [
    {"market": "North America", "category": "marketing", "unit_price": "1.0000"},
    {"market": "North America", "category": "utility", "unit_price": "2.0000"},
    {"market": "North America", "category": "service", "unit_price": "0"},
]
AUTO_OFF = {"enabled": False, "threshold": None, "target": None, "monthly_cap": None}


@pytest.fixture
async def messaging(scenario):
    """A card in force (marketing 1.00, utility 2.00 to the US), a billing contact; the messaging module."""
    scenario.tick()
    await scenario.operator.create_rate_card("Card", STARTED, MARKETS, RATES)
    await scenario.operator.set_billing_contact("billing@clinic-a.test", tenant_id=CLINIC)
    return scenario.service.as_platform("messaging")


async def funded(scenario, amount: str, tenant_id: str = CLINIC) -> None:
    scenario.tick()
    await scenario.operator.adjust(tenant_id, amount, "funding for the test")


async def settings(scenario, *levels: str, **auto: object):
    scenario.tick()
    return await scenario.operator.set_settings("0", CLINIC, low_balance_levels=list(levels), auto_topup=auto or None)


async def hold(scenario, messaging, message_id: str, category: str = "marketing"):
    scenario.tick()
    return (await messaging.hold(CLINIC, message_id, category, USA)).hold


async def alerts(scenario, tenant_id: str = CLINIC) -> list[tuple[str, str]]:
    page = await scenario.operator.alerts(tenant_id)
    return [(str(alert.level), str(alert.available)) for alert in reversed(page.items)]  # oldest first


async def emails(service, kind: str) -> list[object]:
    async with service.uow_factory() as uow:
        queued = (await uow.outbox.list(None, PageRequest(1, 100))).items
    return [entry.message for entry in queued if entry.message.kind == kind]


async def automatic_requests(scenario) -> list[tuple[str, str]]:
    page = await scenario.operator.topup_requests(page_size=100)
    return [(str(r.amount), str(r.status)) for r in reversed(page.items) if r.requested_by == AUTO_REQUESTER]


def recorder(scenario, *types):
    heard: list[object] = []

    async def keep(event: object) -> None:
        heard.append(event)

    for event_type in types:
        scenario.service.subscribe(event_type, keep)
    return heard


# Settings -----------------------------------------------------------------------------------------------------


async def test_the_defaults_before_any_put(scenario) -> None:
    stored = await scenario.clinic.settings()

    assert (str(stored.marketing_reserve), stored.low_balance_levels) == ("0.00", ())
    auto = stored.auto_topup
    assert (auto.enabled, auto.threshold, auto.target, auto.monthly_cap) == (False, None, None, None)


async def test_levels_and_the_automatic_top_up_round_trip(scenario) -> None:
    manager = scenario.as_(CLINIC, VIEW, MANAGE)
    await manager.set_settings(
        "5.00",
        low_balance_levels=["50.00", "10", "25.5"],
        auto_topup={"enabled": True, "threshold": "20.00", "target": "100.00", "monthly_cap": "300.00"},
    )

    stored = await scenario.clinic.settings()

    assert [str(level) for level in stored.low_balance_levels] == ["50.00", "10.00", "25.50"]  # as given
    auto = stored.auto_topup
    assert (auto.enabled, str(auto.threshold), str(auto.target), str(auto.monthly_cap)) == (
        True,
        "20.00",
        "100.00",
        "300.00",
    )


async def test_a_put_replaces_the_whole(scenario) -> None:
    await settings(scenario, "50.00", enabled=True, threshold="20.00", target="100.00", monthly_cap="300.00")
    await scenario.operator.set_settings("1.00", CLINIC)

    stored = await scenario.clinic.settings()

    assert (str(stored.marketing_reserve), stored.low_balance_levels, stored.auto_topup.enabled) == ("1.00", (), False)


@pytest.mark.parametrize(
    ("levels", "field"),
    [
        (["1", "2", "3", "4", "5", "6"], "low_balance_levels"),
        (["10.00", "10"], "low_balance_levels[1]"),
        (["0"], "low_balance_levels[0]"),
        (["-5"], "low_balance_levels[0]"),
        (["1.001"], "low_balance_levels[0]"),
        ([None], "low_balance_levels[0]"),
    ],
)
async def test_levels_are_at_most_five_distinct_and_positive(scenario, levels, field) -> None:
    with pytest.raises(ValidationError) as refused:
        await scenario.operator.set_settings("0", CLINIC, low_balance_levels=levels)

    assert field in [error.field for error in refused.value.errors]
    assert (await scenario.clinic.settings()).low_balance_levels == ()  # nothing saved


@pytest.mark.parametrize(
    ("auto", "fields"),
    [
        ({"enabled": True}, {"auto_topup.threshold", "auto_topup.target", "auto_topup.monthly_cap"}),
        ({"enabled": True, "threshold": "50", "target": "50", "monthly_cap": "100"}, {"auto_topup.target"}),
        ({"enabled": True, "threshold": "50", "target": "50.50", "monthly_cap": "100"}, {"auto_topup.target"}),
        ({"enabled": True, "threshold": "10", "target": "50", "monthly_cap": "0.50"}, {"auto_topup.monthly_cap"}),
        ({"enabled": True, "threshold": "-1", "target": "50", "monthly_cap": "100"}, {"auto_topup.threshold"}),
        ({"enabled": "yes", "threshold": "1", "target": "50", "monthly_cap": "100"}, {"auto_topup.enabled"}),
        ({"enabled": True, "threshold": "1.005", "target": "50", "monthly_cap": "100"}, {"auto_topup.threshold"}),
    ],
)
async def test_an_enabled_automatic_top_up_needs_target_above_threshold_and_the_minimum(scenario, auto, fields) -> None:
    with pytest.raises(ValidationError) as refused:
        await scenario.operator.set_settings("0", CLINIC, auto_topup=auto)

    assert {error.field for error in refused.value.errors} == fields
    assert (await scenario.clinic.settings()).auto_topup.enabled is False


async def test_every_problem_of_a_put_is_listed_at_once(scenario) -> None:
    with pytest.raises(ValidationError) as refused:
        await scenario.operator.set_settings(
            "-1", CLINIC, low_balance_levels=["0"], auto_topup={"enabled": True, "threshold": "x"}
        )

    fields = {error.field for error in refused.value.errors}
    assert {"marketing_reserve", "low_balance_levels[0]", "auto_topup.threshold"} <= fields


async def test_a_disabled_automatic_top_up_keeps_its_amounts(scenario) -> None:
    await settings(scenario, enabled=False, threshold="20.00", target="100.00", monthly_cap="300.00")

    auto = (await scenario.clinic.settings()).auto_topup

    assert (auto.enabled, str(auto.threshold), str(auto.target)) == (False, "20.00", "100.00")


async def test_settings_need_manage_on_the_own_tenant_or_root(scenario) -> None:
    with pytest.raises(ForbiddenError):
        await scenario.clinic.set_settings("0", low_balance_levels=["10"])  # View only
    with pytest.raises(ForbiddenError):
        await scenario.as_(OTHER, VIEW, MANAGE).set_settings("0", CLINIC, low_balance_levels=["10"])
    with pytest.raises(ForbiddenError):
        await scenario.as_(OTHER, VIEW).settings(CLINIC)

    assert (await scenario.clinic.settings()).low_balance_levels == ()


# Low-balance alerts -------------------------------------------------------------------------------------------


async def test_a_hold_crossing_a_level_records_one_alert_and_queues_one_email(scenario, service, messaging) -> None:
    heard = recorder(scenario, LowBalance)
    await funded(scenario, "12.00")
    await settings(scenario, "10.00")

    await hold(scenario, messaging, "m1")  # 12 -> 11: above the level
    await hold(scenario, messaging, "m2")  # 11 -> 10: not below
    assert await alerts(scenario) == []
    await hold(scenario, messaging, "m3")  # 10 -> 9: crossed

    assert await alerts(scenario) == [("10.00", "9.00")]
    assert [(str(e.level), str(e.available)) for e in heard] == [("10.00", "9.00")]
    [email] = await emails(service, "low_balance")
    assert email.recipient == "billing@clinic-a.test"
    assert "9.00 USD available" in email.subject
    assert "10.00" in email.subject
    assert "Runway" in email.text
    assert "top up" in email.text


async def test_moves_further_below_a_level_do_not_alert_again(scenario, service, messaging) -> None:
    await funded(scenario, "11.00")
    await settings(scenario, "10.00")

    for message_id in ("m1", "m2", "m3"):
        await hold(scenario, messaging, message_id)  # 11 -> 10 -> 9 -> 8: one crossing

    assert await alerts(scenario) == [("10.00", "9.00")]
    assert len(await emails(service, "low_balance")) == 1


async def test_the_level_re_arms_once_available_is_back_at_or_above_it(scenario, service, messaging) -> None:
    await funded(scenario, "10.00")
    await settings(scenario, "10.00")
    await hold(scenario, messaging, "m1")  # 10 -> 9: crossed
    scenario.tick()
    await messaging.void(CLINIC, "m1")  # 9 -> 10: re-armed

    await hold(scenario, messaging, "m2")  # 10 -> 9: crossed again

    assert await alerts(scenario) == [("10.00", "9.00"), ("10.00", "9.00")]
    assert len(await emails(service, "low_balance")) == 2


async def test_one_move_crossing_several_levels_alerts_each(scenario, messaging) -> None:
    await funded(scenario, "10.00")
    await settings(scenario, "9.00", "5.00", "2.00")
    scenario.tick()

    await messaging.hold_batch(
        CLINIC, [{"message_id": f"m{i}", "category": "marketing", "recipient": USA} for i in range(6)]
    )  # 10 -> 4

    assert sorted(await alerts(scenario)) == [("5.00", "4.00"), ("9.00", "4.00")]


async def test_a_direct_charge_crossing_a_level_alerts(scenario, messaging) -> None:
    await funded(scenario, "10.00")
    await settings(scenario, "5.00")
    scenario.tick()

    await scenario.operator.charge(CLINIC, "5.0001", "sms-1")

    assert await alerts(scenario) == [("5.00", "4.9999")]


async def test_a_settle_above_its_hold_crossing_a_level_alerts_and_one_at_its_price_does_not(
    scenario, messaging
) -> None:
    await funded(scenario, "11.00")
    await settings(scenario, "9.50")
    await hold(scenario, messaging, "m1")  # marketing 1.00: available 10
    await hold(scenario, messaging, "m2")  # available 9: crossed once
    scenario.tick()
    await messaging.settle(CLINIC, "m1")  # at its price: available stays 9
    assert await alerts(scenario) == [("9.50", "9.00")]

    await funded(scenario, "1.00")  # available 10: re-armed
    scenario.tick()
    await messaging.settle(CLINIC, "m2", category="utility")  # 2.00 for a 1.00 hold: available 10 -> 9

    assert await alerts(scenario) == [("9.50", "9.00"), ("9.50", "9.00")]


async def test_a_webhook_charge_without_a_hold_crossing_a_level_alerts(scenario, messaging) -> None:
    await funded(scenario, "10.00")
    await settings(scenario, "9.00")
    await scenario.operator.map_whatsapp_number(NUMBER, CLINIC)
    notice = {
        "id": "wamid.unheld",
        "status": "delivered",
        "timestamp": str(int(scenario.clock.now().timestamp())),
        "recipient_id": USA.lstrip("+"),
        "pricing": {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"},
    }
    change = {"field": "messages", "value": {"metadata": {"phone_number_id": NUMBER}, "statuses": [notice]}}
    body = {"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [change]}]}
    scenario.tick()

    await scenario.service.as_platform("webhook").apply_whatsapp_statuses(parse_status_notifications(body))

    assert await alerts(scenario) == [("9.00", "8.00")]


async def test_moves_that_raise_available_and_free_holds_never_alert(scenario, messaging) -> None:
    await funded(scenario, "5.00")
    await settings(scenario, "10.00")  # already below: only a crossing alerts

    await hold(scenario, messaging, "free", "service")
    await funded(scenario, "1.00")

    assert await alerts(scenario) == []


async def test_alerts_are_the_tenants_own(scenario, messaging) -> None:
    await funded(scenario, "10.00")
    await settings(scenario, "10.00")
    await hold(scenario, messaging, "m1")

    assert len((await scenario.clinic.alerts()).items) == 1
    assert (await scenario.as_(OTHER, VIEW).alerts()).total == 0
    with pytest.raises(ForbiddenError):
        await scenario.as_(OTHER, VIEW).alerts(CLINIC)


# Runway -------------------------------------------------------------------------------------------------------


async def test_no_spend_means_no_runway(scenario) -> None:
    await funded(scenario, "10.00")

    wallet = await scenario.clinic.wallet()

    assert (str(wallet.runway.daily_spend), wallet.runway.days) == ("0.00", None)


async def test_daily_spend_is_the_last_14_days_charges_less_refunds_over_14(scenario, messaging) -> None:
    await funded(scenario, "100.00")
    await hold(scenario, messaging, "m1", "utility")
    scenario.tick()
    await messaging.settle(CLINIC, "m1")  # 2.00
    scenario.tick()
    await scenario.operator.charge(CLINIC, "5.00", "sms-1")  # 7.00
    scenario.tick()
    await scenario.operator.refund(CLINIC, "sms-1", "1.00")  # 6.00

    wallet = await scenario.clinic.wallet()

    assert str(wallet.available) == "94.00"
    assert str(wallet.runway.daily_spend) == "0.4286"  # 6 / 14, half-up to 4 digits
    assert wallet.runway.days == Decimal("219.3")  # 94 / 0.4286 = 219.31..., rounded down


async def test_spend_older_than_14_days_leaves_the_window(scenario) -> None:
    await funded(scenario, "100.00")
    scenario.tick()
    await scenario.operator.charge(CLINIC, "14.00", "old")
    scenario.clock.advance(timedelta(days=15))
    await scenario.operator.charge(CLINIC, "7.00", "new")

    runway = (await scenario.clinic.wallet()).runway

    assert (str(runway.daily_spend), runway.days) == ("0.50", Decimal("158.0"))  # 79 / 0.5


async def test_freezing_answers_the_wallet_with_its_runway(scenario) -> None:
    await funded(scenario, "100.00")
    scenario.tick()
    await scenario.operator.charge(CLINIC, "14.00", "sms")

    frozen = await scenario.operator.freeze(CLINIC, "audit")

    assert str(frozen.runway.daily_spend) == "1.00"


# Automatic top-up requests ------------------------------------------------------------------------------------


async def test_falling_below_the_threshold_requests_target_minus_available(scenario, service, messaging) -> None:
    heard = recorder(scenario, TopupRequested)
    await funded(scenario, "20.5")
    await settings(scenario, enabled=True, threshold="20.00", target="100.00", monthly_cap="500.00")

    await hold(scenario, messaging, "m1")  # 20.50 -> 19.50

    assert await automatic_requests(scenario) == [("80.50", "pending")]
    assert [(e.requested_by, str(e.amount)) for e in heard] == [(AUTO_REQUESTER, "80.50")]
    [email] = await emails(service, "automatic_topup")
    assert (email.recipient, "80.50" in email.subject) == ("billing@clinic-a.test", True)


async def test_the_amount_is_rounded_up_to_the_minor_unit(scenario) -> None:
    await funded(scenario, "20.00")
    await settings(scenario, enabled=True, threshold="20.00", target="100.00", monthly_cap="500.00")
    scenario.tick()

    await scenario.operator.charge(CLINIC, "0.0001", "sms")  # available 19.9999

    assert await automatic_requests(scenario) == [("80.01", "pending")]


async def test_no_request_while_one_is_pending_or_invoiced(scenario, messaging) -> None:
    await funded(scenario, "20.50")
    await settings(scenario, enabled=True, threshold="20.00", target="100.00", monthly_cap="500.00")
    manual = await scenario.pending("10.00")  # the clinic's own request is open

    await hold(scenario, messaging, "m1")  # 20.50 -> 19.50, below the threshold
    assert await automatic_requests(scenario) == []

    scenario.tick()
    await scenario.operator.reject_topup(manual.id, "not now")
    await hold(scenario, messaging, "m2")  # 18.50: none open now
    [(amount, _status)] = await automatic_requests(scenario)
    scenario.tick()
    await scenario.operator.approve_topup((await scenario.operator.topup_requests(status="pending")).items[0].id)
    await hold(scenario, messaging, "m3")  # invoiced counts as open

    assert await automatic_requests(scenario) == [(amount, "invoiced")]


async def test_the_monthly_cap_counts_every_automatic_request_even_rejected(scenario, messaging) -> None:
    await funded(scenario, "21.00")
    await settings(scenario, enabled=True, threshold="20.00", target="100.00", monthly_cap="150.00")
    await hold(scenario, messaging, "m1")  # available 20 -> not below
    await hold(scenario, messaging, "m2")  # 19: asks 81.00
    first = (await scenario.operator.topup_requests(status="pending")).items[0]
    scenario.tick()
    await scenario.operator.reject_topup(first.id, "no")

    await hold(scenario, messaging, "m3")  # 18: wants 82.00, the cap leaves 69.00
    second = (await scenario.operator.topup_requests(status="pending")).items[0]
    scenario.tick()
    await scenario.operator.reject_topup(second.id, "no")
    await hold(scenario, messaging, "m4")  # the cap leaves 0: nothing

    assert await automatic_requests(scenario) == [("81.00", "rejected"), ("69.00", "rejected")]


async def test_a_new_month_starts_a_new_cap(scenario, messaging) -> None:
    scenario.clock.current = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)
    await funded(scenario, "21.00")
    await settings(scenario, enabled=True, threshold="20.00", target="100.00", monthly_cap="90.00")
    await hold(scenario, messaging, "m1")
    await hold(scenario, messaging, "m2")  # asks 81.00 in November
    scenario.tick()
    await scenario.operator.reject_topup((await scenario.operator.topup_requests(status="pending")).items[0].id, "no")
    await hold(scenario, messaging, "m3")  # wants 82.00; the cap leaves 9.00
    scenario.tick()
    await scenario.operator.reject_topup((await scenario.operator.topup_requests(status="pending")).items[0].id, "no")
    scenario.clock.current = datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC)

    await hold(scenario, messaging, "m4")

    assert await automatic_requests(scenario) == [("81.00", "rejected"), ("9.00", "rejected"), ("83.00", "pending")]


async def test_nothing_is_requested_when_the_cap_leaves_less_than_the_minimum(scenario, messaging) -> None:
    await funded(scenario, "21.00")
    await settings(scenario, enabled=True, threshold="20.00", target="100.00", monthly_cap="81.50")
    await hold(scenario, messaging, "m1")
    await hold(scenario, messaging, "m2")  # asks 81.00: 0.50 left
    scenario.tick()
    await scenario.operator.reject_topup((await scenario.operator.topup_requests(status="pending")).items[0].id, "no")

    await hold(scenario, messaging, "m3")

    assert await automatic_requests(scenario) == [("81.00", "rejected")]


async def test_the_amount_stays_within_the_top_up_bounds(scenario) -> None:
    await funded(scenario, "10.00")
    await settings(scenario, enabled=True, threshold="10.00", target="1500000.00", monthly_cap="2000000.00")
    scenario.tick()

    await scenario.operator.charge(CLINIC, "1.00", "sms")  # wants 1,499,991.00: the maximum is 1,000,000.00

    assert await automatic_requests(scenario) == [("1000000.00", "pending")]


async def test_a_disabled_automatic_top_up_requests_nothing(scenario, messaging) -> None:
    await funded(scenario, "20.5")
    await settings(scenario, enabled=False, threshold="20.00", target="100.00", monthly_cap="500.00")

    await hold(scenario, messaging, "m1")

    assert await automatic_requests(scenario) == []


async def test_operators_approve_an_automatic_request_as_any_other(scenario, messaging) -> None:
    await funded(scenario, "20.5")
    await settings(scenario, enabled=True, threshold="20.00", target="100.00", monthly_cap="500.00")
    await hold(scenario, messaging, "m1")
    request = (await scenario.operator.topup_requests(status="pending")).items[0]
    scenario.tick()
    approved = await scenario.operator.approve_topup(request.id)
    scenario.tick()
    assert approved.invoice_id is not None
    await scenario.operator.mark_invoice_paid(approved.invoice_id, "bank-1")

    wallet = await scenario.clinic.wallet()

    assert (str(wallet.available), (await scenario.operator.topup_request(request.id)).status) == (
        "100.00",
        TopupStatus.COMPLETED,
    )
