"""A tenant's billing contact: the recipient of its invoice email."""

from __future__ import annotations

import attrs

from billing.application.caller import Caller
from billing.application.ports import UnitOfWork
from billing.application.runtime import Audited, Runtime, manager, requires, viewer
from billing.domain.contact import BillingContact
from billing.domain.errors import NotFoundError


@attrs.frozen
class SetBillingContact:
    email: object
    name: object = None
    tenant_id: str | None = None  # root only: another tenant's contact


@attrs.frozen
class GetBillingContact:
    tenant_id: str | None = None


def _the_contact(cmd: object, contact: BillingContact) -> tuple[str | None, str]:
    return contact.tenant_id, contact.tenant_id


@requires(manager, audit=Audited("billing_contact", "set_billing_contact", _the_contact))
async def set_billing_contact(cmd: SetBillingContact, caller: Caller, uow: UnitOfWork, rt: Runtime) -> BillingContact:
    """Manage on the own tenant, or root + Manage for any tenant."""
    tenant_id = rt.auth.tenant_of(caller, cmd.tenant_id, "billing contact", hidden=True)
    contact = BillingContact.create(tenant_id, cmd.email, cmd.name, caller.user_id, rt.clock.now())
    await uow.contacts.save(contact)
    return contact


@requires(viewer)
async def get_billing_contact(query: GetBillingContact, caller: Caller, uow: UnitOfWork, rt: Runtime) -> BillingContact:
    tenant_id = rt.auth.tenant_of(caller, query.tenant_id, "billing contact", hidden=True)
    contact = await uow.contacts.get(tenant_id)
    if contact is None:
        raise NotFoundError(f"tenant {tenant_id} has no billing contact yet")
    return contact
