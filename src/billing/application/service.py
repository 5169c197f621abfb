"""The in-process facade (contract §2): other modules call these, with the same checks as HTTP.

billing = build_in_memory_billing()              # or the container's, on PostgreSQL
clinic = billing.acting_as(Caller("u1", "clinic-a", {"Billing.View"}))
request = await clinic.request_topup("150.00")
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from typing import Protocol, TypeVar
from uuid import UUID

import attrs

from billing.application import queries
from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.commands import (
    AdjustWallet,
    ApproveTopup,
    CancelTopup,
    ChargeWallet,
    CreateSubscriptionInvoice,
    IssueInvoice,
    MarkInvoicePaid,
    RefundCharge,
    RejectTopup,
    RequestTopup,
    SubscriptionLine,
    VoidInvoice,
)
from billing.application.handlers.contacts import (
    GetBillingContact,
    SetBillingContact,
    get_billing_contact,
    set_billing_contact,
)
from billing.application.handlers.invoices import (
    create_subscription_invoice,
    issue_invoice,
    mark_invoice_paid,
    void_invoice,
)
from billing.application.handlers.topups import (
    approve_topup,
    cancel_topup,
    reject_topup,
    request_topup,
)
from billing.application.handlers.wallets import (
    ChargeResult,
    adjust_wallet,
    charge_wallet,
    refund_charge,
)
from billing.application.notifications import queue_invoice_emails
from billing.application.pagination import Page, PageRequest
from billing.application.ports import UnitOfWork, UnitOfWorkFactory
from billing.application.runtime import Runtime, run_in_unit_of_work
from billing.domain.contact import BillingContact
from billing.domain.invoice import Invoice
from billing.domain.ledger import LedgerEntry
from billing.domain.topup import TopupRequest
from billing.domain.wallet import Wallet

C = TypeVar("C")
C_contra = TypeVar("C_contra", contravariant=True)
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Handler(Protocol[C_contra, R_co]):
    def __call__(self, cmd: C_contra, caller: Caller, uow: UnitOfWork, rt: Runtime, /) -> Awaitable[R_co]: ...


@attrs.frozen
class BillingService:
    uow_factory: UnitOfWorkFactory
    runtime: Runtime

    async def execute(
        self,
        handler: Handler[C, R],
        cmd: C,
        caller: Caller,
        before_commit: Callable[[UnitOfWork, R], Awaitable[None]] | None = None,
    ) -> R:
        """Run one use case in its own unit of work (the HTTP layer calls this too).

        The invoice email it causes is queued in the same transaction (the outbox)."""

        async def work(uow: UnitOfWork) -> R:
            result = await handler(cmd, caller, uow, self.runtime)
            await queue_invoice_emails(uow, self.runtime, list(uow.events))
            return result

        return await run_in_unit_of_work(self.uow_factory, work, before_commit)

    def acting_as(self, caller: Caller) -> BillingSession:
        return BillingSession(self, caller)

    def as_platform(self, module: str) -> BillingSession:
        """A platform module (e.g. messaging) acting as an operator of the root tenant."""
        root = self.runtime.settings.root_tenant
        return self.acting_as(Caller(f"module:{module}", root, frozenset([VIEW, MANAGE])))


@attrs.frozen
class BillingSession:
    """The facade bound to one caller; every method is one unit of work."""

    service: BillingService
    caller: Caller

    async def _run(self, handler: Handler[C, R], cmd: C) -> R:
        return await self.service.execute(handler, cmd, self.caller)

    # Wallets and their ledgers
    async def wallet(self, tenant_id: str | None = None) -> Wallet:
        return await self._run(queries.get_wallet, queries.GetWallet(tenant_id))

    async def balance(self, tenant_id: str | None = None) -> Wallet:
        return await self.wallet(tenant_id)

    async def transactions(self, tenant_id: str | None = None, page: int = 1, page_size: int = 20) -> Page[LedgerEntry]:
        query = queries.ListTransactions(tenant_id, PageRequest(page, page_size))
        return await self._run(queries.list_transactions, query)

    async def charge(
        self, tenant_id: str, amount: object, reference_id: str, description: str | None = None
    ) -> ChargeResult:
        cmd = ChargeWallet(tenant_id, amount, reference_id, description)
        return await self._run(charge_wallet, cmd)

    async def refund(
        self,
        tenant_id: str,
        reference_id: str,
        amount: object | None = None,
        description: str | None = None,
    ) -> LedgerEntry:
        cmd = RefundCharge(tenant_id, reference_id, amount, description)
        return await self._run(refund_charge, cmd)

    async def adjust(
        self, tenant_id: str, amount: object, description: str, reference_id: str | None = None
    ) -> LedgerEntry:
        cmd = AdjustWallet(tenant_id, amount, description, reference_id)
        return await self._run(adjust_wallet, cmd)

    # Top-up requests
    async def request_topup(self, amount: object, note: str | None = None) -> TopupRequest:
        return await self._run(request_topup, RequestTopup(amount, note))

    async def approve_topup(
        self, request_id: UUID, note: str | None = None, due_date: date | None = None
    ) -> TopupRequest:
        return await self._run(approve_topup, ApproveTopup(request_id, note, due_date))

    async def create_topup_invoice(
        self, request_id: UUID, note: str | None = None, due_date: date | None = None
    ) -> Invoice:
        """The seed's name for approving: creates and issues the top-up invoice."""
        request = await self.approve_topup(request_id, note, due_date)
        assert request.invoice_id is not None
        return await self.invoice(request.invoice_id)

    async def reject_topup(self, request_id: UUID, reason: str) -> TopupRequest:
        return await self._run(reject_topup, RejectTopup(request_id, reason))

    async def cancel_topup(self, request_id: UUID) -> TopupRequest:
        return await self._run(cancel_topup, CancelTopup(request_id))

    async def topup_request(self, request_id: UUID) -> TopupRequest:
        return await self._run(queries.get_topup_request, queries.GetTopupRequest(request_id))

    async def topup_requests(
        self,
        tenant_id: str | None = None,
        status: str | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> Page[TopupRequest]:
        query = queries.ListTopupRequests(tenant_id, status, PageRequest(page, page_size))
        return await self._run(queries.list_topup_requests, query)

    # Billing contact: the recipient of invoice email
    async def billing_contact(self, tenant_id: str | None = None) -> BillingContact:
        return await self._run(get_billing_contact, GetBillingContact(tenant_id))

    async def set_billing_contact(
        self, email: str, name: str | None = None, tenant_id: str | None = None
    ) -> BillingContact:
        return await self._run(set_billing_contact, SetBillingContact(email, name, tenant_id))

    # Invoices
    async def invoice(self, invoice_id: UUID) -> Invoice:
        return await self._run(queries.get_invoice, queries.GetInvoice(invoice_id))

    async def invoices(
        self,
        tenant_id: str | None = None,
        status: str | None = None,
        purpose: str | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> Page[Invoice]:
        query = queries.ListInvoices(tenant_id, status, purpose, PageRequest(page, page_size))
        return await self._run(queries.list_invoices, query)

    async def mark_invoice_paid(
        self, invoice_id: UUID, payment_reference: str, paid_at: datetime | None = None
    ) -> Invoice:
        cmd = MarkInvoicePaid(invoice_id, payment_reference, paid_at)
        return await self._run(mark_invoice_paid, cmd)

    async def void_invoice(self, invoice_id: UUID, reason: str) -> Invoice:
        return await self._run(void_invoice, VoidInvoice(invoice_id, reason))

    async def create_subscription_invoice(
        self,
        tenant_id: str,
        period: str,
        lines: Sequence[SubscriptionLine],
        due_date: date | None = None,
        issue: bool = True,
    ) -> Invoice:
        cmd = CreateSubscriptionInvoice(tenant_id, period, tuple(lines), due_date, issue)
        return await self._run(create_subscription_invoice, cmd)

    async def issue_invoice(self, invoice_id: UUID, due_date: date | None = None) -> Invoice:
        return await self._run(issue_invoice, IssueInvoice(invoice_id, due_date))
