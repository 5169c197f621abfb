"""The tenant's time zone in PostgreSQL (contract v3 §16): the tiers' statements find the month with `AT TIME ZONE`,
so PostgreSQL must read every name a clinic may choose as the domain (zoneinfo) does, and a save refuses a name it
reads otherwise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.domain.errors import ValidationError
from billing.domain.money import Money
from billing.domain.pricing import Category
from billing.domain.wallet_settings import WalletSettings, known_time_zones, month_in

pytestmark = pytest.mark.postgres

TENANT = "clinic-a"
AT = datetime(2026, 11, 26, 12, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def local_month_starts(zone: str) -> list[datetime]:
    """The instants each month of 2026 and 2027 begins at in `zone` (midnight on the 1st there), in UTC."""
    tz = ZoneInfo(zone)
    starts = []
    for index in range(24):
        local = datetime(2026 + index // 12, index % 12 + 1, 1, tzinfo=tz)
        starts.append(local.astimezone(UTC))
    return starts


async def test_postgresql_finds_the_month_as_the_domain_does_or_the_zone_cannot_be_saved(engine: AsyncEngine) -> None:
    """Each month's first instant and the one a second before it, in every name a clinic may choose: PostgreSQL
    finds the same month as `month_in`, or a save refuses the name (CET and its kind, read by PostgreSQL as fixed
    abbreviations, are not choosable at all; a server whose copy of the IANA rules is older than the domain's, as
    some embedded servers ship, reads a few zones otherwise: those are refused on that server)."""
    zones, instants = [], []
    for zone in sorted(known_time_zones()):
        for start in local_month_starts(zone):
            zones += [zone, zone]
            instants += [start, start - SECOND]
    query = text(
        "SELECT to_char(at AT TIME ZONE zone, 'YYYY-MM') AS month"
        " FROM unnest(CAST(:zones AS text[]), CAST(:instants AS timestamptz[])) WITH ORDINALITY AS t(zone, at, n)"
        " ORDER BY n"
    )
    async with engine.connect() as connection:
        found = (await connection.execute(query, {"zones": zones, "instants": instants})).scalars().all()

    expected = [month_in(at, zone) for zone, at in zip(zones, instants, strict=True)]
    differing = sorted({z for z, f, e in zip(zones, found, expected, strict=True) if f != e})
    assert len(differing) <= len(known_time_zones()) // 20, differing  # a few zones' rules, never a systematic slip
    for zone in differing:
        async with SqlAlchemyUnitOfWork(engine) as uow:
            settings = WalletSettings.create(TENANT, Money(Decimal(0), "USD"), "USD", "u", AT, timezone=zone)
            with pytest.raises(ValidationError):
                await uow.wallet_settings.save(settings)


async def test_the_tiers_counter_counts_in_the_saved_time_zones_month(engine: AsyncEngine) -> None:
    boundary = datetime(2026, 10, 31, 19, 0, tzinfo=UTC)  # 00:30 on 1 November in Kolkata
    async with SqlAlchemyUnitOfWork(engine) as uow:
        settings = WalletSettings.create(TENANT, Money(Decimal(0), "USD"), "USD", "u", AT, timezone="Asia/Kolkata")
        await uow.wallet_settings.save(settings)
        await uow.message_counts.add_settled(TENANT, boundary, "India", Category.UTILITY, 3)
        await uow.message_counts.add_settled("clinic-b", boundary, "India", Category.UTILITY, 5)  # no settings: UTC
        await uow.commit()

    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT tenant_id, month, settled FROM message_counts ORDER BY 1"))).all()
    assert [tuple(row) for row in rows] == [(TENANT, "2026-11", 3), ("clinic-b", "2026-10", 5)]
    async with SqlAlchemyUnitOfWork(engine) as uow:
        november = await uow.message_counts.settled(TENANT, boundary, Category.UTILITY, ["India"])
        october = await uow.message_counts.settled(TENANT, boundary - timedelta(hours=1), Category.UTILITY, ["India"])
    assert (november, october) == ({"India": 3}, {"India": 0})


async def test_a_save_refuses_a_name_postgresql_reads_otherwise_and_stores_nothing(engine: AsyncEngine) -> None:
    """`CET` is a zone with summer time to zoneinfo and a fixed UTC+1 abbreviation to PostgreSQL: were the domain
    to let it through, the repository still would not store it."""
    settings = WalletSettings(TENANT, Money(Decimal(0), "USD"), updated_by="u", updated_at=AT, timezone="CET")

    async with SqlAlchemyUnitOfWork(engine) as uow:
        with pytest.raises(ValidationError) as refused:
            await uow.wallet_settings.save(settings)

    assert [error.field for error in refused.value.errors] == ["timezone"]
    async with SqlAlchemyUnitOfWork(engine) as uow:
        assert await uow.wallet_settings.get(TENANT) is None


async def test_a_saved_time_zone_reloads(engine: AsyncEngine) -> None:
    settings = WalletSettings.create(TENANT, Money(Decimal("2.50"), "USD"), "USD", "u", AT, timezone="Asia/Kathmandu")
    async with SqlAlchemyUnitOfWork(engine) as uow:
        await uow.wallet_settings.save(settings)
        await uow.commit()

    async with SqlAlchemyUnitOfWork(engine) as uow:
        assert await uow.wallet_settings.get(TENANT) == settings
