"""Wallet settings (contract v2 §10): the clinic's protections. Read with View; replaced whole with Manage on the
own tenant, or by an operator (root + Manage) naming the tenant."""

from __future__ import annotations

import attrs

from billing.application.caller import VIEW, Caller
from billing.application.ports import UnitOfWork
from billing.application.runtime import Runtime, manager, requires, viewer
from billing.domain.errors import ForbiddenError
from billing.domain.money import Money
from billing.domain.tenant import validate_tenant_id
from billing.domain.wallet_settings import AutoTopup, WalletSettings


@attrs.frozen
class GetWalletSettings:
    tenant_id: str | None = None  # root only: another tenant's


@attrs.frozen
class PutWalletSettings:
    marketing_reserve: Money
    tenant_id: str | None = None  # root only: another tenant's
    low_balance_levels: tuple[Money, ...] = ()
    auto_topup: AutoTopup = attrs.field(factory=AutoTopup)


def _settings_tenant(caller: Caller, tenant_id: str | None, rt: Runtime) -> str:
    """The caller's own tenant, or (root only) the one named."""
    if tenant_id is None or tenant_id == caller.tenant_id:
        return caller.tenant_id
    validate_tenant_id(tenant_id)
    if not rt.auth.is_root(caller):
        raise ForbiddenError("only an operator of the platform may see another tenant's settings")
    return tenant_id


@requires(viewer)
async def get_wallet_settings(query: GetWalletSettings, caller: Caller, uow: UnitOfWork, rt: Runtime) -> WalletSettings:
    rt.auth.require(caller, VIEW)
    tenant_id = _settings_tenant(caller, query.tenant_id, rt)
    stored = await uow.wallet_settings.get(tenant_id)
    return stored or WalletSettings.defaults(tenant_id, rt.settings.currency)


@requires(manager)
async def put_wallet_settings(cmd: PutWalletSettings, caller: Caller, uow: UnitOfWork, rt: Runtime) -> WalletSettings:
    """A PUT replaces the whole; Manage is needed on whichever tenant it names."""
    tenant_id = _settings_tenant(caller, cmd.tenant_id, rt)
    currency = rt.settings.currency
    settings = WalletSettings.create(
        tenant_id,
        cmd.marketing_reserve,
        currency,
        caller.user_id,
        rt.clock.now(),
        low_balance_levels=cmd.low_balance_levels,
        auto_topup=cmd.auto_topup,
        topup_minimum=Money(rt.settings.topup_min_amount, currency),
    )
    await uow.wallet_settings.save(settings)
    return settings
