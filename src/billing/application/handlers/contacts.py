"""A tenant's billing contact: the recipient of its invoice email."""

from __future__ import annotations

import attrs

from billing.application.caller import VIEW, Caller
from billing.application.ports import UnitOfWork
from billing.application.runtime import Runtime, manager, requires
from billing.domain.contact import BillingContact
from billing.domain.errors import NotFoundError
from billing.domain.tenant import validate_tenant_id


@attrs.frozen
class SetBillingContact:
    email: object
    name: object = None
    tenant_id: str | None = None  # root only: another tenant's contact


@attrs.frozen
class GetBillingContact:
    tenant_id: str | None = None


def _target_tenant(caller: Caller, tenant_id: str | None, rt: Runtime) -> str:
    """Own tenant, or (root only) the tenant named; a clinic naming another tenant sees nothing."""
    if tenant_id is None or tenant_id == caller.tenant_id:
        return caller.tenant_id
    validate_tenant_id(tenant_id)
    if not rt.auth.is_root(caller):
        raise NotFoundError("billing contact not found")
    return tenant_id


@requires(manager)
async def set_billing_contact(cmd: SetBillingContact, caller: Caller, uow: UnitOfWork, rt: Runtime) -> BillingContact:
    """Manage on the own tenant, or root + Manage for any tenant."""
    tenant_id = _target_tenant(caller, cmd.tenant_id, rt)
    contact = BillingContact.create(tenant_id, cmd.email, cmd.name, caller.user_id, rt.clock.now())
    await uow.contacts.save(contact)
    return contact


async def get_billing_contact(query: GetBillingContact, caller: Caller, uow: UnitOfWork, rt: Runtime) -> BillingContact:
    rt.auth.require(caller, VIEW)
    tenant_id = _target_tenant(caller, query.tenant_id, rt)
    contact = await uow.contacts.get(tenant_id)
    if contact is None:
        raise NotFoundError(f"tenant {tenant_id} has no billing contact yet")
    return contact
