"""The optimiser is pure: it never reaches into the service, the platforms or the database."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "optimizer"
ALLOWED = {"numpy", "scipy", "pandas", "optimizer", "__future__"}
FORBIDDEN = ("campaigns", "connectors", "api", "sqlmodel", "sqlalchemy", "fastapi", "httpx")


def _imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_optimizer_imports_only_numeric_libraries_and_stdlib() -> None:
    for path in PACKAGE.glob("*.py"):
        outside = {
            root
            for root in _imported_roots(path)
            if root not in ALLOWED and root not in sys.stdlib_module_names
        }
        assert not outside, f"{path.name} imports {sorted(outside)}"


def test_importing_optimizer_loads_no_service_modules() -> None:
    code = (
        "import sys, optimizer; "
        f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]; "
        "print(','.join(bad))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=PACKAGE.parent,
    )
    assert out.stdout.strip() == ""
