"""The README's production role: the service runs under it, and it cannot rewrite the ledger."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from billing.adapters.sqlalchemy.engine import create_engine
from billing.adapters.sqlalchemy.unit_of_work import SqlAlchemyUnitOfWork
from billing.application.caller import MANAGE, VIEW, Caller
from billing.application.runtime import RandomIds, Runtime, SystemClock
from billing.application.service import BillingService
from billing.application.settings import BillingSettings

README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_grants(role: str) -> list[str]:
    section = README.read_text().split("## Scaling out (Citus) and the production role", 1)[1]
    block = re.findall(r"```sql\n(.*?)```", section, re.DOTALL)[1]
    statements = [s.strip() for s in re.sub(r"--[^\n]*", "", block).split(";") if s.strip()]
    grants = [s for s in statements if s.startswith("GRANT")]
    assert grants, "the README shows no GRANTs"
    return [s.replace("billing_app", role) for s in grants]


@pytest.fixture
def app_role_url(database_url: str) -> str:
    role = f"billing_app_{uuid.uuid4().hex[:8]}"
    admin_url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {role} LOGIN")
        for grant in _readme_grants(role):
            admin.execute(grant)  # type: ignore[arg-type]
    return make_url(admin_url).set(username=role).render_as_string(hide_password=False)


async def test_the_service_works_under_the_production_role_which_cannot_rewrite_the_ledger(
    app_role_url: str,
) -> None:
    engine = create_engine(app_role_url, poolclass=NullPool)
    billing = BillingService(
        lambda: SqlAlchemyUnitOfWork(engine), Runtime(SystemClock(), RandomIds(), BillingSettings())
    )
    clinic = billing.acting_as(Caller("u", "clinic-a", {VIEW}, email="u@clinic-a.example"))
    operator = billing.acting_as(Caller("ops", "root", {VIEW, MANAGE}))
    request = await clinic.request_topup("40.00")
    approved = await operator.approve_topup(request.id)
    assert approved.invoice_id is not None
    await operator.mark_invoice_paid(approved.invoice_id, "bank-1")
    charged = await billing.as_platform("messaging").charge("clinic-a", "1.50", "wamid.1")
    assert str(charged.entry.balance_after) == "38.50"
    await engine.dispose()

    with psycopg.connect(app_role_url, autocommit=True) as app:
        for statement in ("UPDATE wallet_transactions SET amount = 0", "DELETE FROM wallet_transactions"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                app.execute(statement)  # type: ignore[arg-type]
