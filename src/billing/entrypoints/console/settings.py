"""The wallet's settings in the console (contract v2 §10): the marketing reserve, up to five low-balance levels, the
automatic top-up and the time zone the tiers count months in (v3 §16), read and replaced as `GET`/`PUT
/wallet/settings` do.

A clinic edits its own with Billing.Manage; with View alone the form is read-only, and a save anyway gets the
API's forbidden message. An operator opens a tenant's from the operators' wallet page (root + View to see it,
root + Manage to save it, as `?tenant_id=` needs). A refused save shows the API's messages beside the fields it
names, with the form as it was typed; nothing is saved.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import attrs
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency
from litestar.params import FromPath

from billing.application import inputs
from billing.application.caller import MANAGE, Caller
from billing.application.handlers.wallet_settings import (
    GetWalletSettings,
    PutWalletSettings,
    get_wallet_settings,
    put_wallet_settings,
)
from billing.application.service import BillingService
from billing.domain.errors import BillingError, FieldError, ValidationError
from billing.domain.money import Money
from billing.domain.wallet_settings import DEFAULT_TIMEZONE, MAX_LEVELS, TIMEZONE, WalletSettings
from billing.entrypoints.console.forms import Refusal, form_action, see_other
from billing.entrypoints.console.views import (
    TENANT_WALLETS_FOR_OPERATORS,
    ConsoleConfig,
    FormProblem,
    operators_only,
    optional,
    render,
    text,
)

SETTINGS = "settings"  # the form's name, for the messages beside its fields
RESERVE = "marketing_reserve"
LEVELS = "low_balance_levels"
AUTO_AMOUNTS = ("threshold", "target", "monthly_cap")
ENABLED = "auto_topup.enabled"
SAVED = "The settings were saved. They apply from the next hold, charge or settle on."
_LEVEL = re.compile(r"low_balance_levels\[(\d+)\]")


def level_field(slot: int) -> str:
    return f"{LEVELS}[{slot}]"


def auto_field(name: str) -> str:
    return f"auto_topup.{name}"


# The form's fields are named as the API names them in its messages.
FIELDS = (
    RESERVE,
    LEVELS,
    *(level_field(slot) for slot in range(MAX_LEVELS)),
    ENABLED,
    *(auto_field(name) for name in AUTO_AMOUNTS),
    TIMEZONE,
)


@attrs.frozen
class SettingsForm:
    """The form's values as text: the stored settings, or what was typed."""

    marketing_reserve: str = ""
    levels: tuple[str, ...] = ("",) * MAX_LEVELS
    enabled: bool = False
    threshold: str = ""
    target: str = ""
    monthly_cap: str = ""
    timezone: str = DEFAULT_TIMEZONE

    @classmethod
    def of_settings(cls, settings: WalletSettings) -> SettingsForm:
        levels = [str(level) for level in settings.low_balance_levels]
        auto = settings.auto_topup
        return cls(
            str(settings.marketing_reserve),
            tuple(levels + [""] * (MAX_LEVELS - len(levels))),
            auto.enabled,
            _text(auto.threshold),
            _text(auto.target),
            _text(auto.monthly_cap),
            settings.timezone,
        )

    @classmethod
    def of_form(cls, form: FormMultiDict) -> SettingsForm:
        threshold, target, monthly_cap = (text(form, auto_field(name)) for name in AUTO_AMOUNTS)
        return cls(
            text(form, RESERVE),
            tuple(text(form, level_field(slot)) for slot in range(MAX_LEVELS)),
            bool(text(form, ENABLED)),
            threshold,
            target,
            monthly_cap,
            text(form, TIMEZONE),
        )

    @property
    def filled_slots(self) -> list[int]:
        """The slots with a level typed in: an empty slot is no level."""
        return [slot for slot, level in enumerate(self.levels) if level.strip()]

    def command(self, service: BillingService, caller: Caller, tenant_id: str | None) -> PutWalletSettings:
        """The PUT's command, with the caller's permission checked before the values are looked at."""
        put_wallet_settings.authorize(caller, service.runtime)
        auto = {"enabled": self.enabled, **{name: optional(getattr(self, name).strip()) for name in AUTO_AMOUNTS}}
        return inputs.wallet_settings(
            service.runtime.settings.currency,
            optional(self.marketing_reserve.strip()),
            [self.levels[slot].strip() for slot in self.filled_slots],
            auto,
            tenant_id,
            optional(self.timezone.strip()),  # empty: the default, as a PUT without it
        )


