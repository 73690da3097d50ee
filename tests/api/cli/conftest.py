"""A command group run through typer's runner against the test's database and a small config."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from api.cli.main import app


def group_runner(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, group: str,
                 config_text: str = "") -> Callable[..., Result]:
    """``run("list", "--json")`` runs ``budgetpilot <group> list --json --config <tmp>``."""
    monkeypatch.setenv("BUDGETPILOT_DATABASE_URL", db_url)
    config = tmp_path / "bp.toml"
    config.write_text(config_text)
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, [group, *args, "--config", str(config)])

    return run
