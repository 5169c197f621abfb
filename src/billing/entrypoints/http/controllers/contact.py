"""A tenant's billing contact, the recipient of its invoice email: `GET /contact`, `PUT /contact`."""

from __future__ import annotations

from litestar import Controller, Response, get, put
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody

from billing.application.caller import Caller
from billing.application.handlers.contacts import (
    GetBillingContact,
    SetBillingContact,
    get_billing_contact,
    set_billing_contact,
)
from billing.application.service import BillingService
from billing.entrypoints.http.body import JsonBody
from billing.entrypoints.http.controllers.params import rendered
from billing.entrypoints.http.idempotency import Idempotency
from billing.entrypoints.http.problems import problem_responses
from billing.entrypoints.http.schemas import ContactOut, ContactUpdate


class ContactController(Controller):
    path = "/contact"
    tags = ["contact"]

    @get("/", operation_id="get_billing_contact", responses=problem_responses("forbidden", "not_found"))
    async def get_billing_contact(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        tenant_id: FromQuery[str | None] = None,
    ) -> ContactOut:
        """The tenant's billing contact (`?tenant_id=` for the root tenant)."""
        contact = await service.execute(get_billing_contact, GetBillingContact(tenant_id), caller)
        return ContactOut.of(contact)

    @put(
        "/",
        operation_id="set_billing_contact",
        dto=JsonBody[ContactUpdate],
        return_dto=None,
        responses=problem_responses("forbidden", "not_found", "payload_too_large"),
    )
    async def set_billing_contact(
        self,
        data: JSONBody[ContactUpdate],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        tenant_id: FromQuery[str | None] = None,
    ) -> Response[ContactOut]:
        """Set who receives invoice email: Manage on the own tenant, or root + Manage for any tenant."""
        cmd = SetBillingContact(data.email, data.name, tenant_id)
        return await idempotency.run(set_billing_contact, cmd, caller, rendered(200, ContactOut.of))
