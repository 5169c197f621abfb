"""A wallet's settings (contract v2 §10): `GET /wallet/settings`, `PUT /wallet/settings` (`?tenant_id=` for root).

A PUT replaces the whole: a field it leaves out takes its default. The request and response structs live beside
their routes."""

from __future__ import annotations

import msgspec
from litestar import Controller, Response, get, put
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody

from billing.application import inputs
from billing.application.caller import Caller
from billing.application.handlers import wallet_settings
from billing.application.handlers.wallet_settings import GetWalletSettings
from billing.application.service import BillingService
from billing.domain.money import Money
from billing.domain.wallet_settings import WalletSettings
from billing.entrypoints.http.body import JsonBody
from billing.entrypoints.http.controllers.params import rendered
from billing.entrypoints.http.idempotency import Idempotency
from billing.entrypoints.http.problems import problem_responses
from billing.entrypoints.json_body import Body, RawAmount, amount_text

RESERVE = "marketing_reserve"


class AutoTopupIn(Body):
    enabled: bool = False
    threshold: RawAmount | msgspec.UnsetType = msgspec.UNSET
    target: RawAmount | msgspec.UnsetType = msgspec.UNSET
    monthly_cap: RawAmount | msgspec.UnsetType = msgspec.UNSET

    def values(self) -> dict[str, object]:
        return {
            "enabled": self.enabled,
            "threshold": amount_text(self.threshold, "auto_topup.threshold"),
            "target": amount_text(self.target, "auto_topup.target"),
            "monthly_cap": amount_text(self.monthly_cap, "auto_topup.monthly_cap"),
        }


class WalletSettingsUpdate(Body):
    # Unset (or null): the default (a PUT replaces the whole).
    marketing_reserve: RawAmount | msgspec.UnsetType = msgspec.UNSET
    low_balance_levels: list[RawAmount] | None = None
    auto_topup: AutoTopupIn | None = None
    timezone: str | None = None  # an IANA name (contract v3 §16); the default "UTC"


class AutoTopupOut(msgspec.Struct, kw_only=True):
    enabled: bool
    threshold: str | None
    target: str | None
    monthly_cap: str | None


class WalletSettingsOut(msgspec.Struct, kw_only=True):
    marketing_reserve: str  # a marketing hold may not take `available` below it
    low_balance_levels: list[str]  # an alert when `available` falls below one of them
    auto_topup: AutoTopupOut  # a top-up request when `available` falls below the threshold
    timezone: str  # an IANA name: tiers count calendar months of message time in it

    @classmethod
    def of(cls, settings: WalletSettings) -> WalletSettingsOut:
        auto = settings.auto_topup
        return cls(
            marketing_reserve=str(settings.marketing_reserve),
            low_balance_levels=[str(level) for level in settings.low_balance_levels],
            auto_topup=AutoTopupOut(
                enabled=auto.enabled,
                threshold=_text(auto.threshold),
                target=_text(auto.target),
                monthly_cap=_text(auto.monthly_cap),
            ),
            timezone=settings.timezone,
        )


def _text(amount: Money | None) -> str | None:
    return None if amount is None else str(amount)


class WalletSettingsController(Controller):
    path = "/wallet/settings"
    tags = ["wallet settings"]

    @get("/", operation_id="get_wallet_settings", responses=problem_responses("forbidden"))
    async def get_wallet_settings(
        self,
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        tenant_id: FromQuery[str | None] = None,
    ) -> WalletSettingsOut:
        """The tenant's settings, or the defaults (`?tenant_id=` for the root tenant)."""
        query = GetWalletSettings(tenant_id)
        return WalletSettingsOut.of(await service.execute(wallet_settings.get_wallet_settings, query, caller))

    @put(
        "/",
        operation_id="set_wallet_settings",
        dto=JsonBody[WalletSettingsUpdate],
        return_dto=None,
        responses=problem_responses("forbidden", "payload_too_large"),
    )
    async def set_wallet_settings(
        self,
        data: JSONBody[WalletSettingsUpdate],
        service: NamedDependency[BillingService],
        caller: NamedDependency[Caller],
        idempotency: NamedDependency[Idempotency],
        tenant_id: FromQuery[str | None] = None,
    ) -> Response[WalletSettingsOut]:
        """Replace the settings: Manage on the own tenant, or root + Manage naming `?tenant_id=`."""
        levels = [
            amount_text(level, f"low_balance_levels[{i}]") for i, level in enumerate(data.low_balance_levels or [])
        ]
        auto = None if data.auto_topup is None else data.auto_topup.values()
        reserve = amount_text(data.marketing_reserve, RESERVE)
        currency = service.runtime.settings.currency
        cmd = inputs.wallet_settings(currency, reserve, levels, auto, tenant_id, data.timezone)
        return await idempotency.run(
            wallet_settings.put_wallet_settings, cmd, caller, rendered(200, WalletSettingsOut.of)
        )
