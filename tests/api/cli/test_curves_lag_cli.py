"""`budgetpilot curves lag` and `optimize --json`'s `lag` section show the completion curves
learnt from imports that restated conversions day after day."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from api.cli.main import app
from campaigns.config import Settings
from campaigns.db import open_engine
from campaigns.ingest.csv_import.importer import import_csv

HEADER = ("date,network,account_id,campaign_id,campaign_name,currency,spend,impressions,"
          "clicks,conversions,revenue,daily_budget")
START = dt.date(2026, 1, 1)
DAYS = 60
# True share of a day's conversions reported at age 1, 2, 3, ... (complete after 4 days).
SHARE = {1: 0.5, 2: 0.75, 3: 0.9}
runner = CliRunner()


def _final(campaign: int, day: int) -> int:
    return 40 + 7 * campaign + (day * 13) % 11


def write_exports(tmp_path: Path, engine: Engine) -> None:
    """The first export holds 30 days; every later one restates the last 10 days."""
    settings = Settings()
    for today in range(30, DAYS + 1):
        lines = [HEADER]
        for day in range(0 if today == 30 else today - 10, today):
            share = SHARE.get(today - day, 1.0)
            date = (START + dt.timedelta(days=day)).isoformat()
            for c in range(4):
                conv = int(_final(c, day) * share)
                spend = 100 + 10 * c + (day * 7) % 30
                lines.append(f"{date},meta,act_1,c{c},Campaign {c},EUR,{spend},1000,50,{conv},"
                             f"{conv * 30},120")
        path = tmp_path / f"day{today}.csv"
        path.write_text("\n".join(lines) + "\n")
        import_csv(engine, path, settings=settings, today=START + dt.timedelta(days=today))


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUDGETPILOT_DATABASE_URL", raising=False)
    monkeypatch.delenv("BUDGETPILOT_CONFIG", raising=False)
    path = tmp_path / "bp.toml"
    url = f"sqlite:///{tmp_path / 'bp.db'}"
    path.write_text(f'[database]\nurl = "{url}"\n[optimizer]\nexploration = "none"\n')
    engine = open_engine(url)
    write_exports(tmp_path, engine)
    engine.dispose()
    return path


def test_curves_lag_prints_the_learnt_curve(cfg: Path) -> None:
    as_of = (START + dt.timedelta(days=DAYS)).isoformat()
    table = runner.invoke(app, ["curves", "lag", "--config", str(cfg), "--as-of", as_of])
    assert table.exit_code == 0, table.output
    meta = next(line for line in table.stdout.splitlines() if line.startswith("meta"))
    cells = meta.split()
    # 0d, 1d, 3d, 7d, 14d, 30d: yesterday about half reported, complete after a few days.
    assert cells[-1] == "learnt"
    assert abs(int(cells[2].rstrip("%")) - 50) <= 4 and cells[4] == "100%"

    out = runner.invoke(app, ["curves", "lag", "--config", str(cfg), "--as-of", as_of,
                              "--json"])
    assert out.exit_code == 0, out.output
    body = json.loads(out.stdout)
    curve = next(c for c in body["curves"] if c["account"] is None)
    assert curve["network"] == "meta" and curve["learnt"] and curve["observations"] > 100
    assert abs(curve["share"]["1"] - 0.5) < 0.04 and abs(curve["share"]["3"] - 0.9) < 0.04
    assert curve["share_sd"]["1"] < 0.05
    # The account has days enough for a curve of its own.
    assert any(c["account"] == "act_1" for c in body["curves"])


def test_optimize_json_has_the_lag_section(cfg: Path) -> None:
    as_of = (START + dt.timedelta(days=DAYS)).isoformat()
    out = runner.invoke(app, ["optimize", "--config", str(cfg), "--as-of", as_of, "--json"])
    assert out.exit_code == 0, out.output
    lag = json.loads(out.stdout)["lag"]
    assert lag["nowcast"] is True and lag["horizon_days"] == 30
    meta = next(c for c in lag["curves"] if c["account"] is None)
    assert abs(meta["share"]["1"] - 0.5) < 0.04


def test_a_portfolio_that_does_not_exist_is_a_clear_error(cfg: Path) -> None:
    out = runner.invoke(app, ["curves", "lag", "--config", str(cfg), "--portfolio", "nope"])
    assert out.exit_code != 0 and "nope" in out.output and "Traceback" not in out.output
