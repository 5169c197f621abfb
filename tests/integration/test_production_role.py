"""The documented production role: every write path of the service runs under its GRANTs (parsed from
docs/operations.md), and the role can neither rewrite nor lock the ledger.

Each path is a small async function registered with `@write_path(...)`, naming the `BillingSession`
entry points it calls (a path outside the facade names none). A new write path is one more function;
a new entry point of `BillingSession` fails the guard below until a path covers it.
"""

from __future__ import annotations

import inspect
import json
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import attrs
import psycopg
import pytest
from psycopg import sql
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import NullPool

from billing.adapters.memory.clock import ManualClock
from billing.adapters.phone import PhonenumbersCountry
from billing.adapters.sqlalchemy.audit import audit_wallets
from billing.adapters.sqlalchemy.engine import create_engine
from billing.adapters.sqlalchemy.readiness import SqlAlchemyReadiness
from billing.adapters.sqlalchemy.tables import idempotency_keys, outbox_messages
from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.dispatcher import OutboxDispatcher
from billing.application.handlers.invoices import SubscriptionLine
from billing.application.handlers.wallets import ChargeResult, ChargeWallet, charge_wallet
from billing.application.outbox import EmailMessage, OutboxStatus
from billing.application.ports import MailDeliveryError, UndeliverableMessageError
from billing.application.run_once import Answer, ExpiredKeyPurger, IdempotencyKey, RunOnce
from billing.application.runtime import RandomIds, Runtime
from billing.application.service import BillingService, BillingSession
from billing.application.settings import BillingSettings
from billing.container import EVENT_HANDLERS
from billing.domain.adjustment import AdjustmentStatus
from billing.domain.errors import BillingError, InvalidStateError, LaneClosedError, WalletFrozenError
from billing.domain.hold import HoldStatus
from billing.domain.invoice import Invoice, InvoiceStatus
from billing.domain.ledger import EntryKind
from billing.domain.pricing import Category, RateCard
from billing.domain.topup import TopupStatus
from billing.domain.wallet import WalletStatus
from billing.domain.whatsapp import parse_status_notifications
from billing.entrypoints.http.idempotency import fingerprint

pytestmark = pytest.mark.postgres

OPERATIONS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"
CLINIC = "clinic-a"
KEY_TTL = timedelta(hours=24)
CHARGES = f"/api/v1/billing/wallets/{CLINIC}/charges"


def _documented_grants(role: str) -> list[str]:
    """The GRANTs of the documented role: the one ```sql block of docs/operations.md that creates it."""
    [block] = [b for b in re.findall(r"```sql\n(.*?)```", OPERATIONS.read_text(), re.DOTALL) if "CREATE ROLE" in b]
    statements = [s.strip() for s in re.sub(r"--[^\n]*", "", block).split(";") if s.strip()]
    grants = [s for s in statements if s.startswith("GRANT")]
    assert grants, "docs/operations.md shows no GRANTs"
    return [s.replace("billing_app", role) for s in grants]


@pytest.fixture
def app_role_url(database_url: str) -> Iterator[str]:
    """A login role holding exactly the documented GRANTs on this test's database (dropped after)."""
    role = f"billing_app_{uuid.uuid4().hex[:8]}"
    admin_url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        for grant in _documented_grants(role):
            admin.execute(grant)  # type: ignore[arg-type]
    yield make_url(admin_url).set(username=role).render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))  # its grants here
        admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
