"""Reads: wallets, ledgers, requests and invoices, with tenant isolation and pagination."""

from __future__ import annotations

import enum
from datetime import UTC, timedelta
from typing import TypeVar
from uuid import UUID

import attrs

from billing.application.caller import Caller
from billing.application.pagination import Page, PageRequest
from billing.application.ports import TopupQueueFigures, UnitOfWork
from billing.application.protections import with_runway
from billing.application.runtime import Runtime, operators_viewer, requires, viewer
from billing.domain.errors import NotFoundError, ValidationError
from billing.domain.invoice import Invoice, InvoicePurpose, InvoiceStatus
from billing.domain.ledger import LedgerEntry
from billing.domain.tenant import validate_tenant_id
from billing.domain.topup import TopupRequest, TopupStatus
from billing.domain.wallet import Wallet

E = TypeVar("E", bound=enum.Enum)
T = TypeVar("T")


@attrs.frozen
class GetWallet:
    tenant_id: str | None = None  # None: the caller's own wallet


@attrs.frozen
class ListTransactions:
    tenant_id: str | None = None
    page: PageRequest = attrs.field(factory=PageRequest)


@attrs.frozen
class GetTopupRequest:
    request_id: UUID


@attrs.frozen
class ListTopupRequests:
    tenant_id: str | None = None
    status: TopupStatus | None = None
    page: PageRequest = attrs.field(factory=PageRequest)


@attrs.frozen
class GetTopupQueueFigures:
    """The operators' figures of the queue: every tenant's (None), or one tenant's."""

    tenant_id: str | None = None


@attrs.frozen
class GetInvoice:
    invoice_id: UUID


@attrs.frozen
class ListInvoices:
    tenant_id: str | None = None
    status: InvoiceStatus | None = None
    purpose: InvoicePurpose | None = None
    page: PageRequest = attrs.field(factory=PageRequest)


def parse_choice(kind: type[E], value: str | E | None, field: str) -> E | None:
    """An entry point's filter value as its enum (one parse, at the edge), or a 400 naming the field."""
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        choices = ", ".join(str(member.value) for member in kind)
        raise ValidationError.of(field, f"must be one of: {choices}") from None


def _empty(page: PageRequest) -> Page[T]:
    return Page((), page.page, page.page_size, 0)


@requires(viewer)
async def get_wallet(query: GetWallet, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Wallet:
    """A wallet is opened on first use; reading it never scans the ledger."""
    tenant_id = rt.auth.tenant_of(caller, query.tenant_id, "wallet", operators_view=True)
    wallet = await uow.wallets.get_or_open(tenant_id, rt.settings.currency, rt.clock.now())
    return await with_runway(wallet, uow, rt)


@requires(viewer)
async def list_transactions(query: ListTransactions, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Page[LedgerEntry]:
    tenant_id = rt.auth.tenant_of(caller, query.tenant_id, "wallet", operators_view=True)
    return await uow.wallets.list_entries(tenant_id, query.page)


@requires(viewer)
async def get_topup_request(query: GetTopupRequest, caller: Caller, uow: UnitOfWork, rt: Runtime) -> TopupRequest:
    request = await uow.topups.get(query.request_id)
    if request is None:
        raise NotFoundError("top-up request not found")
    rt.auth.ensure_visible(caller, request.tenant_id, "top-up request")
    return request


@requires(viewer)
async def list_topup_requests(
    query: ListTopupRequests, caller: Caller, uow: UnitOfWork, rt: Runtime
) -> Page[TopupRequest]:
    scope = rt.auth.list_scope(caller, query.tenant_id)
    if scope.empty:
        return _empty(query.page)
    return await uow.topups.list(scope.tenant_id, query.status, query.page)


@requires(operators_viewer)
async def get_topup_queue_figures(
    query: GetTopupQueueFigures, caller: Caller, uow: UnitOfWork, rt: Runtime
) -> TopupQueueFigures:
    """Pending, invoiced (unpaid), and paid this UTC month: counts and totals, for the operators only."""
    tenant_id = None if query.tenant_id is None else validate_tenant_id(query.tenant_id)
    start = rt.clock.now().astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    next_month = (start + timedelta(days=32)).replace(day=1)
    return await uow.topups.queue_figures(tenant_id, start, next_month, rt.settings.currency)


@requires(viewer)
async def get_invoice(query: GetInvoice, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Invoice:
    invoice = await uow.invoices.get(query.invoice_id)
    if invoice is None:
        raise NotFoundError("invoice not found")
    rt.auth.ensure_visible(caller, invoice.tenant_id, "invoice")
    return invoice


@requires(viewer)
async def list_invoices(query: ListInvoices, caller: Caller, uow: UnitOfWork, rt: Runtime) -> Page[Invoice]:
    scope = rt.auth.list_scope(caller, query.tenant_id)
    if scope.empty:
        return _empty(query.page)
    return await uow.invoices.list(scope.tenant_id, query.status, query.purpose, query.page)
