"""The `billing` command: token, db upgrade, serve's refusals, audit."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from api_support import SECRET
from psycopg import sql
from sqlalchemy.engine import make_url

from billing.adapters.auth.jwt import JwtTokenVerifier
from billing.adapters.sqlalchemy.migrations import is_at_head
from billing.entrypoints.cli import main


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No BILLING_* from the outside, and ./.billing/ in a fresh directory."""
    for name in [
        "DATABASE_URL",
        "JWT_SECRET",
        "JWT_ISSUER",
        "JWT_AUDIENCE",
        "ROOT_TENANT",
        "CURRENCY",
        "SMTP_URL",
    ]:
        monkeypatch.delenv(f"BILLING_{name}", raising=False)
    monkeypatch.chdir(tmp_path)


def test_token_prints_a_token_the_api_accepts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BILLING_JWT_SECRET", SECRET)

    code = main(
        [
            "token",
            "--tenant",
            "clinic-a",
            "--user",
            "u-1",
            "--permission",
            "Billing.View",
            "--permission",
            "Billing.Manage",
            "--email",
            "u@clinic.test",
            "--ttl",
            "60",
        ]
    )

    assert code == 0
    caller = JwtTokenVerifier(SECRET).verify("Bearer " + capsys.readouterr().out.strip())
    assert (caller.user_id, caller.tenant_id, caller.email) == ("u-1", "clinic-a", "u@clinic.test")
    assert caller.permissions == {"Billing.View", "Billing.Manage"}


def test_token_uses_the_embedded_defaults_secret(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / ".billing").mkdir()
    (tmp_path / ".billing" / "jwt-secret").write_text("k" * 64 + "\n")

    assert main(["token", "--tenant", "root", "--user", "op", "--permission", "Billing.View"]) == 0

    assert JwtTokenVerifier("k" * 64).verify("Bearer " + capsys.readouterr().out.strip()).tenant_id == "root"


def test_token_without_any_secret_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--tenant", "t", "--user", "u", "--permission", "Billing.View"]) == 2

    assert "BILLING_JWT_SECRET" in capsys.readouterr().err


def test_token_refuses_a_bad_tenant(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BILLING_JWT_SECRET", SECRET)

    assert main(["token", "--tenant", "a b", "--user", "u", "--permission", "Billing.View"]) == 2
    assert "--tenant" in capsys.readouterr().err


def test_a_bad_setting_stops_the_command_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BILLING_CURRENCY", "XYZ")

    assert main(["db", "upgrade"]) == 2
    assert "BILLING_CURRENCY" in capsys.readouterr().err


def test_db_upgrade_needs_a_database_url(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade"]) == 2
    assert "BILLING_DATABASE_URL" in capsys.readouterr().err


def test_serve_with_a_database_url_needs_a_jwt_secret(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BILLING_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")

    assert main(["serve"]) == 2
    assert "BILLING_JWT_SECRET" in capsys.readouterr().err


@pytest.mark.parametrize("command", [["serve"], ["db", "upgrade"], ["audit"], ["outbox", "run", "--once"]])
def test_an_unreachable_database_is_one_line_naming_it_not_a_trace(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    monkeypatch.setenv("BILLING_DATABASE_URL", "postgresql://nobody:hunter2-secret@127.0.0.1:1/none")
    monkeypatch.setenv("BILLING_JWT_SECRET", SECRET)

    assert main(command) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    what_failed, what_to_check = err.splitlines()
    assert what_failed.startswith("billing: ")
    assert "cannot reach the database at postgresql://nobody:***@127.0.0.1:1/none: " in what_failed or (
        command[0] == "outbox" and "database is unavailable" in what_failed  # through a unit of work
    )
    assert "BILLING_DATABASE_URL" in what_to_check
    assert "hunter2-secret" not in err


@pytest.fixture
def empty_database_url(postgres_server_url: str) -> Iterator[str]:
    name = f"billing_cli_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield make_url(postgres_server_url).set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(postgres_server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.mark.postgres
def test_serve_refuses_an_out_of_date_schema_then_db_upgrade_brings_it_to_head(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], empty_database_url: str
) -> None:
    monkeypatch.setenv("BILLING_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("BILLING_JWT_SECRET", SECRET)

    assert main(["serve"]) == 2
    assert "billing db upgrade" in capsys.readouterr().err

    assert main(["db", "upgrade"]) == 0
    assert is_at_head(empty_database_url)
