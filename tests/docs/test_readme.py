"""The README's in-process example runs as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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
