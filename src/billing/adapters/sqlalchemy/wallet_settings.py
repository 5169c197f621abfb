"""Wallet settings (`wallet_settings`): one row per tenant that saved any; none means the defaults."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from billing.adapters.sqlalchemy import rows
from billing.adapters.sqlalchemy.base import SqlAlchemyRepository
from billing.adapters.sqlalchemy.tables import wallet_settings
from billing.domain.wallet_settings import WalletSettings


class SqlAlchemyWalletSettingsRepository(SqlAlchemyRepository):
    async def get(self, tenant_id: str) -> WalletSettings | None:
        query = select(wallet_settings).where(wallet_settings.c.tenant_id == tenant_id)
        row = (await self._execute(query)).mappings().first()
        return None if row is None else rows.settings_from_row(row)

    async def save(self, settings: WalletSettings) -> None:
        """A PUT replaces the whole: an upsert, so that two first saves racing end with the later one."""
        values = rows.settings_to_row(settings)
        statement = pg_insert(wallet_settings).values(values)
        await self._execute(
            statement.on_conflict_do_update(
                index_elements=[wallet_settings.c.tenant_id],
                set_={name: statement.excluded[name] for name in values if name != "tenant_id"},
            )
        )
