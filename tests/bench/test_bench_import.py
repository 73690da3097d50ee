"""The import benchmark's generated files: the TikTok export (and Google's) hold the same
campaign-days as our own format, so their figures compare like with like."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from bench.bench_import import campaign_days, write_csv, write_google_csv, write_tiktok_csv
from campaigns.config import Settings
from campaigns.db import open_engine
from campaigns.ingest.csv_import.importer import import_csv
from campaigns.models import DailyMetric

ROWS = 20_000  # two days of the benchmark's 10,000 campaigns


@pytest.mark.parametrize(("writer", "fmt"), [
    (write_csv, "budgetpilot"), (write_google_csv, "google"), (write_tiktok_csv, "tiktok")])
def test_each_generated_format_imports_the_same_campaign_days(
    tmp_path: Path, writer, fmt: str  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / f"{fmt}.csv"
    writer(path, ROWS)
    engine = open_engine(f"sqlite:///{tmp_path / 'bench.db'}")
    result = import_csv(engine, path, settings=Settings())
    assert result.rows == ROWS and result.format == fmt
    with Session(engine) as s:
        spend, impressions, conversions = s.execute(select(
            func.sum(DailyMetric.spend), func.sum(DailyMetric.impressions),
            func.sum(DailyMetric.conversions))).one()
    # the same random campaign-days whatever the format (seeded)
    expected = sum(Decimal(str(sp)) for _, _, sp, _ in campaign_days(ROWS))
    assert Decimal(spend).quantize(Decimal("0.01")) == expected
    assert impressions > 0 and conversions > 0

