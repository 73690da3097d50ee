"""The command line as a campaign manager and a script use it: output and exit codes."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli.main import EXIT_DATABASE, EXIT_PARTIAL, EXIT_REJECTED, EXIT_USAGE, app

REPO = Path(__file__).resolve().parents[3]
HEADER = "date,network,account_id,campaign_id,campaign_name,currency,spend,impressions,clicks,conversions,revenue"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUDGETPILOT_DATABASE_URL", raising=False)
    monkeypatch.delenv("BUDGETPILOT_CONFIG", raising=False)
    return tmp_path


def config(path: Path, *, extra: str = "") -> Path:
    cfg = path / "bp.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{path / "bp.db"}"\n'
        "[sync]\nhistory_days = 30\n"
        '[[sources]]\nname = "sandbox"\nkind = "sandbox"\nseed = 7\n'
        f'campaigns_per_account = 3\nstate_path = "{path / "state.json"}"\n' + extra
    )
    return cfg


runner = CliRunner()


def test_help_explains_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("init-db", "import-csv", "sync", "demo"):
        assert command in result.output
    sub = runner.invoke(app, ["import-csv", "--help"])
    assert "campaign_name" in sub.output and "--config" in sub.output


def test_import_csv_reports_rows_and_rejects_bad_files_with_exit_3(workdir: Path) -> None:
    cfg = config(workdir)
    good = workdir / "ok.csv"
    good.write_text(HEADER + "\n2026-01-05,bing,b1,k1,Search,USD,10.5,100,3,1,20\n")
    result = runner.invoke(app, ["import-csv", str(good), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "imported 1 rows" in result.stdout
    bad = workdir / "bad.csv"
    bad.write_text(HEADER + "\n2026-01-05,bing,b1,k1,Search,USD,ten,100,3,1,20\n")
    result = runner.invoke(app, ["import-csv", str(bad), "--config", str(cfg)])
    assert result.exit_code == EXIT_REJECTED
    assert "bad.csv: line 2, column spend" in result.stderr


def test_commands_work_from_any_folder_without_a_config(workdir: Path) -> None:
    """Installed, outside the checkout and without --config: the built-in defaults (a SQLite
    database in the current folder) import a CSV and optimise it; a named missing file is
    still an error."""
    rows = [f"{(dt.date.today() - dt.timedelta(days=d)).isoformat()},bing,b1,k{k},Search {k},"
            f"EUR,{100 + 10 * (d % 5) + k},1000,30,{3 + d % 3},{60 + k},120"
            for d in range(1, 40) for k in range(2)]
    csv = workdir / "export.csv"
    csv.write_text(HEADER + ",daily_budget\n" + "\n".join(rows) + "\n")
    assert not (workdir / "configs").exists()
    result = runner.invoke(app, ["import-csv", str(csv)])
    assert result.exit_code == 0, result.output
    assert (workdir / "budgetpilot.db").exists()
    result = runner.invoke(app, ["optimize", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert {a["campaign_id"] for a in plan["allocations"]} == {"k0", "k1"}


def test_config_errors_exit_2_with_a_reason(workdir: Path) -> None:
    result = runner.invoke(app, ["sync", "--config", str(workdir / "missing.toml")])
    assert result.exit_code == EXIT_USAGE
    assert "config file not found" in result.stderr
    broken = workdir / "broken.toml"
    broken.write_text('[sync]\nlookback_days = "lots"\n')
    result = runner.invoke(app, ["sync", "--config", str(broken)])
    assert result.exit_code == EXIT_USAGE and "sync.lookback_days" in result.stderr


def test_sync_with_a_failing_account_exits_1_and_names_it(workdir: Path) -> None:
    cfg = config(workdir, extra="")
    result = runner.invoke(app, ["sync", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "meta:act_1001:" in result.stdout
    result = runner.invoke(app, ["sync", "--config", str(cfg), "--account", "tt_5001"])
    assert result.exit_code == 0 and "tiktok:tt_5001" in result.stdout
    assert "meta:act_1001" not in result.stdout
    result = runner.invoke(app, ["sync", "--config", str(cfg), "--account", "nope"])
    assert result.exit_code == EXIT_USAGE


def test_foreign_database_exits_4_untouched(workdir: Path) -> None:
    import sqlite3

    db = workdir / "bp.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table notes (x text)")
    result = runner.invoke(app, ["init-db", "--config", str(config(workdir))])
    assert result.exit_code == EXIT_DATABASE
    assert "refusing" in result.stderr


def test_demo_from_a_shell_prints_the_summary(workdir: Path) -> None:
    cfg = config(workdir)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "api.cli", "demo", "--config", str(cfg)],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "5 accounts, 15 campaigns" in out
    # Each account's third campaign runs for awareness: the sandbox's objectives, synced.
    assert "active campaigns by what they buy: 10 conversions, 3 reach" in out
    for network in ("meta", "google", "tiktok"):
        assert f"\n{network}" in out
    assert "ROAS" in out and "succeeded" in out
    # The sandbox's social counts: reach and engagement rates per network.
    table = out.split("KPIs by network")[1].split("\n\n")[0].splitlines()
    heading = table[2].split()
    assert {"reach", "freq", "eng/1k", "shr/1k", "rct/1k", "cmt/1k", "fans"} <= set(heading)
    rows = {line.split()[0]: dict(zip(heading, line.split(), strict=True))
            for line in table[3:]}
    assert set(rows) == {"google", "meta", "tiktok"}
    for row in rows.values():
        # a network of several accounts adds their figures: an estimate, marked ~
        assert row["reach"].endswith("~") and int(row["reach"].rstrip("~")) > 0
        assert float(row["eng/1k"]) > 0 and float(row["freq"]) > 1
    # The main job ends with tomorrow's proposal, waiting for approval.
    assert "proposed budgets for tomorrow" in out and "shift 1 (proposed)" in out
    assert EXIT_PARTIAL == 1
