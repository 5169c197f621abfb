"""A wallet's settings (contract v2 §10): `GET /wallet/settings`, `PUT /wallet/settings` (`?tenant_id=` for root).

A PUT replaces the whole: a field it leaves out takes its default. The request and response structs live beside
their routes."""

from __future__ import annotations

import msgspec
from litestar import Controller, Response, get, put
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody

from billing.application.caller import Caller
from billing.application.handlers import wallet_settings
from billing.application.handlers.wallet_settings import GetWalletSettings, PutWalletSettings
from billing.application.service import BillingService
from billing.domain.money import Money
from billing.domain.wallet_settings import WalletSettings
from billing.entrypoints.http.body import JsonBody
from billing.entrypoints.http.controllers.params import rendered
from billing.entrypoints.http.idempotency import Idempotency
from billing.entrypoints.http.problems import problem_responses
from billing.entrypoints.http.schemas import Body, RawAmount, amount_text

RESERVE = "marketing_reserve"


class WalletSettingsUpdate(Body):
    # Unset: the default, 0 (a PUT replaces the whole).
    marketing_reserve: RawAmount | msgspec.UnsetType = msgspec.UNSET


class WalletSettingsOut(msgspec.Struct, kw_only=True):
    marketing_reserve: str  # a marketing hold may not take `available` below it

    @classmethod
    def of(cls, settings: WalletSettings) -> WalletSettingsOut:
        return cls(marketing_reserve=str(settings.marketing_reserve))


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
        given = amount_text(data.marketing_reserve, RESERVE)
        currency = service.runtime.settings.currency
        reserve = Money.zero(currency) if given is None else service.money(given, field=RESERVE, allow_zero=True)
        cmd = PutWalletSettings(reserve, tenant_id)
        return await idempotency.run(
            wallet_settings.put_wallet_settings, cmd, caller, rendered(200, WalletSettingsOut.of)
        )
