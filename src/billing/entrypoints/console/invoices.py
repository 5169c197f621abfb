"""An invoice's page (number, lines, total, status, due date), and the operators' "mark paid", "void" and "reverse
payment" (contract v3 §19: a paid top-up's bank transfer bounced; the reason and a ticked confirmation are asked
for, and the page then shows what was taken back and what is owed)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect

from billing.application import queries
from billing.application.caller import Caller
from billing.application.handlers.invoices import (
    MarkInvoicePaid,
    ReversePayment,
    VoidInvoice,
    mark_invoice_paid,
    reverse_payment,
    void_invoice,
)
from billing.application.service import BillingService
from billing.domain.errors import ValidationError
from billing.entrypoints.console import topups
from billing.entrypoints.console.forms import Again, Refused, form_action, see_other
from billing.entrypoints.console.views import ConsoleConfig, FormProblem, parse_id, render, require_operator_page, text

NOTICES = {
    "paid": "Marked paid: the clinic's wallet was credited and its request completed.",
    "voided": "Voided: the invoice is void; a top-up's request is cancelled.",
    "reversed": "Payment reversed: the top-up was taken back from the clinic's wallet (what it lacked is owed as "
    "debt) and its request is reversed. The clinic is emailed.",
}
REVERSE = "reverse"  # the reversal form's name, for the messages beside its fields
CONFIRM = "confirm"  # its checkbox: the operator says the transfer did bounce
CONFIRMED = "yes"
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
        four_eyes=service.runtime.settings.four_eyes,
        notice=notice,
        problem=problem,
    )


def reversal(invoice_id: UUID, form: FormMultiDict) -> ReversePayment:
    """The use case checks the reason; the console asks, besides, for the ticked confirmation (no script needed)."""
    if text(form, CONFIRM) != CONFIRMED:
        raise ValidationError.of(CONFIRM, "tick the box to confirm that the bank transfer bounced")
    return ReversePayment(invoice_id, text(form, "reason"))


def _from_queue(form: FormMultiDict) -> bool:
    return text(form, "back") == FROM_QUEUE


def page_again(
    request: Request[Any, Any, Any], service: BillingService, console: ConsoleConfig, caller: Caller, invoice_id: str
) -> Again:
    """The page the form came from, again: the top-up queue (for operators only), or the invoice's page."""
    queue = topups.queue_again(request, service, console, caller)

    async def again(form: FormMultiDict, problem: FormProblem) -> Response[Any]:
        if _from_queue(form):
            require_operator_page(console, caller, topups.FOR_OPERATORS)
            return await queue(form, problem)
        return await invoice_page(service, console, caller, invoice_id, problem=problem)

    return again


def back_to(invoice_id: UUID, form: FormMultiDict, done: str) -> Redirect:
    """Back to the page the form came from: the top-up queue, or the invoice's page."""
    if _from_queue(form):
        return topups.back_to_queue(form, done)
    return see_other(f"/console/invoices/{invoice_id}", done=done)


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
        invoice = parse_id(invoice_id, "invoice")
        return await form_action(
            request,
            service,
            caller,
            mark_invoice_paid,
            lambda form: MarkInvoicePaid(invoice, text(form, "payment_reference")),
            refused=Refused(
                invoice_id, page_again(request, service, console, caller, invoice_id), known=("payment_reference",)
            ),
            done=lambda form, _: back_to(invoice, form, "paid"),
        )

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
        invoice = parse_id(invoice_id, "invoice")
        return await form_action(
            request,
            service,
            caller,
            void_invoice,
            lambda form: VoidInvoice(invoice, text(form, "reason")),
            refused=Refused(str(invoice), page_again(request, service, console, caller, invoice_id), known=("reason",)),
            done=lambda form, _: back_to(invoice, form, "voided"),
        )

    @post("/{invoice_id:str}/reverse-payment", status_code=303)
    async def reverse_payment(
        self,
        request: Request[Any, Any, Any],
        invoice_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        """`POST /invoices/{id}/reverse-payment`'s use case, from the invoice's page."""
        invoice = parse_id(invoice_id, "invoice")
        again = page_again(request, service, console, caller, invoice_id)
        return await form_action(
            request,
            service,
            caller,
            reverse_payment,
            lambda form: reversal(invoice, form),
            refused=Refused(REVERSE, again, known=("reason", CONFIRM)),
            done=lambda _, __: see_other(f"/console/invoices/{invoice}", done="reversed"),
        )
