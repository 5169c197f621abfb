"""A newcomer's first run: `billing serve` on the embedded default, the whole lifecycle over real HTTP,
then `billing audit` on the database it created."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from billing.adapters.embedded import free_port

BASE = "/api/v1/billing"


class Served:
    """`billing serve` as a subprocess; its output is collected line by line."""

    def __init__(self, cwd: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BILLING_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "billing.entrypoints.cli", "serve", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._collect, daemon=True).start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def token_after(self, heading: str) -> str:
        match = re.search(rf"{heading}[^\n]*:\n\s+(\S+)", self.output)
        assert match, f"no {heading!r} in the banner:\n{self.output}"
        return match.group(1)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Served, str]]:
    port = free_port()
    server = Served(tmp_path, port)
    address = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and server.process.poll() is None:
        try:
            if httpx.get(f"{address}/ready", timeout=2).status_code == 200 and "clinic token" in server.output:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    else:
        server.stop()
        pytest.fail(f"billing serve did not become ready:\n{server.output}")
    try:
        yield server, address
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

    audit = subprocess.run(
        [sys.executable, "-m", "billing.entrypoints.cli", "audit"],
        env={**os.environ, "BILLING_DATABASE_URL": database_url.group(1)},
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

    server.stop()

    assert "stopping the embedded PostgreSQL" in server.output
    assert not (pgdata / "postmaster.pid").exists()
