"""Every field survives a save and a reload through a fresh unit of work: no mapper drops anything."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from uuid import uuid4

import attrs
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.application.pagination import PageRequest
from billing.application.ports import AuditFilter
from billing.domain.adjustment import Adjustment, AdjustmentStatus
from billing.domain.audit import Actor, AuditEntry, Target
from billing.domain.events import DebtRepaid
from billing.domain.invoice import Invoice, InvoiceLine
from billing.domain.ledger import EntryKind, LedgerEntry, Posting
from billing.domain.money import Money
from billing.domain.topup import TopupRequest
from billing.domain.wallet import Wallet

pytestmark = pytest.mark.postgres

# Microseconds and non-UTC offsets: both must survive (as the same instant).
KOLKATA = timezone(timedelta(hours=5, minutes=30))
SAO_PAULO = timezone(timedelta(hours=-3))
REQUESTED = datetime(2026, 11, 3, 9, 15, 30, 123456, tzinfo=UTC)
DECIDED = datetime(2026, 11, 4, 18, 1, 2, 999999, tzinfo=KOLKATA)
SETTLED = datetime(2026, 11, 10, 7, 0, 0, 1, tzinfo=SAO_PAULO)
REVERSED = datetime(2026, 12, 1, 23, 59, 59, 999999, tzinfo=KOLKATA)
DUE = date(2026, 11, 20)
TENANT = "clinic-a_01"


def usd(text: str) -> Money:
    return Money(Decimal(text), "USD")


def submitted(
    note: str | None = "Please top up — ünïcode ✓", email: str | None = "owner@clinic-a.test"
) -> TopupRequest:
    return TopupRequest.submit(uuid4(), TENANT, usd("150.25"), note, "user-1", email, REQUESTED)


def approved(request: TopupRequest) -> Invoice:
    invoice = Invoice.draft_for_topup(uuid4(), request, DECIDED)
    request.approve(invoice.id, invoice.number, "module:messaging", "approved, thanks", DECIDED)
    invoice.issue(DECIDED, DUE, "approved, thanks")
    return invoice


def paid(request: TopupRequest) -> Invoice:
    invoice = approved(request)
    invoice.mark_paid("bank transfer 42", SETTLED, SETTLED, by="operator-7")
    request.complete(SETTLED)
    return invoice


def reversed_payment(request: TopupRequest) -> Invoice:
    invoice = paid(request)
    invoice.reverse_payment("operator-8", "the transfer bounced — ünïcode", usd("100.05"), usd("50.20"), REVERSED)
    request.reverse(REVERSED)
    return invoice


def voided(request: TopupRequest) -> Invoice:
    invoice = approved(request)
    invoice.void("the clinic paid another way", SETTLED)
    request.cancel_for_voided_invoice(SETTLED)
    return invoice


def rejected(request: TopupRequest) -> None:
    request.reject("operator-7", "x" * 512, DECIDED)


def cancelled(request: TopupRequest) -> None:
    request.cancel(DECIDED)


# How each state is reached from a saved pending request; returns the invoice it created, if any.
TOPUP_PATHS: dict[str, tuple[Callable[[], TopupRequest], Callable[[TopupRequest], Invoice | None]]] = {
    "pending": (submitted, lambda request: None),
    "pending without note or email": (lambda: submitted(None, None), lambda request: None),
    "invoiced": (submitted, approved),
    "completed": (submitted, paid),
    "rejected": (submitted, rejected),
    "cancelled by the clinic": (submitted, cancelled),
    "cancelled by a voided invoice": (submitted, voided),
    "reversed": (submitted, reversed_payment),
}


def subscription() -> Invoice:
    lines = (
        InvoiceLine("Platform subscription — November", 1, usd("1000000.00")),
        InvoiceLine("Extra seats", 3, usd("19.99")),
        InvoiceLine("Rounding", 7, usd("0.01")),
    )
    return Invoice.draft_for_subscription(uuid4(), TENANT, "2026-11", lines, "USD", REQUESTED)


def topup_invoice() -> tuple[TopupRequest, Invoice]:
    request = submitted()
    return request, approved(request)


def issue(invoice: Invoice) -> None:
    invoice.issue(DECIDED, DUE)


def pay(invoice: Invoice) -> None:
    invoice.mark_paid("SWIFT 0xABC / ünïcode", SETTLED, SETTLED, by="operator-7")


def reverse(invoice: Invoice) -> None:
    invoice.reverse_payment("operator-8", "x" * 512, invoice.total, usd("0.00"), REVERSED)


def void(invoice: Invoice) -> None:
    invoice.void("issued by mistake", SETTLED)


# (purpose, the changes made after the first save)
INVOICE_PATHS: dict[str, tuple[str, list[Callable[[Invoice], None]]]] = {
    "top-up, issued": ("topup", []),
    "top-up, paid": ("topup", [pay]),
    "top-up, void": ("topup", [void]),
    "top-up, payment reversed": ("topup", [pay, reverse]),
    "subscription, draft": ("subscription", []),
    "subscription, issued then paid": ("subscription", [issue, pay]),
    "subscription, void": ("subscription", [void]),
}


def final_requests() -> list[TopupRequest]:
    requests = []
    for make, path in TOPUP_PATHS.values():
        request = make()
        path(request)
        requests.append(request)
    return requests


def final_invoices() -> list[Invoice]:
    invoices = []
    for purpose, changes in INVOICE_PATHS.values():
        invoice = topup_invoice()[1] if purpose == "topup" else subscription()
        for change in changes:
            change(invoice)
        invoices.append(invoice)
    return invoices


@pytest.mark.parametrize(
    ("kind", "examples"), [(TopupRequest, final_requests), (Invoice, final_invoices)], ids=["request", "invoice"]
)
def test_the_examples_give_every_field_a_value(kind: type, examples: Callable[[], list[object]]) -> None:
    """A field no example sets could be dropped by the mapper unnoticed; a new field fails here first."""
    built = examples()
    unset = [
        field.name
        for field in attrs.fields(kind)
        if field.name != "events" and all(getattr(example, field.name) is None for example in built)
    ]
    assert unset == []


@pytest.mark.parametrize("path", list(TOPUP_PATHS))
async def test_a_topup_request_survives_a_reload_in_every_state(engine: AsyncEngine, path: str) -> None:
    make, move = TOPUP_PATHS[path]
    request = make()
    async with SqlAlchemyUnitOfWork(engine) as uow:
        await uow.topups.add(request)
        await uow.commit()
    invoice = move(request)
    async with SqlAlchemyUnitOfWork(engine) as uow:
        if invoice is not None:
            await uow.invoices.add(invoice)
        await uow.topups.save(request)
        await uow.commit()

    async with SqlAlchemyUnitOfWork(engine) as uow:
        reloaded = await uow.topups.get(request.id)
        listed = await uow.topups.list(TENANT, request.status, PageRequest())
    assert reloaded == request
    assert list(listed.items) == [request]


@pytest.mark.parametrize("path", list(INVOICE_PATHS))
async def test_an_invoice_survives_a_reload_with_its_lines(engine: AsyncEngine, path: str) -> None:
    purpose, changes = INVOICE_PATHS[path]
    request, invoice = topup_invoice() if purpose == "topup" else (None, subscription())
    async with SqlAlchemyUnitOfWork(engine) as uow:
        if request is not None:
            await uow.topups.add(request)
        await uow.invoices.add(invoice)
        await uow.commit()
    for change in changes:
        change(invoice)
    async with SqlAlchemyUnitOfWork(engine) as uow:
        await uow.invoices.save(invoice)
        await uow.commit()

    async with SqlAlchemyUnitOfWork(engine) as uow:
        reloaded = await uow.invoices.get(invoice.id)
        listed = await uow.invoices.list(TENANT, invoice.status, invoice.purpose, PageRequest())
        subscription_found = await uow.invoices.find_subscription(TENANT, invoice.period)
    assert reloaded == invoice
    assert reloaded is not None
    assert reloaded.total == invoice.total
    assert list(listed.items) == [invoice]
    assert subscription_found == (invoice if purpose == "subscription" else None)


async def test_ledger_entries_and_the_wallet_survive_a_reload(engine: AsyncEngine) -> None:
    reference = "wamid." + "Z" * 194  # the longest reference a caller may give
    postings = [
        Posting.topup(uuid4(), TENANT, usd("150.25"), uuid4(), REQUESTED),
        Posting.charge(uuid4(), TENANT, usd("0.05"), reference, "WhatsApp message — ünïcode", DECIDED),
        Posting(uuid4(), TENANT, EntryKind.REFUND, usd("0.05"), reference, None, DECIDED + timedelta(microseconds=1)),
        Posting(uuid4(), TENANT, EntryKind.ADJUSTMENT, usd("-10.20"), None, "operator correction", SETTLED),
        Posting(uuid4(), TENANT, EntryKind.ADJUSTMENT, usd("0.01"), "ticket-9", None, SETTLED),
    ]
    async with SqlAlchemyUnitOfWork(engine) as uow:
        opened = await uow.wallets.get_or_open(TENANT, "USD", REQUESTED)
        await uow.commit()
    expected_wallet = copy.deepcopy(opened)
    entries: list[LedgerEntry] = []
    for posting in postings:  # one unit each, as the service does
        async with SqlAlchemyUnitOfWork(engine) as uow:
            entries.append(await uow.wallets.post(posting))
            await uow.commit()
        assert entries[-1] == expected_wallet.apply(posting)  # the database and the domain agree

    async with SqlAlchemyUnitOfWork(engine) as uow:
        wallet = await uow.wallets.lock(TENANT)
        listed = await uow.wallets.list_entries(TENANT, PageRequest(1, 100))
        charge = await uow.wallets.find_charge(TENANT, reference)
        refunded = await uow.wallets.refunded_total(TENANT, reference, "USD")
    assert wallet == expected_wallet
    assert wallet == Wallet(opened.id, TENANT, "USD", usd("140.06"), REQUESTED, SETTLED)
    assert list(listed.items) == entries[::-1]  # newest first
    assert listed.total == len(entries)
    assert charge == entries[1]
    assert refunded == usd("0.05")


def adjustments() -> list[Adjustment]:
    """An adjustment in each state, with and without a reference."""
    proposed = Adjustment.propose(
        uuid4(), TENANT, usd("-0.0001"), "a correction — ünïcode", None, "operator-1", DECIDED
    )
    applied = Adjustment.propose(uuid4(), TENANT, usd("12.50"), "goodwill", "ticket-9", "operator-1", DECIDED)
    applied.applied("operator-2", uuid4(), SETTLED)
    rejected = Adjustment.propose(uuid4(), TENANT, usd("3.00"), "x" * 512, "ticket-10", "operator-1", DECIDED)
    rejected.reject("operator-2", "wrong amount", SETTLED + timedelta(microseconds=1))
    return [proposed, applied, rejected]


def audit_entries() -> list[AuditEntry]:
    """A user's row of a tenant and a system's platform row."""
    details = {"amount": "150.25", "note": "ünïcode", "nested": {"items": [1, None, True]}, "token": None}
    return [
        AuditEntry(
            uuid4(),
            DECIDED,
            TENANT,
            Actor.user("operator-1", "root"),
            "approve_topup_request",
            Target("topup_request", str(uuid4())),
            "req-" + "x" * 124,
            "2001:db8::1",
            details,
        ),
        AuditEntry(
            uuid4(), SETTLED, None, Actor.system("sweeper"), "expire_holds", Target("wallet", TENANT), None, None, {}
        ),
    ]


@pytest.mark.parametrize(
    ("kind", "examples"), [(Adjustment, adjustments), (AuditEntry, audit_entries)], ids=["adjustment", "audit"]
)
def test_the_v3_examples_give_every_field_a_value(kind: type, examples: Callable[[], list[object]]) -> None:
    built = examples()
    unset = [
        field.name
        for field in attrs.fields(kind)
        if field.name != "events" and all(getattr(example, field.name) is None for example in built)
    ]
    assert unset == []


async def test_adjustments_survive_a_reload_in_every_state(engine: AsyncEngine) -> None:
    made = adjustments()
    for adjustment in made:
        async with SqlAlchemyUnitOfWork(engine) as uow:
            proposed = copy.deepcopy(adjustment)
            await uow.adjustments.add(attrs.evolve(proposed, status=AdjustmentStatus.PROPOSED))
            await uow.adjustments.save(adjustment)
            await uow.commit()

    async with SqlAlchemyUnitOfWork(engine) as uow:
        reloaded = [await uow.adjustments.get(adjustment.id, for_update=True) for adjustment in made]
        by_reference = await uow.adjustments.find_by_reference(TENANT, "ticket-9")
        listed = await uow.adjustments.list(TENANT, None, PageRequest())
        rejected = await uow.adjustments.list(TENANT, AdjustmentStatus.REJECTED, PageRequest())
    assert reloaded == made
    assert by_reference == made[1]
    assert (list(listed.items), listed.total) == (sorted(made, key=lambda a: (a.proposed_at, a.id), reverse=True), 3)
    assert list(rejected.items) == [made[2]]


async def test_audit_entries_survive_a_reload(engine: AsyncEngine) -> None:
    entries = audit_entries()
    async with SqlAlchemyUnitOfWork(engine) as uow:
        for entry in entries:
            await uow.audit_trail.append(entry)
        await uow.commit()

    async with SqlAlchemyUnitOfWork(engine) as uow:
        everything = await uow.audit_trail.list(AuditFilter(), PageRequest())
        tenants = await uow.audit_trail.list(AuditFilter(TENANT), PageRequest())
    assert list(everything.items) == entries[::-1]  # newest first
    assert list(tenants.items) == entries[:1]


async def test_a_reversed_payments_debt_survives_a_reload_and_is_repaid(engine: AsyncEngine) -> None:
    """save_reversed's one statement takes back what `available` covers and owes the rest; repay_debt's pays it
    from what comes in later, with its ledger row and its event."""
    request = submitted()
    invoice = approved(request)
    async with SqlAlchemyUnitOfWork(engine) as uow:
        await uow.wallets.get_or_open(TENANT, "USD", REQUESTED)
        await uow.topups.add(request)
        await uow.invoices.add(invoice)
        await uow.commit()
    invoice.mark_paid("bank transfer 42", SETTLED, SETTLED, by="operator-7")
    request.complete(SETTLED)
    async with SqlAlchemyUnitOfWork(engine) as uow:
        credit = Posting.topup(uuid4(), TENANT, request.amount, request.id, SETTLED)
        await uow.topups.save_paid(request, invoice, credit)
        await uow.wallets.post(Posting.charge(uuid4(), TENANT, usd("100.00"), "wamid.1", "a message", SETTLED))
        await uow.commit()

    async with SqlAlchemyUnitOfWork(engine) as uow:
        wallet = await uow.wallets.lock(TENANT)
        assert wallet is not None
        locked_before = copy.deepcopy(wallet)
        covered, owed = wallet.split_reversal(invoice.total)
        invoice.reverse_payment("operator-8", "bounced", covered, owed, REVERSED)
        request.reverse(REVERSED)
        reversal = Posting.payment_reversal(
            uuid4(), TENANT, covered, request.id, invoice.number, invoice.payment_reference, "bounced", REVERSED
        )
        movement = await uow.topups.save_reversed(request, invoice, reversal, owed)
        await uow.commit()
    assert (covered, owed) == (usd("50.25"), usd("100.00"))
    assert (movement.before, movement.after, movement.debt) == (usd("50.25"), usd("0"), usd("100.00"))

    async with SqlAlchemyUnitOfWork(engine) as uow:
        owing = await uow.wallets.lock(TENANT)
        funds = await uow.wallets.funds(TENANT)
        nothing = await uow.wallets.repay_debt(TENANT, uuid4(), "nothing-came-in", "nothing", REVERSED)
        assert nothing is None  # available is 0: nothing to repay
        assert uow.events == []
        await uow.wallets.post(Posting(uuid4(), TENANT, EntryKind.ADJUSTMENT, usd("30.00"), "ticket-1", "in", REVERSED))
        repaid = await uow.wallets.repay_debt(TENANT, uuid4(), "ticket-1", "Debt repaid", REVERSED)
        events = list(uow.events)
        await uow.commit()
    assert owing == attrs.evolve(locked_before, balance=usd("0.00"), debt=usd("100.00"), updated_at=REVERSED)
    assert funds is not None
    assert (funds.debt, funds.in_debt) == (usd("100.00"), True)
    assert repaid is not None
    assert (repaid.kind, repaid.amount, repaid.balance_after) == (EntryKind.DEBT_REPAYMENT, usd("-30.00"), usd("0"))
    assert events == [DebtRepaid(TENANT, usd("30.00"), usd("70.00"), "ticket-1", repaid.id, REVERSED)]

    async with SqlAlchemyUnitOfWork(engine) as uow:
        reloaded_invoice = await uow.invoices.get(invoice.id)
        reloaded_request = await uow.topups.get(request.id)
        wallet = await uow.wallets.lock(TENANT)
        listed = await uow.wallets.list_entries(TENANT, PageRequest(1, 100))
    assert (reloaded_invoice, reloaded_request) == (invoice, request)
    assert wallet is not None
    assert (wallet.balance, wallet.debt) == (usd("0"), usd("70.00"))
    assert [entry.kind for entry in listed.items] == [
        EntryKind.DEBT_REPAYMENT,
        EntryKind.ADJUSTMENT,
        EntryKind.PAYMENT_REVERSAL,
        EntryKind.CHARGE,
        EntryKind.TOPUP,
    ]
    assert listed.items[2].amount == usd("-50.25")
