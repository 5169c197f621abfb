"""`billing audit` against a real database: exit 0 when every wallet agrees, else name the drifting ones."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest
from api_support import SECRET

from billing.application.caller import MANAGE, VIEW, Caller
from billing.config import JwtSettings, Settings
from billing.container import close, postgres_container
from billing.entrypoints.cli import main


async def _fund(database_url: str, *tenants: str) -> None:
    container = postgres_container(Settings(database_url=database_url, jwt=JwtSettings(secret=SECRET)))
    service = container.service()
    operator = service.acting_as(Caller("operator", "root", frozenset([VIEW, MANAGE])))
    try:
        for tenant in tenants:
            request = await service.acting_as(Caller("u", tenant, frozenset([VIEW]))).request_topup("10.00")
            invoice = await operator.create_topup_invoice(request.id)
            await operator.mark_invoice_paid(invoice.id, "bank")
    finally:
        await close(container)


@pytest.mark.postgres
def test_audit_names_the_wallets_that_drift(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BILLING_DATABASE_URL", database_url)
    asyncio.run(_fund(database_url, "clinic-a", "clinic-b"))

    assert main(["audit"]) == 0
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("UPDATE wallets SET balance = balance + 1 WHERE tenant_id = 'clinic-b'")

    assert main(["audit"]) == 1
    err = capsys.readouterr().err
    assert "clinic-b" in err
    assert "clinic-a" not in err


def test_audit_needs_a_database_url(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("BILLING_DATABASE_URL", raising=False)

    assert main(["audit"]) == 2
    assert "BILLING_DATABASE_URL" in capsys.readouterr().err
