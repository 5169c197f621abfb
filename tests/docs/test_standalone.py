"""The README and the site stand alone, and say commands one way.

- They cite no file a reader does not have: the specification and the seed the package was built from
  (shared/spec, shared/seed) are not in the repository; "the contract" is what the site's own pages describe.
- Every command in a shell block runs the package's tools from the virtual environment the quick start makes,
  `.venv/bin/billing`, `.venv/bin/pip`, ... (never a bare `billing`, which a fresh shell does not find), so each
  line runs as written in any terminal opened in the clone.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
SHELL_FENCES = {"bash", "sh", "shell", "console"}
VENV_TOOLS = ("billing", "pip", "python", "pytest", "mkdocs", "ruff", "mypy", "lint-imports", "playwright")
NOT_SHIPPED = re.compile(r"shared/(?:spec|seed)\b|\bbilling-v\d+\.md\b")
# A command starts a line, or follows `&&`, `||`, `;`, `|` or `$(`; a bare tool there is the mistake.
BARE_TOOL = re.compile(rf"(?:^|&&|\|\||;|\||\$\()\s*(?P<tool>(?:{'|'.join(map(re.escape, VENV_TOOLS))}))(?=\s|$)")
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<lang>[\w+-]*)")


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def shell_lines(page: Path) -> list[tuple[int, str]]:
    """The lines of the page's shell blocks, without comments (a `# ...` after the command, or a whole line)."""
    found: list[tuple[int, str]] = []
    fence: str | None = None
    shell = False
    for number, line in enumerate(page.read_text().splitlines(), start=1):
        opening = FENCE.match(line)
        if fence is None and opening:
            fence, shell = opening["fence"], opening["lang"].lower() in SHELL_FENCES
        elif fence is not None and line.strip().startswith(fence[0] * len(fence)) and not line.strip()[len(fence) :]:
            fence = None
        elif fence is not None and shell:
            found.append((number, re.sub(r"(^|\s)#.*$", "", line).rstrip()))
    return found


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_no_page_cites_the_specification_or_the_seed_a_reader_does_not_have(page: Path) -> None:
    cited = [
        f"{_name(page)}:{number}: {line.strip()}"
        for number, line in enumerate(page.read_text().splitlines(), start=1)
        if NOT_SHIPPED.search(line)
    ]
    assert not cited, "cites files that are not in the repository (link the site's own pages instead):\n" + "\n".join(
        cited
    )


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_command_runs_the_tools_from_the_virtual_environment(page: Path) -> None:
    bare = [
        f"{_name(page)}:{number}: {line.strip()}  (write .venv/bin/{match['tool']})"
        for number, line in shell_lines(page)
        for match in BARE_TOOL.finditer(line)
    ]
    assert not bare, "a command that a fresh shell does not find:\n" + "\n".join(bare)


def test_the_checks_find_what_they_look_for(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "The contract is `shared/spec/billing-v1.md`.\n\n"
        "```bash\n"
        "billing serve          # a bare name\n"
        ".venv/bin/billing audit && pip install x\n"
        "curl -s $API | python -m json.tool\n"
        "python3 -m venv .venv  # the system's python makes the venv\n"
        "# billing in a comment\n"
        "```\n\n"
        "```text\nbilling listens on http://127.0.0.1:8000\n```\n"
    )

    assert NOT_SHIPPED.search(page.read_text())
    found = [(number, match["tool"]) for number, line in shell_lines(page) for match in BARE_TOOL.finditer(line)]
    assert found == [(4, "billing"), (5, "pip"), (6, "python")]
