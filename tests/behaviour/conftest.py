"""Behaviour tests: the handlers through the in-process facade, on every backend in BACKENDS.

Each facade call is its own unit of work, so reading something back through the facade after
saving it always goes through a fresh unit of work.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

import attrs
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.memory.clock import ManualClock
from billing.adapters.memory.store import InMemoryStore
from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.service import BillingService, BillingSession
from billing.config import Settings
from billing.container import Container, in_memory_container, postgres_container
from billing.domain.invoice import Invoice
from billing.domain.ledger import LedgerEntry
from billing.domain.topup import TopupRequest
from billing.domain.wallet import Wallet

BACKENDS = ["memory", pytest.param("postgres", marks=pytest.mark.postgres)]

ROOT = "root"
CLINIC = "clinic-a"
OTHER_CLINIC = "clinic-b"


@pytest.fixture
def memory_store() -> InMemoryStore:
    return InMemoryStore()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=BACKENDS)
def container(request: pytest.FixtureRequest, clock: ManualClock) -> Container:
    """The composition root on each backend: the service as other modules get it."""
    if request.param == "postgres":
        engine: AsyncEngine = request.getfixturevalue("engine")
        settings = Settings(database_url=engine.url.render_as_string(hide_password=False))
        return postgres_container(settings, engine=engine, clock=clock)
    return in_memory_container(clock=clock, store=request.getfixturevalue("memory_store"))


@pytest.fixture
def service(container: Container) -> BillingService:
    built: BillingService = container.service()
    return built


@attrs.frozen
class World:
    """Everything a reader can see of the billing state, read back through fresh units of work."""

    requests: tuple[TopupRequest, ...]
    invoices: tuple[Invoice, ...]
    wallets: tuple[Wallet, ...]
    ledgers: tuple[tuple[LedgerEntry, ...], ...]


@attrs.frozen
class Scenario:
    """The facade seen by an operator and two clinics, plus builders for each top-up state."""

    service: BillingService
    clock: ManualClock

    def as_(self, tenant_id: str, *permissions: str, user_id: str = "user-1") -> BillingSession:
        return self.service.acting_as(Caller(user_id, tenant_id, frozenset(permissions), f"{user_id}@mail.test"))

    @property
    def operator(self) -> BillingSession:
        return self.as_(ROOT, VIEW, MANAGE, user_id="operator-1")

    @property
    def clinic(self) -> BillingSession:
        return self.as_(CLINIC, VIEW, user_id="clinic-user")

    @property
    def other_clinic(self) -> BillingSession:
        return self.as_(OTHER_CLINIC, VIEW, user_id="other-user")

    def tick(self) -> None:
        """Time moves on between steps, so that "newest first" has a meaning."""
        self.clock.advance(timedelta(seconds=1))

    async def pending(self, amount: object = "150.00", clinic: BillingSession | None = None) -> TopupRequest:
        self.tick()
        return await (clinic or self.clinic).request_topup(amount)

    async def invoiced(self, amount: object = "150.00", clinic: BillingSession | None = None) -> TopupRequest:
        request = await self.pending(amount, clinic)
        self.tick()
        return await self.operator.approve_topup(request.id)

    async def completed(self, amount: object = "150.00", clinic: BillingSession | None = None) -> TopupRequest:
        request = await self.invoiced(amount, clinic)
        self.tick()
        assert request.invoice_id is not None
        await self.operator.mark_invoice_paid(request.invoice_id, f"payment-{request.id.hex[:8]}")
        return await self.operator.topup_request(request.id)

    async def rejected(self) -> TopupRequest:
        request = await self.pending()
        self.tick()
        return await self.operator.reject_topup(request.id, "not now")

    async def cancelled(self) -> TopupRequest:
        request = await self.pending()
        self.tick()
        return await self.clinic.cancel_topup(request.id)

    async def voided(self) -> TopupRequest:
        request = await self.invoiced()
        self.tick()
        assert request.invoice_id is not None
        await self.operator.void_invoice(request.invoice_id, "issued by mistake")
        return await self.operator.topup_request(request.id)

    async def in_state(self, status: str) -> TopupRequest:
        builders = {
            "pending": self.pending,
            "invoiced": self.invoiced,
            "completed": self.completed,
            "rejected": self.rejected,
            "cancelled": self.cancelled,
            "voided": self.voided,
        }
        return await builders[status]()

    async def fund(self, tenant_id: str, amount: str) -> None:
        """Credit a tenant the way the contract does: a paid top-up."""
        await self.completed(amount, self.as_(tenant_id, VIEW))

    async def ledger(self, tenant_id: str = CLINIC) -> tuple[LedgerEntry, ...]:
        """The whole ledger of a tenant, oldest first."""
        rows: list[LedgerEntry] = []
        page = 1
        while True:
            chunk = await self.operator.transactions(tenant_id, page=page, page_size=100)
            rows.extend(chunk.items)
            if len(rows) >= chunk.total or not chunk.items:
                return tuple(reversed(rows))
            page += 1

    async def world(self) -> World:
        """Reads every wallet (opening it if need be: do this before *and* after what is compared)."""
        requests = await self.operator.topup_requests(page_size=100)
        invoices = await self.operator.invoices(page_size=100)
        tenants = (CLINIC, OTHER_CLINIC)
        return World(
            tuple(requests.items),
            tuple(invoices.items),
            tuple([await self.operator.wallet(t) for t in tenants]),
            tuple([await self.ledger(t) for t in tenants]),
        )

    async def reload(self, request_id: UUID) -> tuple[TopupRequest, Invoice | None]:
        request = await self.operator.topup_request(request_id)
        invoice = None if request.invoice_id is None else await self.operator.invoice(request.invoice_id)
        return request, invoice


@pytest.fixture
def scenario(service: BillingService, clock: ManualClock) -> Scenario:
    return Scenario(service, clock)
