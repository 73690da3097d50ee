"""The packages point one way, so a change low down never needs the layers above it.

From the bottom: ``optimizer`` (pure maths) and ``connectors`` (the platforms) import nothing
of ours; the ``campaigns`` core (config, db, models, errors, audit, lookup, scopes) imports
no domain folder; each domain folder imports the core and the domains before it in
:data:`DOMAINS`; ``api`` (HTTP and CLI) may import everything and nothing imports it.
Function-level imports count too: a deferred import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("optimizer", "connectors", "campaigns", "api")
# The order in which the domains may depend on each other: each may use those before it.
DOMAINS = ("admin", "ingest", "reports", "shifts", "optimization", "alerts", "jobs")


def layer_of(module: str) -> str:
    """'campaigns.shifts.writeback' -> 'campaigns.shifts'; 'campaigns.models' -> 'campaigns'."""
    parts = module.split(".")
    if parts[0] == "campaigns" and len(parts) > 1 and parts[1] in DOMAINS:
        return f"campaigns.{parts[1]}"
    return parts[0]


def allowed(layer: str) -> set[str]:
    if layer in ("optimizer", "connectors"):
        return {layer}
    if layer == "api":
        return {*OURS, *(f"campaigns.{d}" for d in DOMAINS)}
    below = {"campaigns", "connectors", "optimizer"}
    if layer == "campaigns":
        return below
    domain = layer.removeprefix("campaigns.")
    return below | {f"campaigns.{d}" for d in DOMAINS[: DOMAINS.index(domain) + 1]}


def imports_of(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from campaigns.shifts import writeback` names the module campaigns.shifts.writeback
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return [(line, name) for line, name in found if name.split(".")[0] in OURS]


def _sources() -> list[Path]:
    return sorted(
        p for pkg in OURS for p in (ROOT / pkg).rglob("*.py") if "migrations" not in p.parts
    )


def test_every_package_imports_only_the_layers_below_it() -> None:
    wrong = []
    for path in _sources():
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        own = layer_of(module)
        for line, name in imports_of(path):
            if layer_of(name) not in allowed(own):
                wrong.append(f"{path.relative_to(ROOT)}:{line} ({own}) imports {name}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(("importer", "imported", "ok"), [
    ("campaigns.shifts.writeback", "campaigns.admin.fx", True),
    ("campaigns.admin.plans", "campaigns.shifts.lifecycle", False),
    ("campaigns.models", "campaigns.ingest.sync", False),
    ("connectors.meta", "campaigns.config", False),
    ("optimizer.fitting", "connectors.base", False),
    ("api.routes.shifts", "campaigns.jobs.nightly", True),
    ("campaigns.jobs.nightly", "api.cli.app", False),
])
def test_the_rule_itself(importer: str, imported: str, ok: bool) -> None:
    """The checker would catch a wrong import (a test of the rule, so the test above can fail)."""
    assert (layer_of(imported) in allowed(layer_of(importer))) is ok
