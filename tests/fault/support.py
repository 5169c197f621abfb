"""What the fault tests share: tokens, a `billing serve` process the test owns, and the ledger's
consistency read straight from the database (so it also holds for another process's writes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import attrs
import httpx
import psycopg

from billing.adapters.auth.jwt import issue_token
from billing.application.caller import MANAGE, VIEW

SECRET = "fault-tests-secret-of-at-least-32-bytes"
BASE = "/api/v1/billing"
ROOT = "root"
CLINIC = "clinic-a"
STARTUP_SECONDS = 60.0
STOP_SECONDS = 20.0


def bearer(tenant: str, *permissions: str, user: str) -> dict[str, str]:
    signed = issue_token(
        SECRET,
        tenant=tenant,
        user=user,
        permissions=list(permissions),
        now=datetime.now(UTC),
        ttl=timedelta(hours=1),
        email=f"{user}@{tenant}.test",
    )
    return {"Authorization": f"Bearer {signed}"}


OPERATOR = bearer(ROOT, VIEW, MANAGE, user="operator-1")
CLINIC_USER = bearer(CLINIC, VIEW, user="clinic-user")


def keyed(headers: Mapping[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def assert_unavailable(response: httpx.Response) -> None:
    """A 503 problem+json with the code `unavailable`, and no trace."""
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    problem = response.json()
    assert (problem["status"], problem["code"]) == (503, "unavailable"), problem
    assert "Traceback" not in response.text


# The ledger, read with plain SQL -----------------------------------------------------------------


def check_ledger(url: str, tenant_id: str) -> Decimal:
    """Assert the wallet and its ledger agree, and return the balance: cached balance = newest row's
    balance_after = sum of the ledger, every row chains from the one before (from 0), none negative."""
    with psycopg.connect(url) as connection:
        wallet = connection.execute("SELECT id, balance FROM wallets WHERE tenant_id = %s", [tenant_id]).fetchone()
        rows = connection.execute(
            "SELECT seq, wallet_id, amount, balance_after FROM wallet_transactions WHERE tenant_id = %s ORDER BY seq",
            [tenant_id],
        ).fetchall()
    assert wallet is not None, f"{tenant_id} has no wallet"
    wallet_id, balance = wallet
    running = Decimal(0)
    for seq, row_wallet, amount, balance_after in rows:
        assert row_wallet == wallet_id, seq
        assert balance_after - amount == running, f"row {seq} does not chain from {running}"
        assert balance_after >= 0, seq
        running = balance_after
    assert balance == running == sum((row[2] for row in rows), Decimal(0)), (balance, running)
    assert balance >= 0
    return Decimal(balance)


def ledger_rows(url: str, tenant_id: str, kind: str) -> list[tuple[str, Decimal]]:
    """(reference_id, amount) of a tenant's ledger rows of one kind, oldest first."""
    with psycopg.connect(url) as connection:
        found = connection.execute(
            "SELECT reference_id, amount FROM wallet_transactions WHERE tenant_id = %s AND kind = %s ORDER BY seq",
            [tenant_id, kind],
        ).fetchall()
    return [(str(reference), Decimal(amount)) for reference, amount in found]


# A `billing serve` the test owns -----------------------------------------------------------------


def billing_env(database_url: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("BILLING_")}
    env.update(BILLING_DATABASE_URL=database_url, BILLING_JWT_SECRET=SECRET, PYTHONUNBUFFERED="1")
    return env


def billing_command(*args: str, env: Mapping[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the `billing` command (as `python -m`, so no installed script is needed)."""
    return subprocess.run(
        [sys.executable, "-m", "billing.entrypoints.cli", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@attrs.frozen
class Served:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def child_pids(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def worker_pids(self) -> list[int]:
        """The processes uvicorn spawned for its workers (not multiprocessing's resource tracker)."""
        return [pid for pid in self.child_pids() if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def _wait_until_healthy(served: Served) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise AssertionError(f"billing serve exited with {served.process.returncode}:\n{served.log_tail()}")
        try:
            if httpx.get(served.base_url + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"billing serve did not answer /health in {STARTUP_SECONDS} s:\n{served.log_tail()}")


def _stop(served: Served, workers: list[int]) -> None:
    if served.process.poll() is None:
        served.process.send_signal(signal.SIGTERM)
        try:
            served.process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            served.process.kill()
            served.process.wait(STOP_SECONDS)
    for pid in workers:  # a worker left behind by a killed supervisor
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@contextmanager
def billing_serve(
    database_url: str, port: int, log: Path, workers: int = 1, extra_env: Mapping[str, str] | None = None
) -> Iterator[Served]:
    """`billing serve` on 127.0.0.1:port against an upgraded database, with `extra_env` besides `billing_env`;
    stopped when the block ends."""
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "billing.entrypoints.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
            ],
            env={**billing_env(database_url), **(extra_env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    served = Served(process, f"http://127.0.0.1:{port}", log)
    children: list[int] = []
    try:
        _wait_until_healthy(served)
        children = served.child_pids()
        yield served
    finally:
        _stop(served, children or served.child_pids())


# Which process holds which TCP connection -------------------------------------------------------


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    return inodes


def accepted_connections(pids: list[int], port: int) -> dict[int, int]:
    """The established connections to local `port` that the processes hold: client port -> pid."""
    owner = {inode: pid for pid in pids for inode in _socket_inodes(pid)}
    accepted = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with suppress(FileNotFoundError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                local_port, remote_port = (int(address.rsplit(":", 1)[1], 16) for address in fields[1:3])
                if local_port == port and fields[3] == "01" and fields[9] in owner:  # 01: ESTABLISHED
                    accepted[remote_port] = owner[fields[9]]
    return accepted
