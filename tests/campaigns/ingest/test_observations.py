"""Each sync or import keeps what it saw of a campaign-day's results only when they changed:
the restatements nowcasting learns from, and nothing more on a re-import."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.config import Settings
from campaigns.ingest.csv_import.importer import REQUIRED, import_csv
from campaigns.ingest.metrics_store import (
    COPY_THRESHOLD,
    OBSERVED_DAYS,
    upsert_metric_tuples,
    upsert_metrics,
)
from campaigns.models import MetricObservation
from tests.api.factories import create_account, create_campaign

HEADER = ",".join(REQUIRED)


def _observations(engine: Engine) -> list[MetricObservation]:
    with Session(engine) as s:
        return list(s.scalars(select(MetricObservation).order_by(
            MetricObservation.date, MetricObservation.observed_at)))


def _export(tmp_path: Path, name: str, conversions: tuple[str, str]) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([
        HEADER,
        f"2026-03-08,tiktok,tt_1,c1,Spring sale,EUR,100.50,10000,250,{conversions[0]},840.00",
        f"2026-03-09,tiktok,tt_1,c1,Spring sale,EUR,99.25,9800,240,{conversions[1]},790.10",
    ]) + "\n")
    return path


def test_reimport_writes_nothing_and_a_restatement_one_row(
    engine: Engine, tmp_path: Path
) -> None:
    first = _export(tmp_path, "day10.csv", ("12", "4"))
    import_csv(engine, first, settings=Settings(), today=dt.date(2026, 3, 10))
    seen = _observations(engine)
    assert [(o.date.day, o.conversions, o.source) for o in seen] == [
        (8, Decimal(12), "import"), (9, Decimal(4), "import")]
    # Replayed as of 10 March, the file counts as seen on that day.
    assert {o.observed_at.date() for o in seen} == {dt.date(2026, 3, 10)}

    import_csv(engine, first, settings=Settings(), today=dt.date(2026, 3, 11))
    assert len(_observations(engine)) == 2

    # The next export restates the 9th (conversions still arriving); the 8th is unchanged.
    import_csv(engine, _export(tmp_path, "day11.csv", ("12", "9.5")), settings=Settings(),
               today=dt.date(2026, 3, 11))
    later = _observations(engine)
    assert len(later) == 3
    assert (later[-1].date, later[-1].conversions, later[-1].revenue) == (
        dt.date(2026, 3, 9), Decimal("9.5"), Decimal("790.10"))
    assert later[-1].observed_at.date() == dt.date(2026, 3, 11)


# The second case is a batch large enough for PostgreSQL's COPY path.
@pytest.mark.parametrize(("n_campaigns", "days"),
                         [(1, 3), (COPY_THRESHOLD // OBSERVED_DAYS + 1, OBSERVED_DAYS)])
def test_store_observes_changed_days_on_both_paths(
    engine: Engine, n_campaigns: int, days: int
) -> None:
    day0 = dt.date(2025, 1, 1)
    with Session(engine) as s:
        account = create_account(s)
        campaigns = [create_campaign(s, account=account) for _ in range(n_campaigns)]
        rows = [{"campaign_id": campaign.id, "account_id": campaign.account_id,
                 "date": day0 + dt.timedelta(days=i), "spend": Decimal("1.50"),
                 "impressions": 100, "clicks": 1, "conversions": Decimal(2),
                 "revenue": Decimal("10.25")} for campaign in campaigns for i in range(days)]
        # Read the day after the last day: every day is still young (the longest batch
        # spans OBSERVED_DAYS days at most).
        first_read = dt.datetime(2025, 1, 1, 3, tzinfo=dt.UTC) + dt.timedelta(days=days)
        upsert_metrics(s, rows, observed_at=first_read)
        s.commit()
        # More clicks but the same results: not a restatement of what nowcasting reads.
        upsert_metrics(s, [r | {"clicks": 5} for r in rows], observed_at=first_read)
        s.commit()
        assert len(_observations(engine)) == len(rows)
        when = first_read + dt.timedelta(days=1)
        restated = [r | {"revenue": Decimal("11.25")} if i == 1 else r
                    for i, r in enumerate(rows)]
        upsert_metric_tuples(s, [(r["campaign_id"], r["account_id"], r["date"], r["spend"],
                                  r["impressions"], r["clicks"], r["conversions"], r["revenue"])
                                 for r in restated],
                             with_budget=False, source="sync", observed_at=when)
        s.commit()
    seen = _observations(engine)
    assert len(seen) == len(rows) + 1
    synced = [o for o in seen if o.source == "sync"]
    assert [(o.date, o.revenue) for o in synced] == [(day0 + dt.timedelta(days=1),
                                                      Decimal("11.25"))]
    assert synced[0].observed_at.replace(tzinfo=dt.UTC) == when


def test_a_sync_keeps_what_it_saw_at_its_own_clock(engine: Engine) -> None:
    """The sandbox restates recent days' conversions; a resync at the same time writes
    nothing, one ten days later keeps the restated days, seen then."""
    from campaigns.config import SourceSettings, settings_from_dict
    from campaigns.ingest.sync import sync_source
    from connectors.sandbox import SandboxConnector

    now = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
    source = SourceSettings(name="sandbox", kind="sandbox")
    settings = settings_from_dict({"sync": {"lookback_days": 28, "history_days": 40}})
    sandbox = SandboxConnector(now=now)
    sync_source(engine, settings, source, sandbox, now=now)
    first = _observations(engine)
    assert first and {o.source for o in first} == {"sync"}
    assert {o.observed_at.replace(tzinfo=dt.UTC) for o in first} == {now}
    sync_source(engine, settings, source, sandbox, now=now)
    assert len(_observations(engine)) == len(first)
    later = now + dt.timedelta(days=10)
    sandbox.set_now(later)
    sync_source(engine, settings, source, sandbox, now=later)
    restated = [o for o in _observations(engine)
                if o.observed_at.replace(tzinfo=dt.UTC) == later and o.date < now.date()]
    assert restated  # days already stored, restated upwards
    assert all((later.date() - o.date).days <= 28 for o in restated)  # inside the lookback


def test_only_days_still_restating_keep_observations(engine: Engine) -> None:
    """A re-import that changes a day older than the longest conversion window keeps no
    observation (the day is complete); the same change to a young day keeps one."""
    from campaigns.models import DailyMetric

    read = dt.datetime(2026, 5, 31, 6, tzinfo=dt.UTC)
    old = read.date() - dt.timedelta(days=OBSERVED_DAYS + 1)
    young = read.date() - dt.timedelta(days=OBSERVED_DAYS)
    with Session(engine) as s:
        campaign = create_campaign(s, account=create_account(s))

        def rows(conversions: int) -> list[dict[str, object]]:
            return [{"campaign_id": campaign.id, "account_id": campaign.account_id, "date": day,
                     "spend": Decimal("5.00"), "impressions": 10, "clicks": 1,
                     "conversions": Decimal(conversions), "revenue": Decimal("0")}
                    for day in (old, young)]

        upsert_metrics(s, rows(3), observed_at=read)
        s.commit()
        assert [o.date for o in _observations(engine)] == [young]
        upsert_metrics(s, rows(7), observed_at=read + dt.timedelta(hours=5))
        s.commit()
        stored = s.scalars(select(DailyMetric.conversions).where(DailyMetric.date == old)).all()
    seen = _observations(engine)
    assert [(o.date, o.conversions) for o in seen] == [(young, Decimal(3)), (young, Decimal(7))]
    assert stored == [Decimal(7)]  # the old day itself is restated all the same
