"""Who is asking, and the authorization rules of the contract (§3), applied for every entry point."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from billing.domain.errors import ForbiddenError, NotFoundError
from billing.domain.tenant import validate_tenant_id
from billing.domain.text import validate_text

VIEW = "Billing.View"
MANAGE = "Billing.Manage"
MAX_USER_ID_LENGTH = 200


def _permissions(value: Iterable[str]) -> frozenset[str]:
    if isinstance(value, str):  # frozenset("Billing.View") would be a set of letters
        raise TypeError("permissions must be a collection of permission names, not one string")
    return frozenset(value)


def _user_id(_: object, __: object, value: str) -> None:
    validate_text(value, field="user_id", max_length=MAX_USER_ID_LENGTH, required=True)


@attrs.frozen
class Caller:
    user_id: str = attrs.field(validator=_user_id)
    tenant_id: str = attrs.field(validator=lambda _, __, v: validate_tenant_id(v))
    permissions: frozenset[str] = attrs.field(converter=_permissions)
    email: str | None = None

    def can(self, permission: str) -> bool:
        return permission in self.permissions


@attrs.frozen
class Authorizer:
    """The rules, bound to the deployment's root tenant."""

    root_tenant: str

    def is_root(self, caller: Caller) -> bool:
        return caller.tenant_id == self.root_tenant

    def is_operator_viewer(self, caller: Caller) -> bool:
        """The root tenant with View: who may look at what only the platform's operators see."""
        return self.is_root(caller) and caller.can(VIEW)

    def is_operator(self, caller: Caller) -> bool:
        """`require_operator`'s rule as a question: the root tenant with Manage."""
        return self.is_root(caller) and caller.can(MANAGE)

    def require(self, caller: Caller, permission: str) -> None:
        if not caller.can(permission):
            raise ForbiddenError(f"this needs the {permission} permission")

    def require_operator(self, caller: Caller) -> None:
        """Operator actions need Manage *and* the root tenant: a clinic never credits itself."""
        self.require(caller, MANAGE)
        if not self.is_root(caller):
            raise ForbiddenError("only an operator of the platform may do this")

    def require_root_viewer(self, caller: Caller) -> None:
        self.require(caller, VIEW)
        if not self.is_root(caller):
            raise ForbiddenError("only an operator of the platform may see another tenant's wallet")

    def ensure_visible(self, caller: Caller, tenant_id: str, what: str) -> None:
        """Another tenant's single resource is 'not found': its existence is not revealed."""
        if tenant_id != caller.tenant_id and not self.is_root(caller):
            raise NotFoundError(f"{what} not found")

    def tenant_of(
        self, caller: Caller, named: str | None, what: str, *, operators_view: bool = False, hidden: bool = False
    ) -> str:
        """Whose resource a use case acts on: the caller's own tenant when none is named. The one resolver of
        "own tenant, or the root names one" (contract §3), in its two forms:

        - `operators_view`: a tenant named at all is the operators' view (`/wallets/{tenant_id}/...`): root + View,
          even when it is the caller's own (the own one is read without naming it: `/wallet/me/...`);
        - otherwise the own tenant named is the own tenant, and another one needs the root tenant: a clinic naming
          another tenant is refused, or, with `hidden`, finds nothing (`{what} not found`: its existence is not
          revealed)."""
        if named is None:
            return caller.tenant_id
        if operators_view:
            self.require_root_viewer(caller)
            return validate_tenant_id(named)
        if named == caller.tenant_id:
            return caller.tenant_id
        validate_tenant_id(named)
        if not self.is_root(caller):
            if hidden:
                raise NotFoundError(f"{what} not found")
            raise ForbiddenError(f"only an operator of the platform may see another tenant's {what}")
        return named

    def list_scope(self, caller: Caller, tenant_id: str | None) -> ListScope:
        """Lists: root sees what it asks for; others only their own tenant, and an empty page
        when they filter by another tenant."""
        if tenant_id is not None:
            validate_tenant_id(tenant_id)
        if self.is_root(caller):
            return ListScope(tenant_id, empty=False)
        return ListScope(caller.tenant_id, empty=tenant_id not in (None, caller.tenant_id))


@attrs.frozen
class ListScope:
    tenant_id: str | None
    empty: bool
