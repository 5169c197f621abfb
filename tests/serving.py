"""`billing serve` as a subprocess a test owns: its output collected line by line, stopped like Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import httpx


def billing_free_env(**variables: str) -> dict[str, str]:
    """The test's environment without any BILLING_* variable, plus the given ones."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("BILLING_")}
    env.update(variables)
    return env


class ServeProcess:
    def __init__(self, port: int, env: Mapping[str, str], cwd: Path | None = None) -> None:
        self.address = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "billing.entrypoints.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=cwd,
            env=dict(env),
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

    def wait_ready(self, timeout: float = 90, banner: str = "") -> None:
        """Until /ready answers 200 (and the banner text, if given, was printed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            try:
                if httpx.get(f"{self.address}/ready", timeout=2).status_code == 200 and banner in self.output:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"billing serve did not become ready:\n{self.output}")

    def stop(self) -> int:
        """SIGINT, as Ctrl-C: the command stops uvicorn and (on the embedded default) its database."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait()