def in_slots(error: ValidationError, slots: Sequence[int]) -> ValidationError:
    """The API numbers the levels it was given; the form leaves its empty slots out, so a level's message goes back
    beside the slot it was typed in."""

    def field(name: str) -> str:
        match = _LEVEL.fullmatch(name)
        if match is None or int(match.group(1)) >= len(slots):
            return name
        return level_field(slots[int(match.group(1))])

    return ValidationError([FieldError(field(e.field), e.message) for e in error.errors])


def _text(amount: Money | None) -> str:
    return "" if amount is None else str(amount)


async def settings_page(
    service: BillingService,
    console: ConsoleConfig,
    caller: Caller,
    tenant_id: str | None,
    *,
    form: SettingsForm | None = None,
    notice: str | None = None,
    problem: FormProblem | None = None,
) -> Response[Any]:
    """The own settings (`tenant_id` None), or a tenant's in the operators' pages."""
    stored = await service.execute(get_wallet_settings, GetWalletSettings(tenant_id), caller)
    own = tenant_id is None
    return render(
        "wallet_settings.html",
        console,
        caller,
        status=problem.status if problem else 200,
        active="wallet" if own else "wallets",
        settings=stored,
        form=form or SettingsForm.of_settings(stored),
        editable=caller.can(MANAGE),
        action=_settings_path(tenant_id),
        back="/console/wallet" if own else f"/console/wallets/{stored.tenant_id}",
        max_levels=MAX_LEVELS,
        limits=console.billing,
        notice=notice,
        problem=problem,
    )


def _settings_path(tenant_id: str | None) -> str:
    return "/console/wallet/settings" if tenant_id is None else f"/console/wallets/{tenant_id}/settings"


def settings_again(service: BillingService, console: ConsoleConfig, caller: Caller, tenant_id: str | None) -> Refusal:
    """The form again as it was typed, a ValidationError's levels named by the slot they were typed in."""

    async def again(sent: FormMultiDict, error: BillingError) -> Response[Any]:
        form = SettingsForm.of_form(sent)
        if isinstance(error, ValidationError):
            error = in_slots(error, form.filled_slots)
        problem = FormProblem.of(error, SETTINGS, known=FIELDS)
        return await settings_page(service, console, caller, tenant_id, form=form, problem=problem)

    return again


async def save_settings(
    request: Request[Any, Any, Any],
    service: BillingService,
    console: ConsoleConfig,
    caller: Caller,
    tenant_id: str | None,
) -> Response[Any]:
    return await form_action(
        request,
        service,
        caller,
        put_wallet_settings,
        lambda form: SettingsForm.of_form(form).command(service, caller, tenant_id),
        refused=settings_again(service, console, caller, tenant_id),
        done=lambda _, __: see_other(_settings_path(tenant_id), done="saved"),
    )


def _notice(request: Request[Any, Any, Any]) -> str | None:
    return SAVED if request.query_params.get("done") == "saved" else None


class WalletSettingsPage(Controller):
    """The clinic's own settings, from its wallet page."""

    path = "/wallet/settings"

    @get("/", name="console-wallet-settings")
    async def show(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        return await settings_page(service, console, caller, None, notice=_notice(request))

    @post("/", status_code=303)
    async def save(
        self,
        request: Request[Any, Any, Any],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        return await save_settings(request, service, console, caller, None)


class TenantSettingsPage(Controller):
    """A tenant's settings, from the operators' page of its wallet."""

    path = "/wallets/{tenant_id:str}/settings"
    opt = operators_only(TENANT_WALLETS_FOR_OPERATORS)

    @get("/", name="console-tenant-settings")
    async def show(
        self,
        request: Request[Any, Any, Any],
        tenant_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        return await settings_page(service, console, caller, tenant_id, notice=_notice(request))

    @post("/", status_code=303)
    async def save(
        self,
        request: Request[Any, Any, Any],
        tenant_id: FromPath[str],
        caller: NamedDependency[Caller],
        service: NamedDependency[BillingService],
        console: NamedDependency[ConsoleConfig],
    ) -> Response[Any]:
        return await save_settings(request, service, console, caller, tenant_id)
