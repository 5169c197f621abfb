"""The README's in-process example and its tour run as written; CI runs the test command it gives."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from billing.adapters.embedded import free_port
from tests.serving import ServeProcess, billing_free_env

README = Path(__file__).resolve().parents[2] / "README.md"


def _in_process_example() -> str:
    section = README.read_text().split("## In-process use", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README's in-process section has no python example"
    return match.group(1)


def test_readme_in_process_example_runs_and_prints_the_balance() -> None:
    result = subprocess.run(
        [sys.executable, "-c", _in_process_example()], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clinic-a 150.00 USD"


def _test_command(text: str) -> str:
    [command] = re.findall(r"^\.venv/bin/python -m pytest.*$", text, re.MULTILINE)
    return command


def test_ci_runs_the_test_command_the_readme_and_the_site_give() -> None:
    root = README.parent
    readme = _test_command(README.read_text())

    assert _test_command((root / ".ci" / "run").read_text()) == readme
    assert _test_command((root / "docs" / "getting-started.md").read_text()) == readme


# The ten-line tour ---------------------------------------------------------------------------------------------

TOUR_PORT = "127.0.0.1:8000"
SAMPLE_CARD_NAME = "Meta WhatsApp Business Platform rate card, USD"


def tour_commands() -> list[str]:
    """The tour's commands as a shell reads them: a line ending in a backslash goes on on the next one."""
    section = README.read_text().split("## A ten-line tour", 1)[1]
    match = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert match, "the README's tour has no bash block"
    commands: list[str] = []
    pending = ""
    for line in match.group(1).splitlines():
        pending += line + "\n"
        if not line.endswith("\\"):
            commands.append(pending)
            pending = ""
    return commands


def _banner_token(output: str, heading: str) -> str:
    found = re.search(rf"{heading}[^\n]*:\n\s+(\S+)", output)
    assert found, f"no {heading!r} in the banner:\n{output}"
    return found.group(1)


def _venv_billing(directory: Path) -> None:
    """`.venv/bin/billing` in the directory the tour runs from, as the quick start makes it: this interpreter's."""
    tool = directory / ".venv" / "bin" / "billing"
    tool.parent.mkdir(parents=True)
    tool.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m billing.entrypoints.cli "$@"\n')
    tool.chmod(0o755)


def test_the_readme_tour_runs_as_written_beside_billing_serve(tmp_path: Path) -> None:
    """`billing serve` on the embedded default in a fresh directory; then every line of the tour in a shell of its
    own in that directory (a second terminal), with what the reader pastes: the tokens and the ids of the answers."""
    assert shutil.which("curl"), "the tour uses curl: install it (apt-get install curl)"
    _venv_billing(tmp_path)
    server = ServeProcess(free_port(), billing_free_env(), cwd=tmp_path)
    try:
        server.wait_ready(banner="clinic token")
        pasted = {
            TOUR_PORT: server.address.removeprefix("http://"),
            "<clinic token>": _banner_token(server.output, "clinic token"),
            "<operator token>": _banner_token(server.output, "operator token"),
        }
        assignments = ""
        answers: list[str] = []
        for command in tour_commands():
            for placeholder, value in pasted.items():
                command = command.replace(placeholder, value)
            assert "<" not in command.split("#")[0], f"nothing to paste for: {command}"
            if re.match(r"^[A-Z]+=", command):
                assignments += command
                continue
            result = subprocess.run(
                ["bash", "-c", assignments + command],
                cwd=tmp_path,
                env=billing_free_env(),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert result.returncode == 0, f"{command}\n{result.stdout}{result.stderr}"
            assert "urn:billing:problem" not in result.stdout, f"{command}\n{result.stdout}"
            answers.append(result.stdout)
            if result.stdout.startswith("{"):
                answer = json.loads(result.stdout)
                pasted.setdefault("<id>", answer.get("id", "<id>"))  # the top-up request's
                if answer.get("invoice_id"):  # once approved
                    pasted["<invoice id>"] = answer["invoice_id"]
    finally:
        server.stop()

    assert any(SAMPLE_CARD_NAME in answer for answer in answers), answers
    wallet = json.loads(answers[-1])
    assert (wallet["balance"], wallet["held"]) == ("149.9966", "0.00"), wallet  # the message was charged once
