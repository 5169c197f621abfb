"""Plain values from another module or an entry point (strings, numbers, dicts) turned into the application's
values and commands, in one place: amounts in the wallets' currency, wallet settings, messages to hold. Each entry
point parses its input once, here, before its use case runs; a malformed value is a ValidationError naming its
field (every one of them, for the settings)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from billing.application.handlers.holds import HoldMessage
from billing.application.handlers.wallet_settings import PutWalletSettings
from billing.domain.errors import FieldError, ValidationError
from billing.domain.money import Money, Scale
from billing.domain.pricing import parse_category, parse_window
from billing.domain.wallet_settings import DEFAULT_TIMEZONE, AutoTopup, time_zone_problem


def money(
    value: object,
    currency: str,
    *,
    field: str = "amount",
    allow_negative: bool = False,
    allow_zero: bool = False,
    scale: Scale = Scale.MINOR,
) -> Money:
    """A caller's amount in the wallets' currency (a Money is taken as it is). Top-ups and invoices have the
    currency's minor digits; charges, refunds and adjustments message scale (4 digits)."""
    if isinstance(value, Money):
        return value
    return Money.parse(value, currency, field=field, allow_negative=allow_negative, allow_zero=allow_zero, scale=scale)


def wallet_settings(
    currency: str,
    marketing_reserve: object,
    low_balance_levels: Sequence[object] | None,
    auto_topup: Mapping[str, object] | None,
    tenant_id: str | None = None,
    timezone: object = None,
) -> PutWalletSettings:
    """A settings PUT from plain values (HTTP's JSON, another module's call); every malformed amount listed, and an
    unknown time zone. Absent parts (None) take their defaults: a PUT replaces the whole."""
    problems: list[FieldError] = []
    zone = DEFAULT_TIMEZONE if timezone is None else timezone
    if (zone_problem := time_zone_problem(zone)) is not None:
        problems.append(zone_problem)

    def amount(value: object, field: str, *, allow_zero: bool = False) -> Money | None:
        if value is None:
            return None
        try:
            return money(value, currency, field=field, allow_zero=allow_zero)
        except ValidationError as error:
            problems.extend(error.errors)
            return None

    reserve = amount(marketing_reserve, "marketing_reserve", allow_zero=True) or Money.zero(currency)
    levels = [amount(level, f"low_balance_levels[{i}]") for i, level in enumerate(low_balance_levels or ())]
    problems.extend(
        FieldError(f"low_balance_levels[{i}]", "must be an amount greater than zero")
        for i, level in enumerate(low_balance_levels or ())
        if level is None
    )
    auto = dict(auto_topup or {})
    enabled = auto.get("enabled", False)
    if not isinstance(enabled, bool):
        problems.append(FieldError("auto_topup.enabled", "must be true or false"))
    automatic = AutoTopup(
        enabled is True,
        amount(auto.get("threshold"), "auto_topup.threshold", allow_zero=True),
        amount(auto.get("target"), "auto_topup.target"),
        amount(auto.get("monthly_cap"), "auto_topup.monthly_cap"),
    )
    if problems:
        raise ValidationError(problems)
    assert isinstance(zone, str)
    levels_given = tuple(level for level in levels if level is not None)
    return PutWalletSettings(reserve, tenant_id, levels_given, automatic, zone)


def hold_message(
    message_id: str,
    category: str,
    recipient: str,
    window: str | None,
    index: int | None = None,
    phone_number_id: str | None = None,
) -> HoldMessage:
    """One message to hold; in a batch (`index`), its fields are named `messages[i].…` in errors."""
    prefix = "" if index is None else f"messages[{index}]."
    parsed, free_reason = parse_category(category, field=f"{prefix}category")
    window_of = parse_window(window, field=f"{prefix}window")
    return HoldMessage(message_id, parsed, recipient, window_of, free_reason, phone_number_id)
