"""`budgetpilot plans import|list`: finance loads a month's plans without curl."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.cli.main import EXIT_REJECTED, EXIT_USAGE
from campaigns.models import BudgetPlan
from tests.api.cli.conftest import group_runner
from tests.api.factories import create_account, get_portfolio

runner = CliRunner()


@pytest.fixture
def cli(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    return group_runner(db_url, tmp_path, monkeypatch, "plans")


def test_import_dry_run_then_import_then_list(engine: Engine, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with Session(engine) as s:
        get_portfolio(s)
        create_account(s, network="google", external_id="123-456-7890")
        s.commit()
    path = tmp_path / "december.csv"
    path.write_text("\ufeffmonth,scope,scope_key,planned_spend\n2026-12,total,,20000\n"
                    "2026-12,account,google:123-456-7890,\"7,500.00\"\n")
    dry = cli("import", str(path), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "would import 2 plans" in dry.output and "2 new" in dry.output
    with Session(engine) as s:
        assert s.scalars(select(BudgetPlan)).all() == []  # the dry run wrote nothing
    done = cli("import", str(path), "--as", "fiona")
    assert done.exit_code == 0, done.output
    assert "imported 2 plans" in done.output and "2 new, 0 updated, 0 unchanged" in done.output
    listed = cli("list", "--month", "2026-12", "--json")
    assert listed.exit_code == 0, listed.output
    plans = json.loads(listed.output)["data"]
    assert {(p["scope"], p["scope_key"], p["planned_spend"]) for p in plans} == {
        ("total", "", "20000.00"), ("account", "google:123-456-7890", "7500.00")}


def test_a_bad_file_exits_3_naming_the_line_and_writes_nothing(
    engine: Engine, cli, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    with Session(engine) as s:
        get_portfolio(s)
        s.commit()
    path = tmp_path / "plans.csv"
    path.write_text("month,scope,scope_key,planned_spend\n2026-12,total,,100\n2026-12,network,"
                    "meta,abc\n")
    result = cli("import", str(path))
    assert result.exit_code == EXIT_REJECTED
    assert "line 3, column planned_spend" in result.output
    with Session(engine) as s:
        assert s.scalars(select(BudgetPlan)).all() == []
    assert cli("import", str(tmp_path / "missing.csv")).exit_code == EXIT_REJECTED
    assert cli("list", "--month", "December").exit_code == EXIT_USAGE
