"""Social columns imported from CSV (ours and a platform export), re-imported without change,
and reported by ``budgetpilot kpis`` as a table and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlmodel import Session
from typer.testing import CliRunner

from api.cli.main import app
from campaigns.models import DailyMetric

HEADER = ("date,network,account_id,campaign_id,campaign_name,currency,spend,impressions,clicks,"
          "conversions,revenue,reach,video_views,engagements,reactions,comments,shares,follows")
ROWS = [
    "2026-01-05,linkedin,l1,c1,Brand,EUR,10,1000,20,2,40,600,50,30,10,2,4,1",
    "2026-01-06,linkedin,l1,c1,Brand,EUR,10,1000,20,2,40,500,,30,10,2,4,1",  # views unknown
]
runner = CliRunner()


@pytest.fixture
def cfg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUDGETPILOT_DATABASE_URL", raising=False)
    monkeypatch.delenv("BUDGETPILOT_CONFIG", raising=False)
    path = tmp_path / "bp.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "bp.db"}"\n')
    return path


def _stored(tmp_path: Path) -> list[tuple]:
    engine = create_engine(f"sqlite:///{tmp_path / 'bp.db'}")
    with Session(engine) as s:
        rows = s.scalars(select(DailyMetric).order_by(DailyMetric.date)).all()
        return [(m.reach, m.video_views, m.engagements, m.shares, m.follows, m.updated_at)
                for m in rows]


def test_social_columns_import_once_and_report(cfg: Path, tmp_path: Path) -> None:
    csv = tmp_path / "social.csv"
    csv.write_text(HEADER + "\n" + "\n".join(ROWS) + "\n")
    result = runner.invoke(app, ["import-csv", str(csv), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    first = _stored(tmp_path)
    assert [r[:5] for r in first] == [(600, 50, 30, 4, 1), (500, None, 30, 4, 1)]
    again = runner.invoke(app, ["import-csv", str(csv), "--config", str(cfg)])
    assert again.exit_code == 0, again.output
    assert _stored(tmp_path) == first  # nothing rewritten, not even updated_at

    args = ["kpis", "--config", str(cfg), "--start", "2026-01-05", "--end", "2026-01-06"]
    table = runner.invoke(app, args)
    assert table.exit_code == 0, table.output
    assert "upper bound" in table.stdout and "linkedin" in table.stdout
    out = runner.invoke(app, [*args, "--json", "--by", "campaign"])
    assert out.exit_code == 0, out.output
    [row] = json.loads(out.stdout)["data"]
    assert row["key"] == "linkedin:l1:c1" and row["reach"] == 1100
    assert row["video_views"] == 50 and row["engagement_rate"] == 30.0
    assert row["cpm"] == 10.0 and row["roas"] == 4.0 and row["frequency"] == round(2000 / 1100, 6)


def test_a_platform_export_brings_its_social_columns(cfg: Path, tmp_path: Path) -> None:
    csv = tmp_path / "linkedin.csv"
    csv.write_text(
        "Start Date (in UTC),Account ID,Campaign ID,Campaign Name,Currency,Total Spent,"
        "Impressions,Clicks,Reactions,Comments,Shares,Follows\n"
        "01/05/2026,l9,c9,Hiring,EUR,5.00,400,8,7,1,2,3\n"
    )
    result = runner.invoke(app, ["import-csv", str(csv), "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    engine = create_engine(f"sqlite:///{tmp_path / 'bp.db'}")
    with Session(engine) as s:
        m = s.scalars(select(DailyMetric)).one()
    assert (m.reactions, m.comments, m.shares, m.follows, m.reach) == (7, 1, 2, 3, None)


def test_a_configured_import_format_can_map_social_columns(cfg: Path, tmp_path: Path) -> None:
    cfg.write_text(cfg.read_text() + '[[imports]]\nname = "xing"\nnetwork = "xing"\n'
                   'currency = "EUR"\naccount_id = "x1"\n[imports.columns]\ndate = "Datum"\n'
                   'spend = "Kosten"\ncampaign_name = "Kampagne"\nreach = "Reichweite"\n')
    csv = tmp_path / "xing.csv"
    csv.write_text("Datum,Kampagne,Kosten,Reichweite\n2026-01-05,Jobs,3.00,250\n")
    result = runner.invoke(app, ["import-csv", str(csv), "--config", str(cfg), "--format",
                                 "xing"])
    assert result.exit_code == 0, result.output
    engine = create_engine(f"sqlite:///{tmp_path / 'bp.db'}")
    with Session(engine) as s:
        assert s.scalars(select(DailyMetric)).one().reach == 250
