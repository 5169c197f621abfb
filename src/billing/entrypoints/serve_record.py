"""How the other `billing` commands find the embedded database of a `billing serve` that runs.

Without BILLING_DATABASE_URL, `billing serve` starts PostgreSQL under ./.billing/pgdata on a port of its own, a new
one at every start. While it runs, it keeps ./.billing/serve.json: its process id and the database's URL. A command
that needs the database, run from the same directory without BILLING_DATABASE_URL, reads that record and uses the
URL while the process that wrote it is alive.

The record is replaced atomically (a reader never sees half of one) and removed when serve stops. Only a serve that
was killed leaves it behind: its process is gone, so the record is ignored, and the command says so and what to do.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import attrs

RECORD = "serve.json"
START_SERVE = (
    "start `billing serve` in this directory (in another terminal) and run this again, or set BILLING_DATABASE_URL "
    "to a PostgreSQL server"
)


class NoRunningServeError(Exception):
    """No `billing serve` of this directory runs: the message says what was found, and what to do."""


@attrs.frozen
class RunningServe:
    pid: int
    database_url: str


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user
        return True
    return True


def write(home: Path, database_url: str) -> Path:
    """Say, for this process, that the embedded database answers at `database_url` (owner-only: ./.billing/ holds
    the JWT secret too)."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / RECORD
    draft = home / f".{RECORD}.{os.getpid()}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        json.dump({"pid": os.getpid(), "database_url": database_url}, file)
        file.write("\n")
    os.replace(draft, path)
    return path


def remove(home: Path) -> None:
    """Remove this process's record (a record another serve wrote since is left alone)."""
    path = home / RECORD
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def running(home: Path) -> RunningServe | None:
    """The serve whose record is in `home` if its process is alive; None when there is no record."""
    path = home.resolve() / RECORD
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise NoRunningServeError(f"{path} cannot be read ({error.strerror or error}); {START_SERVE}") from None
    try:
        fields = json.loads(text)
        found = RunningServe(pid=int(fields["pid"]), database_url=str(fields["database_url"]))
    except (ValueError, TypeError, KeyError):
        raise NoRunningServeError(f"{path} is not a record `billing serve` wrote; {START_SERVE}") from None
    if not _alive(found.pid):
        raise NoRunningServeError(
            f"the `billing serve` that started the embedded database here is gone (process {found.pid}, named in "
            f"{path}, stopped without cleaning up); {START_SERVE}"
        )
    return found


def database_url(home: Path) -> str:
    """The URL of the embedded database that a running `billing serve` of this directory started."""
    found = running(home)
    if found is None:
        raise NoRunningServeError(
            f"no `billing serve` runs its embedded database from this directory (there is no "
            f"{home.resolve() / RECORD}); {START_SERVE}"
        )
    return found.database_url
