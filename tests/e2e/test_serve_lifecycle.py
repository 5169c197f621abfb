"""A newcomer's first run: `billing serve` on the embedded default, the whole lifecycle over real HTTP,
then `billing audit` on the database it created."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.serving import ServeProcess, billing_free_env

from billing.adapters.embedded import free_port

BASE = "/api/v1/billing"


class Served(ServeProcess):
    """`billing serve` on the embedded default, in a fresh working directory."""

    def token_after(self, heading: str) -> str:
        match = re.search(rf"{heading}[^\n]*:\n\s+(\S+)", self.output)
        assert match, f"no {heading!r} in the banner:\n{self.output}"
        return match.group(1)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, str]]:
    server = Served(free_port(), billing_free_env(), cwd=tmp_path)
    try:
        server.wait_ready(banner="clinic token")
    except RuntimeError as error:
        pytest.fail(str(error))
    try:
        yield server, server.address
    finally:
        server.stop()


def test_a_newcomer_walks_the_whole_lifecycle_on_the_embedded_default(
    served: tuple[Served, str], tmp_path: Path
) -> None:
    server, address = served
    operator = {"Authorization": f"Bearer {server.token_after('operator token')}"}
    clinic = {"Authorization": f"Bearer {server.token_after('clinic token')}"}
    database_url = re.search(r"database: (\S+)", server.output)
    assert database_url, server.output
    with httpx.Client(base_url=address + BASE, timeout=10) as http:
        request = http.post("/wallet/topup-requests", json={"amount": "150.00", "note": "first"}, headers=clinic)
        assert request.status_code == 201, request.text
        approved = http.post(f"/wallet/topup-requests/{request.json()['id']}/approve", json={}, headers=operator)
        assert approved.status_code == 200, approved.text
        assert approved.json()["invoice_number"].startswith("TOP-")
        paid = http.post(
            f"/invoices/{approved.json()['invoice_id']}/mark-paid", json={"payment_reference": "b-1"}, headers=operator
        )
        assert paid.status_code == 200, paid.text
        assert http.get("/wallet/me", headers=clinic).json()["balance"] == "150.00"

        charge = {"amount": "0.05", "reference_id": "wamid.1"}
        assert http.post("/wallets/demo-clinic/charges", json=charge, headers=operator).status_code == 201
        assert http.post("/wallets/demo-clinic/charges", json=charge, headers=operator).status_code == 200
        refund = http.post("/wallets/demo-clinic/refunds", json={"reference_id": "wamid.1"}, headers=operator)
        assert refund.status_code == 201, refund.text
        ledger = http.get("/wallet/me/transactions", headers=clinic).json()
        assert [(row["kind"], row["amount"]) for row in ledger["items"]] == [
            ("refund", "0.05"),
            ("charge", "-0.05"),
            ("topup", "150.00"),
        ]
        assert http.get("/wallet/me", headers=clinic).json()["balance"] == "150.00"

    # As from a second terminal in the same directory, without BILLING_DATABASE_URL: serve's record names its database.
    assert json.loads((tmp_path / ".billing" / "serve.json").read_text())["database_url"] == database_url.group(1)
    audit = subprocess.run(
        [sys.executable, "-m", "billing.entrypoints.cli", "audit"],
        env=billing_free_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert "every wallet agrees" in audit.stdout
    assert (tmp_path / ".billing" / "jwt-secret").exists()
    assert (tmp_path / ".billing" / "pgdata" / "PG_VERSION").exists()


def test_ctrl_c_stops_the_embedded_database_cleanly(served: tuple[Served, str], tmp_path: Path) -> None:
    server, _ = served
    pgdata = tmp_path / ".billing" / "pgdata"
    assert (pgdata / "postmaster.pid").exists()
    assert (tmp_path / ".billing" / "serve.json").exists()

    server.stop()

    assert "stopping the embedded PostgreSQL" in server.output
    assert not (pgdata / "postmaster.pid").exists()
    assert not (tmp_path / ".billing" / "serve.json").exists()  # no command finds a database that stopped
