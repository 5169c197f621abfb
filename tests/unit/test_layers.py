"""The domain's allow-list, which import-linter's forbidden contracts cannot state: the standard library,
attrs and the domain itself, nothing else (pyproject.toml's [tool.importlinter] holds the other walls)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import billing.domain

DOMAIN = Path(billing.domain.__file__).parent
ALLOWED = {*sys.stdlib_module_names, "attrs", "billing"}


def _imports(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module)
    return modules


def test_the_domain_imports_only_the_standard_library_attrs_and_itself() -> None:
    found = {(path.name, module) for path in DOMAIN.rglob("*.py") for module in _imports(path)}

    outside = {(name, module) for name, module in found if module.split(".")[0] not in ALLOWED}
    other_layers = {
        (name, module)
        for name, module in found
        if module.startswith("billing") and not module.startswith("billing.domain")
    }
    assert outside == set()
    assert other_layers == set()
    assert ("money.py", "decimal") in found  # the walk sees real imports