async def app_engine(app_role_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(app_role_url, poolclass=NullPool)
    yield engine
    await engine.dispose()


class RecordingSession:
    """A BillingSession that notes which entry points a path called."""

    def __init__(self, session: BillingSession, called: set[str]) -> None:
        self._session = session
        self._called = called

    def __getattr__(self, name: str) -> Any:
        self._called.add(name)
        return getattr(self._session, name)


class ScriptedMailer:
    """Raises the given errors for the first messages it is handed, then takes every one."""

    delivers = True

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.sent: list[EmailMessage] = []

    async def send(self, message: EmailMessage) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.sent.append(message)


@attrs.frozen
class RoleWorld:
    """The service wired as in production, but connecting as the production role."""

    engine: AsyncEngine
    url: str
    clock: ManualClock
    service: BillingService
    called: set[str] = attrs.field(factory=set)

    def _session(self, caller: Caller) -> BillingSession:
        return cast(BillingSession, RecordingSession(self.service.acting_as(caller), self.called))

    def clinic(self, tenant_id: str = CLINIC, email: str | None = None) -> BillingSession:
        return self._session(
            Caller(f"owner-of-{tenant_id}", tenant_id, {VIEW, MANAGE}, email or f"owner@{tenant_id}.test")
        )

    @property
    def operator_caller(self) -> Caller:
        return Caller("operator-1", self.service.runtime.settings.root_tenant, {VIEW, MANAGE})

    @property
    def operator(self) -> BillingSession:
        return self._session(self.operator_caller)

    async def issued_topup(self, amount: str, tenant_id: str = CLINIC) -> Invoice:
        request = await self.clinic(tenant_id).request_topup(amount)
        approved = await self.operator.approve_topup(request.id)
        assert approved.invoice_id is not None
        return await self.operator.invoice(approved.invoice_id)

    async def request_of(self, invoice: Invoice) -> TopupStatus:
        """The status of a top-up invoice's request."""
        assert invoice.topup_request_id is not None
        return (await self.clinic(invoice.tenant_id).topup_request(invoice.topup_request_id)).status

    async def funded(self, amount: str, tenant_id: str = CLINIC) -> None:
        invoice = await self.issued_topup(amount, tenant_id)
        await self.operator.mark_invoice_paid(invoice.id, f"bank-{invoice.number}")

    def dispatcher(self, mailer: ScriptedMailer, max_attempts: int = 8) -> OutboxDispatcher:
        """The outbox's dispatcher, as `billing serve` and `billing outbox run` build it."""
        return OutboxDispatcher(lambda: SqlAlchemyUnitOfWork(self.engine), mailer, self.clock, max_attempts)

    async def outbox(self) -> list[Any]:
        query = select(outbox_messages.c.kind, outbox_messages.c.status, outbox_messages.c.attempts)
        return await self._all(query.order_by(outbox_messages.c.created_at, outbox_messages.c.kind))

    async def stored_keys(self) -> list[tuple[str, int, int]]:
        """(key, status code, expiry in hours after now) of every stored key."""
        query = select(idempotency_keys.c.key, idempotency_keys.c.status_code, idempotency_keys.c.expires_at)
        rows = await self._all(query.order_by(idempotency_keys.c.key))
        return [
            (key, status, round((expires - self.clock.now()) / timedelta(hours=1))) for key, status, expires in rows
        ]

    async def _all(self, query: Any) -> list[Any]:
        async with self.engine.connect() as connection:
            return list((await connection.execute(query)).all())


@pytest.fixture
def world(app_engine: AsyncEngine, app_role_url: str) -> RoleWorld:
    clock = ManualClock()
    runtime = Runtime(clock, RandomIds(), BillingSettings(), countries=PhonenumbersCountry())
    service = BillingService(lambda: SqlAlchemyUnitOfWork(app_engine), runtime, EVENT_HANDLERS)
    return RoleWorld(app_engine, app_role_url, clock, service)


# The write paths -----------------------------------------------------------------------------------

PathRun = Callable[[RoleWorld], Awaitable[None]]


@attrs.frozen
class WritePath:
    name: str
    run: PathRun
    covers: frozenset[str]  # the BillingSession entry points it calls


PATHS: dict[str, WritePath] = {}


def write_path(*covers: str) -> Callable[[PathRun], PathRun]:
    def register(run: PathRun) -> PathRun:
        PATHS[run.__name__] = WritePath(run.__name__, run, frozenset(covers))
        return run

    return register


@write_path("request_topup")
async def request_topup(world: RoleWorld) -> None:
    request = await world.clinic().request_topup("40.00", note="March")
    assert request.status is TopupStatus.PENDING


@write_path("approve_topup")
async def approve_topup(world: RoleWorld) -> None:
    request = await world.clinic().request_topup("40.00")
    approved = await world.operator.approve_topup(request.id, note="Thanks!")
    assert approved.status is TopupStatus.INVOICED
    assert approved.invoice_id is not None
    assert [(kind, status) for kind, status, _ in await world.outbox()] == [("invoice_issued", "pending")]


@write_path("create_topup_invoice")
async def create_topup_invoice(world: RoleWorld) -> None:
    request = await world.clinic().request_topup("40.00")
    invoice = await world.operator.create_topup_invoice(request.id)
    assert invoice.status is InvoiceStatus.ISSUED


@write_path("reject_topup")
async def reject_topup(world: RoleWorld) -> None:
    request = await world.clinic().request_topup("40.00")
    rejected = await world.operator.reject_topup(request.id, "no budget this month")
    assert rejected.status is TopupStatus.REJECTED


@write_path("cancel_topup")
async def cancel_topup(world: RoleWorld) -> None:
    request = await world.clinic().request_topup("40.00")
    cancelled = await world.clinic().cancel_topup(request.id)
    assert cancelled.status is TopupStatus.CANCELLED


@write_path("mark_invoice_paid")
async def mark_topup_invoice_paid(world: RoleWorld) -> None:
    invoice = await world.issued_topup("40.00")
    paid = await world.operator.mark_invoice_paid(invoice.id, "bank-1")
    assert paid.status is InvoiceStatus.PAID
    assert await world.request_of(invoice) is TopupStatus.COMPLETED
    assert (await world.clinic().wallet()).balance.amount == Decimal("40.00")
    assert [kind for kind, _, _ in await world.outbox()] == ["invoice_issued", "payment_received"]


@write_path("mark_invoice_paid")
async def mark_subscription_invoice_paid(world: RoleWorld) -> None:
    invoice = await world.operator.create_subscription_invoice(CLINIC, "2026-11", [SubscriptionLine("Plan", "49.00")])
    paid = await world.operator.mark_invoice_paid(invoice.id, "bank-2")
    assert paid.status is InvoiceStatus.PAID


@write_path("void_invoice")
async def void_topup_invoice(world: RoleWorld) -> None:
    invoice = await world.issued_topup("40.00")
    voided = await world.operator.void_invoice(invoice.id, "sent to the wrong clinic")
    assert voided.status is InvoiceStatus.VOID
    assert await world.request_of(invoice) is TopupStatus.CANCELLED


@write_path("create_subscription_invoice")
async def issue_subscription_invoice(world: RoleWorld) -> None:
    await world.clinic().set_billing_contact("billing@clinic-a.test")
    lines = [SubscriptionLine("Plan", "49.00"), SubscriptionLine("Seats", "5.00", 3)]
    invoice = await world.operator.create_subscription_invoice(CLINIC, "2026-11", lines)
    assert invoice.status is InvoiceStatus.ISSUED
    assert len(invoice.lines) == 2
    assert [(kind, status) for kind, status, _ in await world.outbox()] == [("invoice_issued", "pending")]


@write_path("create_subscription_invoice", "issue_invoice")
async def issue_a_draft_invoice(world: RoleWorld) -> None:
    lines = [SubscriptionLine("Plan", "49.00")]
    draft = await world.operator.create_subscription_invoice(CLINIC, "2026-12", lines, issue=False)
    issued = await world.operator.issue_invoice(draft.id)
    assert issued.status is InvoiceStatus.ISSUED


@write_path("set_billing_contact")
async def set_billing_contact(world: RoleWorld) -> None:
    await world.clinic().set_billing_contact("billing@clinic-a.test", "Accounts")
    await world.operator.set_billing_contact("accounts@clinic-a.test", tenant_id=CLINIC)  # replaces it
    assert (await world.clinic().billing_contact()).email == "accounts@clinic-a.test"


@write_path("wallet", "balance")
async def open_a_wallet_by_reading_it(world: RoleWorld) -> None:
    assert (await world.clinic().wallet()).balance.amount == 0
    assert (await world.operator.balance(CLINIC)).amount == 0


@write_path("charge")
async def charge_and_its_repeat(world: RoleWorld) -> None:
    await world.funded("40.00")
    platform = world.operator
    first = await platform.charge(CLINIC, "1.50", "wamid.1", "WhatsApp message")
    again = await platform.charge(CLINIC, "1.50", "wamid.1")
    assert first.created
    assert not again.created
    assert again.entry.id == first.entry.id
    assert first.entry.balance_after.amount == Decimal("38.50")


@write_path("refund")
async def refund_partly_then_the_rest(world: RoleWorld) -> None:
    await world.funded("40.00")
    await world.operator.charge(CLINIC, "10.00", "wamid.1")
    partial = await world.operator.refund(CLINIC, "wamid.1", "4.00")
    rest = await world.operator.refund(CLINIC, "wamid.1")  # what is left of the charge
    assert (partial.amount.amount, rest.amount.amount) == (Decimal("4.00"), Decimal("6.00"))
    assert rest.balance_after.amount == Decimal("40.00")
    with pytest.raises(InvalidStateError):  # never more than was charged
        await world.operator.refund(CLINIC, "wamid.1", "0.01")


@write_path("adjust")
async def adjust_up_and_down(world: RoleWorld) -> None:
    await world.operator.adjust(CLINIC, "25.00", "goodwill credit")
    debit = await world.operator.adjust(CLINIC, "-5.00", "correction", reference_id="ticket-7")
    assert debit.status is AdjustmentStatus.APPLIED  # without four eyes, at once
    assert (await world.clinic().wallet()).balance.amount == Decimal("20.00")


@write_path("transactions", "topup_request", "topup_requests", "invoice", "invoices", "billing_contact")
async def reads(world: RoleWorld) -> None:
    """The reads need no more than SELECT (one of them opens a wallet: see above)."""
    await world.clinic().set_billing_contact("billing@clinic-a.test")
    invoice = await world.issued_topup("40.00")
    clinic, operator = world.clinic(), world.operator
    assert (await clinic.transactions()).total == 0
    assert await world.request_of(invoice) is TopupStatus.INVOICED
    assert (await operator.topup_requests(CLINIC)).total == 1
    assert (await clinic.invoice(invoice.id)).number == invoice.number
    assert (await operator.invoices(CLINIC)).total == 1
    assert (await clinic.billing_contact()).email == "billing@clinic-a.test"


async def _rate_card(world: RoleWorld, tenant_id: str | None = None, tier_11: str | None = None) -> RateCard:
    rates: list[dict[str, object]] = [{"market": "India", "category": "utility", "unit_price": "0.0014"}]
    if tier_11 is not None:
        rates.append({"market": "India", "category": "utility", "unit_price": tier_11, "tier_from": 11})
    started = world.clock.now() - timedelta(days=1)
    return await world.operator.create_rate_card(
        "Card", started, {"IN": "India", "*": "Other"}, rates, tenant_id=tenant_id, free_in_service_window=["service"]
    )


async def _settled(world: RoleWorld, count: int) -> dict[str, int]:
    """Settling writes the tiers' counter (an insert, then an update of the same row); returns what it reads."""
    now = world.clock.now()
    async with world.service.uow_factory() as uow:
        await uow.message_counts.add_settled(CLINIC, now, "India", Category.UTILITY, count)
        await uow.commit()
    async with world.service.uow_factory() as uow:
        return await uow.message_counts.settled(CLINIC, now, Category.UTILITY, ["India", "Other"])


@write_path("create_rate_card", "rate_cards", "rate_card", "current_rate_card")
async def rate_cards_added_and_read(world: RoleWorld) -> None:
    default = await _rate_card(world)  # default_rate_cards
    world.clock.advance(timedelta(seconds=1))
    own = await _rate_card(world, tenant_id=CLINIC)  # rate_cards
    assert {card.id for card in (await world.operator.rate_cards()).items} == {default.id, own.id}
    assert await world.operator.rate_card(default.id) == default
    assert (await world.clinic().current_rate_card()).id == own.id
    assert (await world.operator.current_rate_card("clinic-b")).id == default.id


@write_path("margin")
async def messages_costed_and_their_margin_read(world: RoleWorld) -> None:
    """A cost card (cost_cards), a settled and a refunded message (cost_message_counts, message_margins)."""
    await _messages_priced(world)
    started = world.clock.now() - timedelta(days=1)
    costs = [{"market": "Meta", "category": "utility", "unit_price": "0.0300"}]
    cost_card = await world.operator.create_rate_card("Meta", started, {"*": "Meta"}, costs, kind="cost")
    assert [card.id for card in (await world.operator.rate_cards(kind="cost")).items] == [cost_card.id]
    assert (await world.operator.current_rate_card(kind="cost")).id == cost_card.id
    platform = world.operator
    for message_id in ("wamid.c1", "wamid.c2"):
        await platform.hold(CLINIC, message_id, "utility", "+14155552671")
        settled = await platform.settle(CLINIC, message_id)
        assert settled.cost is not None
    await platform.refund(CLINIC, "wamid.c1", "0.01")
    [row] = (await world.operator.margin()).rows
    assert (row.messages, str(row.billed), str(row.cost)) == (2, "0.09", "0.06")


@write_path()
async def settled_messages_counted(world: RoleWorld) -> None:
    assert await _settled(world, 9) == {"India": 9, "Other": 0}
    assert await _settled(world, 1) == {"India": 10, "Other": 0}


@write_path("quote")
async def quote_on_the_card_in_force(world: RoleWorld) -> None:
    await _rate_card(world, tier_11="0.0010")
    await _settled(world, 10)
    await world.funded("40.00")
    quoted = await world.clinic().quote("utility", ["+919876543210"])
    assert [(item.tier, str(item.amount)) for item in quoted.items] == [(11, "0.001")]
    assert (str(quoted.available), quoted.sufficient) == ("40.00", True)
    fresh = await world.clinic("clinic-new").quote("utility", ["+919876543210"])  # opens its wallet
    assert (str(fresh.total), fresh.sufficient) == ("0.0014", False)


async def _messages_priced(world: RoleWorld, balance: str = "10.00") -> None:
    """A default card pricing utility and marketing messages to every country at 0.05, and money to spend."""
    rates = [{"market": "Rest", "category": category, "unit_price": "0.05"} for category in ("utility", "marketing")]
    await world.operator.create_rate_card("Card", world.clock.now() - timedelta(days=1), {"*": "Rest"}, rates)
    await world.funded(balance)


@write_path("hold", "hold_batch", "settle", "void", "get_hold", "holds", "expire_holds")
async def holds_placed_settled_voided_and_expired(world: RoleWorld) -> None:
    await _messages_priced(world)
    platform = world.operator
    number = "+14155552671"
    first = await platform.hold(CLINIC, "wamid.1", "utility", number)
    batch = await platform.hold_batch(
        CLINIC, [{"message_id": f"wamid.{n}", "category": "marketing", "recipient": number} for n in (2, 3)]
    )
    short = await platform.hold(CLINIC, "wamid.4", "utility", number, expires_in_seconds=60)
    assert (first.created, batch.created, str(batch.total)) == (True, True, "0.10")
    assert (await platform.settle(CLINIC, "wamid.1")).status == HoldStatus.SETTLED
    assert (await platform.void(CLINIC, "wamid.2")).status == HoldStatus.VOIDED
    world.clock.advance(timedelta(minutes=2))
    assert (await platform.expire_holds()).expired == 1  # the sweeper's advisory lock needs no grant
    assert (await platform.get_hold(CLINIC, short.hold.id)).status == HoldStatus.EXPIRED
    assert [hold.message_id for hold in (await platform.holds(CLINIC, status="held")).items] == ["wamid.3"]
    wallet = await world.clinic().wallet()
    assert (str(wallet.balance), str(wallet.held)) == ("9.95", "0.05")
    assert await audit_wallets(world.engine) == []


@write_path("freeze", "unfreeze")
async def freeze_then_unfreeze(world: RoleWorld) -> None:
    await world.funded("10.00")
    frozen = await world.operator.freeze(CLINIC, "unpaid subscription")
    assert (frozen.status, frozen.frozen_reason) == (WalletStatus.FROZEN, "unpaid subscription")
    with pytest.raises(WalletFrozenError):
        await world.operator.charge(CLINIC, "1.00", "wamid.1")
    await world.operator.unfreeze(CLINIC)
    wallet = await world.clinic().wallet()
    assert (wallet.status, wallet.frozen_reason) == (WalletStatus.ACTIVE, None)


@write_path("settings", "set_settings")
async def settings_saved_replaced_and_read_by_a_hold(world: RoleWorld) -> None:
    await _messages_priced(world)
    assert str((await world.clinic().settings()).marketing_reserve) == "0.00"
    await world.clinic().set_settings("5.00")
    await world.operator.set_settings("9.97", tenant_id=CLINIC)  # a PUT replaces the whole
    saved = await world.clinic().settings()
    assert (str(saved.marketing_reserve), saved.updated_by) == ("9.97", "operator-1")
    with pytest.raises(LaneClosedError):  # 10.00 - 0.05 would leave less than the reserve
        await world.operator.hold(CLINIC, "wamid.1", "marketing", "+14155552671")


@write_path("alerts")
async def protections_alert_request_and_count_spend_under_the_role(world: RoleWorld) -> None:
    """An alert, an automatic top-up request, their emails and the spend the ledger's trigger keeps."""
    await _messages_priced(world, "1.00")
    auto = {"enabled": True, "threshold": "0.99", "target": "20.00", "monthly_cap": "100.00"}
    await world.operator.set_settings("0", CLINIC, low_balance_levels=["0.99"], auto_topup=auto)
    await world.operator.hold(CLINIC, "wamid.1", "utility", "+14155552671")  # 1.00 -> 0.95
    await world.operator.settle(CLINIC, "wamid.1")
    alerts = await world.operator.alerts(CLINIC)
    assert [(str(a.level), str(a.available)) for a in alerts.items] == [("0.99", "0.95")]
    requests = await world.operator.topup_requests(CLINIC, status="pending")
    assert [(r.requested_by, str(r.amount)) for r in requests.items] == [("auto", "19.05")]
    assert str((await world.clinic().wallet()).runway.daily_spend) == "0.0036"  # 0.05 / 14


@write_path("statement")
async def statement_of_this_month(world: RoleWorld) -> None:
    await world.funded("40.00")
    await world.operator.charge(CLINIC, "1.00", "wamid.1")
    statement = await world.clinic().statement()
    assert [(entry.kind, str(entry.balance_after)) async for entry in statement.entries()] == [
        (EntryKind.TOPUP, "40.00"),
        (EntryKind.CHARGE, "39.00"),
    ]


def _meta_body(world: RoleWorld, *statuses: tuple[str, str, str]) -> dict[str, object]:
    """Meta's status webhook body: one change per (phone_number_id, message id, status)."""
    at = str(int(world.clock.now().timestamp()))
    pricing = {"billable": True, "pricing_model": "PMP", "category": "utility", "type": "regular"}
    changes = [
        {
            "field": "messages",
            "value": {
                "metadata": {"phone_number_id": number},
                "statuses": [
                    {"id": message_id, "status": kind, "timestamp": at, "recipient_id": "14155552671"}
                    | ({"pricing": pricing} if kind == "delivered" else {})
                ],
            },
        }
        for number, message_id, kind in statuses
    ]
    return {"object": "whatsapp_business_account", "entry": [{"id": "WABA", "changes": changes}]}


@write_path(
    "map_whatsapp_number", "whatsapp_numbers", "unmap_whatsapp_number", "apply_whatsapp_statuses", "webhook_events"
)
async def whatsapp_statuses_applied_and_recorded(world: RoleWorld) -> None:
    """Numbers mapped, read and unmapped; statuses settle, void, charge a released hold, charge without a hold and
    are recorded once (a tenant's events, and an unknown number's)."""
    await _messages_priced(world)
    platform = world.operator
    assert (await platform.map_whatsapp_number("1065", CLINIC)).created  # whatsapp_numbers
    assert not (await platform.map_whatsapp_number("1065", CLINIC)).created
    number = "+14155552671"
    for message_id in ("wamid.1", "wamid.2"):
        await platform.hold(CLINIC, message_id, "utility", number)
    body = _meta_body(
        world,
        ("1065", "wamid.1", "delivered"),  # settles
        ("1065", "wamid.2", "failed"),  # voids
        ("1065", "wamid.3", "delivered"),  # no hold: charged by the card
        ("2065", "wamid.4", "sent"),  # nobody's number: webhook_unknown_events
    )
    first = await platform.apply_whatsapp_statuses(parse_status_notifications(body))
    again = await platform.apply_whatsapp_statuses(parse_status_notifications(body))  # redelivered: nothing new
    late = await platform.apply_whatsapp_statuses(
        parse_status_notifications(_meta_body(world, ("1065", "wamid.2", "delivered")))  # a released hold charged
    )
    assert [(e.message_id, str(e.outcome)) for e in first] == [
        ("wamid.1", "applied"),
        ("wamid.2", "applied"),
        ("wamid.3", "applied"),
        ("wamid.4", "unmatched"),
    ]
    # Redelivered: a tenant's statuses are skipped; an unknown number's are answered again but recorded once.
    assert ([e.message_id for e in again], [str(e.outcome) for e in late]) == (["wamid.4"], ["applied"])
    assert (await platform.webhook_events()).total == 5
    assert (await platform.webhook_events(outcome="unmatched")).total == 1
    assert [n.phone_number_id for n in (await platform.whatsapp_numbers(tenant_id=CLINIC)).items] == ["1065"]
    await platform.unmap_whatsapp_number("1065")
    assert (await platform.whatsapp_numbers()).total == 0
    wallet = await world.clinic().wallet()
    assert (str(wallet.balance), str(wallet.held)) == ("9.85", "0.00")
    assert await audit_wallets(world.engine) == []


def _four_eyes_operator(world: RoleWorld, user_id: str) -> BillingSession:
    """An operator of a deployment with `BILLING_FOUR_EYES=true`, on the same database and clock."""
    runtime = attrs.evolve(world.service.runtime, settings=BillingSettings(four_eyes=True))
    service = BillingService(world.service.uow_factory, runtime, EVENT_HANDLERS)
    caller = Caller(user_id, runtime.settings.root_tenant, {VIEW, MANAGE})
    return cast(BillingSession, RecordingSession(service.acting_as(caller), world.called))


@write_path("adjust", "approve_adjustment", "reject_adjustment", "adjustments")
async def adjustments_applied_proposed_approved_and_rejected(world: RoleWorld) -> None:
    await world.funded("10.00")
    applied = await world.operator.adjust(CLINIC, "-1.00", "correction", reference_id="ticket-1")  # at once
    proposer, approver = _four_eyes_operator(world, "operator-1"), _four_eyes_operator(world, "operator-2")
    world.clock.advance(timedelta(seconds=1))
    to_approve = await proposer.adjust(CLINIC, "2.00", "goodwill", reference_id="ticket-2")
    world.clock.advance(timedelta(seconds=1))
    to_reject = await proposer.adjust(CLINIC, "3.00", "a typo", reference_id="ticket-3")
    assert (applied.status, to_approve.status) == (AdjustmentStatus.APPLIED, AdjustmentStatus.PROPOSED)
    assert (await approver.approve_adjustment(to_approve.id)).status is AdjustmentStatus.APPLIED
    assert (await approver.reject_adjustment(to_reject.id, "wrong amount")).status is AdjustmentStatus.REJECTED
    listed = await world.operator.adjustments(CLINIC)
    assert [(a.reference_id, a.status) for a in listed.items] == [
        ("ticket-3", AdjustmentStatus.REJECTED),
        ("ticket-2", AdjustmentStatus.APPLIED),
        ("ticket-1", AdjustmentStatus.APPLIED),
    ]
    assert str((await world.clinic().wallet()).balance) == "11.00"
    assert await audit_wallets(world.engine) == []


@write_path("reverse_payment")
async def payment_reversed_into_debt_then_repaid(world: RoleWorld) -> None:
    invoice = await world.issued_topup("40.00")
    await world.operator.mark_invoice_paid(invoice.id, "bank-1")
    await world.operator.charge(CLINIC, "30.00", "wamid.1")
    reversed_invoice = await world.operator.reverse_payment(invoice.id, "the transfer bounced")
    assert (reversed_invoice.status, str(reversed_invoice.debt_added)) == (InvoiceStatus.PAYMENT_REVERSED, "30.00")
    assert await world.request_of(invoice) is TopupStatus.REVERSED
    assert str((await world.clinic().wallet()).debt) == "30.00"
    await world.funded("50.00")  # repays the debt first
    wallet = await world.clinic().wallet()
    assert (str(wallet.balance), str(wallet.debt)) == ("20.00", "0.00")
    assert await audit_wallets(world.engine) == []


@write_path("audit", "my_audit")
async def audit_rows_written_and_read(world: RoleWorld) -> None:
    """A tenant's row (a number mapped to it) and a platform row (a number unmapped), read by both views."""
    await world.operator.map_whatsapp_number("1065", CLINIC)
    await world.operator.unmap_whatsapp_number("1065")
    every = await world.operator.audit()
    assert [(entry.action, entry.tenant_id) for entry in every.items] == [
        ("unmap_whatsapp_number", None),
        ("map_whatsapp_number", CLINIC),
    ]
    mine = await world.clinic().my_audit()
    assert [(entry.action, entry.actor.sub, entry.ip) for entry in mine.items] == [("map_whatsapp_number", None, None)]


@write_path()
async def outbox_records_a_failed_attempt_then_delivers(world: RoleWorld) -> None:
    await world.issued_topup("40.00")
    mailer = ScriptedMailer(MailDeliveryError("421 try again later"))
    dispatcher = world.dispatcher(mailer)
    first = await dispatcher.dispatch_due()
    assert (first.sent, first.retrying) == (0, 1)
    assert await world.outbox() == [("invoice_issued", OutboxStatus.PENDING.value, 1)]
    world.clock.advance(timedelta(minutes=1))  # past the first retry's wait
    second = await dispatcher.dispatch_due()
    assert second.sent == 1
    assert len(mailer.sent) == 1
    assert await world.outbox() == [("invoice_issued", OutboxStatus.SENT.value, 2)]


@write_path()
async def outbox_gives_up_after_its_last_attempt(world: RoleWorld) -> None:
    await world.issued_topup("40.00")
    dispatcher = world.dispatcher(ScriptedMailer(MailDeliveryError("421 try again later")), max_attempts=1)
    assert (await dispatcher.dispatch_due()).failed == 1
    assert await world.outbox() == [("invoice_issued", OutboxStatus.FAILED.value, 1)]


@write_path()
async def outbox_sets_aside_an_undeliverable_message(world: RoleWorld) -> None:
    await world.issued_topup("40.00")
    dispatcher = world.dispatcher(ScriptedMailer(UndeliverableMessageError("no header can carry the recipient")))
    assert (await dispatcher.dispatch_due()).undeliverable == 1
    assert await world.outbox() == [("invoice_issued", OutboxStatus.UNDELIVERABLE.value, 1)]


async def _keyed_charge(
    world: RoleWorld, key: str, amount: str, reference: str, purger: ExpiredKeyPurger | None = None
) -> Any:
    """A charge as the HTTP layer runs a POST carrying `Idempotency-Key: key`."""
    body = json.dumps({"amount": amount, "reference_id": reference}).encode()
    run_once = RunOnce(world.service, KEY_TTL, purger or ExpiredKeyPurger())
    keyed = IdempotencyKey(key, fingerprint("POST", CHARGES, body))

    def render(result: ChargeResult) -> Answer:
        entry = json.dumps({"id": str(result.entry.id), "amount": str(result.entry.amount)}).encode()
        return Answer(201 if result.created else 200, entry, "application/json")

    def refusal(error: BillingError) -> Answer:
        return Answer(409, str(error).encode(), "text/plain")

    command = ChargeWallet(CLINIC, world.service.money(amount), reference)
    return await run_once.run(charge_wallet, command, world.operator_caller, keyed, render, refusal)


@write_path()
async def idempotency_key_stored_with_its_effect(world: RoleWorld) -> None:
    await world.funded("40.00")
    first = await _keyed_charge(world, "charge-1", "1.00", "wamid.1")
    replayed = await _keyed_charge(world, "charge-1", "1.00", "wamid.1")
    assert (first.status, replayed.status) == (201, 201)
    assert (first.replayed, replayed.replayed) == (False, True)
    assert replayed.body == first.body
    assert await world.stored_keys() == [("charge-1", 201, 24)]


@write_path()
async def idempotency_key_keeps_a_refusal(world: RoleWorld) -> None:
    # The use case rolls back; the 4xx is kept under the key in a unit of its own, whose failure
    # is only logged: the stored row is the evidence.
    refused = await _keyed_charge(world, "charge-1", "1.00", "wamid.1")
    assert refused.status == 409  # insufficient_funds
    assert await world.stored_keys() == [("charge-1", 409, 24)]


@write_path()
async def idempotency_expired_key_taken_by_a_new_request(world: RoleWorld) -> None:
    await world.funded("40.00")
    quiet = ExpiredKeyPurger(every_seconds=3600.0)
    await quiet.maybe_purge(world.service)  # spent now, with nothing expired: the expired row stays below
    await _keyed_charge(world, "charge-1", "1.00", "wamid.1", quiet)
    world.clock.advance(KEY_TTL)
    again = await _keyed_charge(world, "charge-1", "2.00", "wamid.2", quiet)
    assert again.status == 201  # not a reuse of the expired key's fingerprint
    assert await world.stored_keys() == [("charge-1", 201, 24)]  # the new first use, kept a full TTL


@write_path()
async def purge_expired_idempotency_keys(world: RoleWorld) -> None:
    await world.funded("40.00")
    await _keyed_charge(world, "charge-1", "1.00", "wamid.1")
    await _keyed_charge(world, "charge-2", "1.00", "wamid.2")
    world.clock.advance(KEY_TTL)
    await ExpiredKeyPurger().maybe_purge(world.service)  # logs, never raises: the table is the evidence
    assert await world.stored_keys() == []


@write_path()
async def audit_query(world: RoleWorld) -> None:
    await world.funded("40.00")
    await world.operator.charge(CLINIC, "1.00", "wamid.1")
    await world.operator.refund(CLINIC, "wamid.1")
    assert await audit_wallets(world.engine) == []


@write_path()
async def readiness_schema_check(world: RoleWorld) -> None:
    assert await SqlAlchemyReadiness(world.engine).problem() is None


@pytest.mark.parametrize("path", list(PATHS.values()), ids=list(PATHS))
async def test_a_write_path_works_under_the_production_role(path: WritePath, world: RoleWorld) -> None:
    await path.run(world)
    assert path.covers <= world.called, f"{path.name} does not call {sorted(path.covers - world.called)}"


def test_every_entry_point_of_billing_session_is_a_covered_path() -> None:
    # `run(handler, command)` is the generic form every named entry point goes through.
    entry_points = {
        name for name, _ in inspect.getmembers(BillingSession, inspect.isfunction) if name[0] != "_" and name != "run"
    }
    covered = frozenset().union(*(path.covers for path in PATHS.values()))
    assert entry_points - covered == set(), "add a @write_path that calls these entry points under the role"
    assert covered - entry_points == set(), "these covered names are not entry points of BillingSession"


# The ledger stays out of the role's reach -----------------------------------------------------------


async def test_the_production_role_cannot_rewrite_or_lock_the_ledger(world: RoleWorld, app_role_url: str) -> None:
    await world.funded("40.00")  # a ledger row to aim at
    refused = (
        "UPDATE wallet_transactions SET amount = 0",
        "DELETE FROM wallet_transactions",
        "TRUNCATE wallet_transactions",
        "SELECT * FROM wallet_transactions FOR UPDATE",  # so nothing in the service may lock ledger rows
        "SELECT * FROM wallet_transactions FOR SHARE",
        "UPDATE invoice_lines SET quantity = 2",
        "SELECT * FROM invoice_lines FOR UPDATE",
        "DELETE FROM invoice_lines",
        "UPDATE audit_events SET action = 'nothing'",  # the audit trail: append-only for the role too
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "UPDATE platform_audit_events SET action = 'nothing'",
        "DELETE FROM platform_audit_events",
        "TRUNCATE platform_audit_events",
    )
    with psycopg.connect(app_role_url, autocommit=True) as app:
        for statement in refused:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                app.execute(statement)  # type: ignore[arg-type]
