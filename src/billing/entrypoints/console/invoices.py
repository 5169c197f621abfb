"""An invoice's page (number, lines, total, status, due date), and the operators' "mark paid" and "void"."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from billing.application import queries
from billing.application.caller import Caller
from billing.application.handlers.invoices import MarkInvoicePaid, VoidInvoice, mark_invoice_paid, void_invoice
from billing.application.service import BillingService
from billing.domain.errors import BillingError
from billing.entrypoints.console.topups import Filters, back_to_queue, topups_page
from billing.entrypoints.console.views import ConsoleConfig, FormProblem, parse_id, render, text

NOTICES = {
    "paid": "Marked paid: the clinic's wallet was credited and its request completed.",
    "voided": "Voided: the invoice is void; a top-up's request is cancelled.",
}
FROM_QUEUE = "topups"  # the form's `back` field: where to return after marking paid or voiding


async def invoice_page(
    service: BillingService,
    console: ConsoleConfig,
    caller: Caller,
    invoice_id: str,
    *,
    notice: str | None = None,
    problem: FormProblem | None = None,
) -> Response[Any]:
    invoice = await service.execute(queries.get_invoice, queries.GetInvoice(parse_id(invoice_id, "invoice")), caller)
    return render(
        "invoice.html",
        console,
        caller,
        status=problem.status if problem else 200,
        invoice=invoice,
        notice=notice,
        problem=problem,
    )


class InvoicePage(Controller):
    path = "/invoices"

    @get("/{invoice_id:str}", name="console-invoice")
    async def show(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        notice = NOTICES.get(request.query_params.get("done", ""))
        return await invoice_page(service, console, caller, invoice_id, notice=notice)

    @post("/{invoice_id:str}/mark-paid", status_code=303)
    async def mark_paid(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        form = await request.form()
        from_queue = text(form, "back") == FROM_QUEUE
        parsed = parse_id(invoice_id, "invoice")
        command = MarkInvoicePaid(parsed, text(form, "payment_reference"))
        try:
            await service.execute(mark_invoice_paid, command, caller)
        except BillingError as error:
            problem = FormProblem.of(error, invoice_id, form, known=("payment_reference",))
            if from_queue:
                return await topups_page(request, service, console, caller, Filters.of(form), problem=problem)
            return await invoice_page(service, console, caller, invoice_id, problem=problem)
        if from_queue:
            return back_to_queue(form, "paid")
        return Redirect(f"/console/invoices/{parsed}", query_params={"done": "paid"}, status_code=303)

    @post("/{invoice_id:str}/void", status_code=303)
    async def void(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        """`POST /invoices/{id}/void`'s use case: the invoice void, an unpaid top-up's request cancelled."""
        form = await request.form()
        from_queue = text(form, "back") == FROM_QUEUE
        parsed = parse_id(invoice_id, "invoice")
        try:
            await service.execute(void_invoice, VoidInvoice(parsed, text(form, "reason")), caller)
        except BillingError as error:
            problem = FormProblem.of(error, str(parsed), form, known=("reason",))
            if from_queue:
                return await topups_page(request, service, console, caller, Filters.of(form), problem=problem)
            return await invoice_page(service, console, caller, invoice_id, problem=problem)
        if from_queue:
            return back_to_queue(form, "voided")
        return Redirect(f"/console/invoices/{parsed}", query_params={"done": "voided"}, status_code=303)
