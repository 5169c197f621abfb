"""Wallet settings (`wallet_settings`): one row per tenant that saved any; none means the defaults.

The time zone is read by PostgreSQL in the tiers' statements (rate_cards.py), so a save first asks PostgreSQL how it
reads the name: a name its time zone database does not know, or reads otherwise than the domain (another tz
release), is refused as the domain refuses an unknown one (400, `timezone`), and nothing is stored."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from billing.adapters.sqlalchemy.base import Row, SqlAlchemyRepository
from billing.adapters.sqlalchemy.tables import wallet_settings
from billing.domain.errors import ValidationError
from billing.domain.money import Money
from billing.domain.wallet_settings import (
    DEFAULT_TIMEZONE,
    TIMEZONE,
    AutoTopup,
    WalletSettings,
    month_boundaries,
    month_in,
)

# A save asks PostgreSQL which month it reads, in the zone, at each month's first instant there and the second
# before it, from 2026 to 2035 (the domain's `month_boundaries`): the tiers' statements find the month with `AT TIME
# ZONE`, so a zone the database reads otherwise than the IANA database the domain uses (a fixed-offset abbreviation
# such as CET, or an older copy of the rules, as some embedded servers ship) is refused rather than counting a
# message in the wrong month. `pg_timezone_names` lists the zones the database knows without an error that would
# abort the unit's transaction (a PUT is rare: its scan of the time zone files is no hot path).
_READING = """
    SELECT to_char(at AT TIME ZONE %(name)s, 'YYYY-MM') AS month
    FROM unnest(%(instants)s::timestamptz[]) WITH ORDINALITY AS t(at, n)
    WHERE EXISTS (SELECT FROM pg_timezone_names WHERE name = %(name)s)
    ORDER BY n
"""
_NOT_KNOWN_HERE = "is not a time zone this service's database reads as the IANA database does"


class SqlAlchemyWalletSettingsRepository(SqlAlchemyRepository):
    async def get(self, tenant_id: str) -> WalletSettings | None:
        query = select(wallet_settings).where(wallet_settings.c.tenant_id == tenant_id)
        row = (await self._execute(query)).mappings().first()
        return None if row is None else settings_from_row(row)

    async def save(self, settings: WalletSettings) -> None:
        """A PUT replaces the whole: an upsert, so that two first saves racing end with the later one."""
        await self._check_time_zone(settings.timezone)
        values = settings_to_row(settings)
        statement = pg_insert(wallet_settings).values(values)
        await self._execute(
            statement.on_conflict_do_update(
                index_elements=[wallet_settings.c.tenant_id],
                set_={name: statement.excluded[name] for name in values if name != "tenant_id"},
            )
        )

    async def _check_time_zone(self, name: str) -> None:
        if name == DEFAULT_TIMEZONE:
            return
        instants = month_boundaries(name)
        found = await self._fetch_all_on_driver(_READING, {"instants": instants, "name": name})
        if [row["month"] for row in found] != [month_in(at, name) for at in instants]:
            raise ValidationError.of(TIMEZONE, _NOT_KNOWN_HERE)


# Rows <-> domain: every field written and read back (tests/integration/test_reloading.py reloads them).


def settings_to_row(settings: WalletSettings) -> dict[str, Any]:
    if settings.updated_by is None or settings.updated_at is None:
        raise ValueError("only saved settings (with who and when) are stored; the defaults are not")
    auto = settings.auto_topup
    watch_below = settings.watch_below
    return {
        "tenant_id": settings.tenant_id,
        "currency": settings.marketing_reserve.currency,
        "marketing_reserve": settings.marketing_reserve.amount,
        "updated_by": settings.updated_by,
        "updated_at": settings.updated_at,
        "low_balance_levels": [level.amount for level in settings.low_balance_levels],
        "auto_topup_enabled": auto.enabled,
        "auto_topup_threshold": _amount_or_none(auto.threshold),
        "auto_topup_target": _amount_or_none(auto.target),
        "auto_topup_monthly_cap": _amount_or_none(auto.monthly_cap),
        "watch_below": _amount_or_none(watch_below),
        "timezone": settings.timezone,
    }


def settings_from_row(row: Row) -> WalletSettings:
    currency = row["currency"]
    return WalletSettings(
        tenant_id=row["tenant_id"],
        marketing_reserve=Money(row["marketing_reserve"], currency),
        low_balance_levels=tuple(Money(level, currency) for level in row["low_balance_levels"]),
        auto_topup=AutoTopup(
            row["auto_topup_enabled"],
            _money_or_none(row["auto_topup_threshold"], currency),
            _money_or_none(row["auto_topup_target"], currency),
            _money_or_none(row["auto_topup_monthly_cap"], currency),
        ),
        updated_by=row["updated_by"],
        updated_at=row["updated_at"],
        timezone=row["timezone"],
    )


def _amount_or_none(money: Money | None) -> Decimal | None:
    return None if money is None else money.amount


def _money_or_none(amount: Decimal | None, currency: str) -> Money | None:
    return None if amount is None else Money(amount, currency)
