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
    invoice.mark_paid("bank transfer 42", SETTLED, SETTLED)
    request.complete(SETTLED)
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
    invoice.mark_paid("SWIFT 0xABC / ünïcode", SETTLED, SETTLED)


def void(invoice: Invoice) -> None:
    invoice.void("issued by mistake", SETTLED)


# (purpose, the changes made after the first save)
INVOICE_PATHS: dict[str, tuple[str, list[Callable[[Invoice], None]]]] = {
    "top-up, issued": ("topup", []),
    "top-up, paid": ("topup", [pay]),
    "top-up, void": ("topup", [void]),
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
