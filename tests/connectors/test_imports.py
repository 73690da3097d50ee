"""Connectors depend on nothing of the service: ``campaigns`` and ``api`` import connectors,
never the other way round (each kind's options and the secrets live in ``connectors/``)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "connectors"
FORBIDDEN = ("campaigns", "api")


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_the_check_sees_an_import_of_the_service() -> None:
    sample = PACKAGE.parent / "campaigns" / "ingest" / "connectors.py"
    assert "campaigns.config" in _imported_modules(sample)


def test_no_connector_module_imports_campaigns_or_api() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 5
    for path in files:
        bad = sorted(m for m in _imported_modules(path) if m.split(".")[0] in FORBIDDEN)
        assert not bad, f"{path.relative_to(PACKAGE.parent)} imports {bad}"


def test_building_every_kind_loads_no_service_module() -> None:
    code = (
        "import sys, connectors.registry, connectors.meta, connectors.google_ads, "
        "connectors.sandbox; "
        f"print(','.join(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=PACKAGE.parent)
    assert out.stdout.strip() == ""
