"""The commands that need a database find, without BILLING_DATABASE_URL, the embedded one of the `billing serve`
running from the same directory (./.billing/serve.json); otherwise one message says what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.serving import billing_free_env

import billing.container
from billing.entrypoints import cli
from billing.entrypoints.cli import main

SAMPLE_NAME = "Meta WhatsApp Business Platform rate card, USD"
DATABASE_COMMANDS = [
    ["db", "upgrade"],
    ["audit"],
    ["outbox", "list"],
    ["outbox", "run", "--once"],
    ["ratecard", "list"],
    ["ratecard", "import", "card.json"],
    ["holds", "expire"],
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No BILLING_* setting from the outside (serve exports two: restored afterwards), and ./.billing/ in a fresh
    directory."""
    for name in list(os.environ):
        if name.startswith("BILLING_") and not name.startswith("BILLING_TEST_"):
            monkeypatch.delenv(name)
    for name in ["BILLING_DATABASE_URL", "BILLING_JWT_SECRET"]:
        monkeypatch.setenv(name, "unset")
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def billing_command(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`billing ...` in another process, as from another terminal: no BILLING_* variable at all."""
    return subprocess.run(
        [sys.executable, "-m", "billing.entrypoints.cli", *args],
        cwd=cwd,
        env=billing_free_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write_record(tmp_path: Path, pid: int, database_url: str) -> Path:
    home = tmp_path / ".billing"
    home.mkdir(exist_ok=True)
    record = home / "serve.json"
    record.write_text(json.dumps({"pid": pid, "database_url": database_url}))
    return record


@pytest.fixture
def gone_pid() -> int:
    """The id of a process that has ended."""
    process = subprocess.Popen([sys.executable, "-c", ""])
    process.wait()
    return process.pid


@pytest.fixture
def live_pid() -> Iterator[int]:
    """The id of a process that runs (not this one)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process.pid
    process.kill()
    process.wait()


class FakeEmbeddedPostgres:
    """`billing serve`'s embedded server, standing in for the wheel's: the test's database, already running."""

    def __init__(self, url: str) -> None:
        self.url = url

    def start(self) -> str:
        return self.url

    def stop(self) -> None:
        pass


@pytest.mark.postgres
def test_commands_run_beside_a_serve_use_its_embedded_database_and_not_after_it_stopped(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seen: dict[str, object] = {}

    def another_terminal(host: str, port: int, workers: int) -> None:
        """While serve would listen: commands in another process, from the same directory, without any variable."""
        seen["record"] = json.loads((tmp_path / ".billing" / "serve.json").read_text())
        seen["list"] = billing_command("ratecard", "list", cwd=tmp_path)
        seen["audit"] = billing_command("audit", cwd=tmp_path)

    monkeypatch.setattr(billing.container, "embedded_postgres", lambda data_dir: FakeEmbeddedPostgres(database_url))
    monkeypatch.setattr(cli, "_run_uvicorn", another_terminal)
    monkeypatch.setattr(cli, "_exit_on_sigterm", lambda: None)

    assert main(["serve"]) == 0

    assert seen["record"] == {"pid": os.getpid(), "database_url": database_url}
    listed = seen["list"]
    assert isinstance(listed, subprocess.CompletedProcess)
    assert listed.returncode == 0, listed.stderr
    assert SAMPLE_NAME in listed.stdout  # the card serve imported on the database's first start
    audit = seen["audit"]
    assert isinstance(audit, subprocess.CompletedProcess)
    assert (audit.returncode, audit.stdout) == (0, "every wallet agrees with its ledger\n"), audit.stderr
    assert "other `billing` commands run from this directory use it" in capsys.readouterr().out
    assert not (tmp_path / ".billing" / "serve.json").exists()  # removed when serve stopped

    after = billing_command("ratecard", "list", cwd=tmp_path)
    assert after.returncode == 2
    assert "no `billing serve` runs its embedded database from this directory" in after.stderr


@pytest.mark.parametrize("command", DATABASE_COMMANDS, ids=" ".join)
def test_without_a_url_or_a_running_serve_each_command_says_what_to_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    assert main(command) == 2

    err = capsys.readouterr().err
    assert err == (
        "billing: BILLING_DATABASE_URL is not set, and no `billing serve` runs its embedded database from this "
        f"directory (there is no {tmp_path.resolve() / '.billing' / 'serve.json'}); start `billing serve` in this "
        "directory (in another terminal) and run this again, or set BILLING_DATABASE_URL to a PostgreSQL server\n"
    )


def test_a_record_left_by_a_killed_serve_is_named_and_ignored(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, gone_pid: int
) -> None:
    record = write_record(tmp_path, gone_pid, "postgresql://postgres@127.0.0.1:1/postgres")

    assert main(["ratecard", "list"]) == 2

    err = capsys.readouterr().err
    assert f"the `billing serve` that started the embedded database here is gone (process {gone_pid}" in err
    assert str(record.resolve()) in err
    assert "start `billing serve` in this directory" in err


def test_a_record_that_is_not_one_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / ".billing").mkdir()
    (tmp_path / ".billing" / "serve.json").write_text('{"pid": ')

    assert main(["audit"]) == 2

    assert "serve.json is not a record `billing serve` wrote; start `billing serve`" in capsys.readouterr().err


def test_a_serve_whose_database_does_not_answer_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, live_pid: int
) -> None:
    write_record(tmp_path, live_pid, "postgresql://postgres@127.0.0.1:1/postgres")

    assert main(["audit"]) == 1

    what_failed, what_to_check = capsys.readouterr().err.splitlines()
    assert what_failed.startswith("billing: cannot reach the database at postgresql://postgres@127.0.0.1:1/postgres")
    assert "the embedded database of the `billing serve` running from this directory" in what_to_check


def test_a_url_in_the_environment_wins_over_the_record(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, live_pid: int
) -> None:
    write_record(tmp_path, live_pid, "postgresql://postgres@127.0.0.1:1/from-the-record")
    monkeypatch.setenv("BILLING_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/from-the-environment")

    assert main(["audit"]) == 1

    err = capsys.readouterr().err
    assert "/from-the-environment" in err
    assert "is BILLING_DATABASE_URL right?" in err


def test_a_second_serve_in_the_same_directory_is_refused_before_touching_the_database(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, live_pid: int
) -> None:
    write_record(tmp_path, live_pid, "postgresql://postgres@127.0.0.1:1/postgres")

    def must_not_start(data_dir: Path) -> FakeEmbeddedPostgres:
        raise AssertionError("the embedded server of the first serve would be restarted")

    monkeypatch.setattr(billing.container, "embedded_postgres", must_not_start)

    assert main(["serve"]) == 2

    err = capsys.readouterr().err
    assert f"another `billing serve` (process {live_pid}) runs the embedded database of" in err
    assert json.loads((tmp_path / ".billing" / "serve.json").read_text())["pid"] == live_pid  # left alone


def test_a_record_left_by_a_killed_serve_does_not_stop_the_next_serve(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, gone_pid: int
) -> None:
    write_record(tmp_path, gone_pid, "postgresql://postgres@127.0.0.1:1/postgres")
    started: list[Path] = []

    def no_database(data_dir: Path) -> FakeEmbeddedPostgres:
        started.append(data_dir)
        raise RuntimeError("no database in this test")

    monkeypatch.setattr(billing.container, "embedded_postgres", no_database)

    with pytest.raises(RuntimeError, match="no database in this test"):
        main(["serve"])

    assert started == [tmp_path.resolve() / ".billing" / "pgdata"]
