"""Wallet settings (contract v2 §10): the clinic's protections. Read with View; replaced whole with Manage on the
own tenant, or by an operator (root + Manage) naming the tenant."""

from __future__ import annotations

import attrs

from billing.application.caller import Caller
from billing.application.ports import UnitOfWork
from billing.application.runtime import Audited, Runtime, manager, requires, viewer
from billing.domain.money import Money
from billing.domain.wallet_settings import DEFAULT_TIMEZONE, AutoTopup, WalletSettings


@attrs.frozen
class GetWalletSettings:
    tenant_id: str | None = None  # root only: another tenant's


@attrs.frozen
class PutWalletSettings:
    marketing_reserve: Money
    tenant_id: str | None = None  # root only: another tenant's
    low_balance_levels: tuple[Money, ...] = ()
    auto_topup: AutoTopup = attrs.field(factory=AutoTopup)
    timezone: str = DEFAULT_TIMEZONE  # an IANA name: the tiers' months (contract v3 §16)


@requires(viewer)
async def get_wallet_settings(query: GetWalletSettings, caller: Caller, uow: UnitOfWork, rt: Runtime) -> WalletSettings:
    tenant_id = rt.auth.tenant_of(caller, query.tenant_id, "settings")
    stored = await uow.wallet_settings.get(tenant_id)
    return stored or WalletSettings.defaults(tenant_id, rt.settings.currency)


def _the_wallet(cmd: object, settings: WalletSettings) -> tuple[str | None, str]:
    return settings.tenant_id, settings.tenant_id


@requires(manager, audit=Audited("wallet", "set_settings", _the_wallet))
async def put_wallet_settings(cmd: PutWalletSettings, caller: Caller, uow: UnitOfWork, rt: Runtime) -> WalletSettings:
    """A PUT replaces the whole; Manage is needed on whichever tenant it names."""
    tenant_id = rt.auth.tenant_of(caller, cmd.tenant_id, "settings")
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
        timezone=cmd.timezone,
    )
    await uow.wallet_settings.save(settings)
    return settings
