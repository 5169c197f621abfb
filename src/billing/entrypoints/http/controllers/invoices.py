"""Invoices: lists and reads for tenants; mark paid, void and reverse a payment for operators."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from billing.application import queries
from billing.application.caller import Caller
from billing.application.handlers import invoices
from billing.application.handlers.invoices import MarkInvoicePaid, ReversePayment, VoidInvoice
from billing.application.pagination import PageRequest
from billing.application.service import BillingService
from billing.domain.invoice import InvoicePurpose, InvoiceStatus
from billing.entrypoints.http.body import JsonBody
from billing.entrypoints.http.controllers.params import parse_id, rendered
from billing.entrypoints.http.idempotency import Idempotency
from billing.entrypoints.http.problems import problem_responses
from billing.entrypoints.http.schemas import InvoiceMarkPaid, InvoiceOut, InvoicePage, InvoiceVoid, PaymentReverse

ID = "invoice_id"


class InvoiceController(Controller):
    path = "/invoices"
    tags = ["invoices"]

    @get("/", operation_id="list_invoices", responses=problem_responses("forbidden"))
    async def list_invoices(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        page_request: NamedDependency[PageRequest],
        tenant_id: FromQuery[str | None] = None,
        status: FromQuery[InvoiceStatus | None] = None,
        purpose: FromQuery[InvoicePurpose | None] = None,
    ) -> InvoicePage:
        """Invoices, newest first: the root tenant sees every tenant's, others only their own."""
        query = queries.ListInvoices(tenant_id, status, purpose, page_request)
        page = await service.execute(queries.list_invoices, query, caller)
        items = [InvoiceOut.of(i) for i in page.items]
        return InvoicePage(items=items, page=page.page, page_size=page.page_size, total=page.total)

    @get("/{invoice_id:str}", operation_id="get_invoice", responses=problem_responses("forbidden", "not_found"))
    async def get_invoice(
        self, service: NamedDependency[BillingService], caller: NamedDependency[Caller], invoice_id: FromPath[str]
    ) -> InvoiceOut:
        """One invoice: the tenant's own, or any for the root tenant."""
        query = queries.GetInvoice(parse_id(invoice_id, ID))
        return InvoiceOut.of(await service.execute(queries.get_invoice, query, caller))

    @post(
        "/{invoice_id:str}/mark-paid",
        operation_id="mark_invoice_paid",
        status_code=200,
        dto=JsonBody[InvoiceMarkPaid],
        return_dto=None,
        responses=problem_responses("forbidden", "not_found", "invalid_state", "duplicate", write=True),
    )
    async def mark_invoice_paid(
        self,
        data: JSONBody[InvoiceMarkPaid],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        invoice_id: FromPath[str],
    ) -> Response[InvoiceOut]:
        """An operator records the payment; a top-up invoice credits the wallet once, atomically."""
        cmd = MarkInvoicePaid(parse_id(invoice_id, ID), data.payment_reference, data.paid_at)
        return await idempotency.run(invoices.mark_invoice_paid, cmd, caller, rendered(200, InvoiceOut.of))

    @post(
        "/{invoice_id:str}/void",
        operation_id="void_invoice",
        status_code=200,
        dto=JsonBody[InvoiceVoid],
        return_dto=None,
        responses=problem_responses("forbidden", "not_found", "invalid_state", write=True),
    )
    async def void_invoice(
        self,
        data: JSONBody[InvoiceVoid],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        invoice_id: FromPath[str],
    ) -> Response[InvoiceOut]:
        """An operator voids an unpaid invoice; a top-up's request is cancelled with it."""
        cmd = VoidInvoice(parse_id(invoice_id, ID), data.reason)
        return await idempotency.run(invoices.void_invoice, cmd, caller, rendered(200, InvoiceOut.of))

    @post(
        "/{invoice_id:str}/reverse-payment",
        operation_id="reverse_payment",
        status_code=200,
        dto=JsonBody[PaymentReverse],
        return_dto=None,
        responses=problem_responses("forbidden", "not_found", "invalid_state", write=True),
    )
    async def reverse_payment(
        self,
        data: JSONBody[PaymentReverse],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        invoice_id: FromPath[str],
    ) -> Response[InvoiceOut]:
        """A paid top-up's bank transfer bounced (v3 §19): what `available` covers is taken back, the rest is owed
        as the wallet's debt; the invoice is `payment_reversed` and its request `reversed` (both final)."""
        cmd = ReversePayment(parse_id(invoice_id, ID), data.reason)
        return await idempotency.run(invoices.reverse_payment, cmd, caller, rendered(200, InvoiceOut.of))
