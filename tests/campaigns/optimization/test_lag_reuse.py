"""`optimize` learns the completion curves once per state of the observations: a rerun with
nothing new reuses the last run's curves (the same numbers), a new restatement relearns,
reading only the days restated, to the same curves as learning from every observation."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

import campaigns.optimization.nowcast as nowcast
from campaigns.config import Settings
from campaigns.ingest.csv_import.importer import import_csv
from campaigns.models import Campaign, CompletionState, MetricObservation, OptimizationRun
from campaigns.optimization.proposals import propose
from tests.api.cli.test_curves_lag_cli import DAYS, HEADER, START, write_exports
from tests.api.factories import create_account, create_campaign

TODAY = START + dt.timedelta(days=DAYS)
NOW = dt.datetime.combine(TODAY, dt.time(9), dt.UTC)


def test_a_rerun_reuses_the_curves_until_a_restatement_arrives(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_exports(tmp_path, engine)
    learnt: list[int] = []
    real = nowcast._Learner.rows

    def counting(self: Any, dates: Any = None) -> Any:
        rows = real(self, dates)
        learnt.append(len(rows["campaign"]))
        return rows

    monkeypatch.setattr(nowcast._Learner, "rows", counting)
    settings = Settings.model_validate({"optimizer": {"exploration": "none"}})

    runs = iter(range(100))

    def run() -> dict[str, Any]:  # each run a minute after the last
        now = NOW + dt.timedelta(minutes=next(runs))
        with Session(engine, expire_on_commit=False) as session:
            out = propose(session, settings, today=TODAY, now=now).to_json()
            session.commit()
        return out

    first = run()
    assert len(learnt) == 1 and learnt[0] > 0
    second = run()
    assert len(learnt) == 1  # nothing new observed: the curves were not learnt again
    assert second["lag"] == first["lag"]
    assert second["allocations"] == first["allocations"]

    # Today's export restates yesterday upwards: one more observation, learnt from.
    day = TODAY - dt.timedelta(days=1)
    path = tmp_path / "restated.csv"
    path.write_text(f"{HEADER}\n{day.isoformat()},meta,act_1,c0,Campaign 0,EUR,100,1000,50,"
                    "999,29970,120\n")
    import_csv(engine, path, settings=Settings(), today=TODAY)
    third = run()
    # Only the restated day was read again: its observations, not every one.
    assert len(learnt) == 2 and 0 < learnt[1] < learnt[0] / 5
    meta = next(c for c in third["lag"]["curves"] if c["account"] is None)
    before = next(c for c in first["lag"]["curves"] if c["account"] is None)
    assert meta["observations"] == before["observations"] + 1
    # The same curves as learning from every observation again.
    with Session(engine) as session:
        session.execute(delete(CompletionState))
        session.execute(update(OptimizationRun).values(inputs={}))
        session.commit()
    assert run()["lag"] == third["lag"]
    assert len(learnt) == 3 and learnt[2] == learnt[0] + 1
    # The newest run's curves are the ones reused, whatever the order of the runs' ids.
    assert [run()["lag"] for _ in range(3)] == [third["lag"]] * 3
    assert len(learnt) == 3


def test_showing_the_curves_keeps_nothing_and_a_run_keeps_them_once(
    engine: Engine, tmp_path: Path
) -> None:
    """`curves lag` (and the pages) only read; a run writes what it learnt, one row a
    portfolio however often it runs."""
    write_exports(tmp_path, engine)
    with Session(engine) as session:
        shown = nowcast.portfolio_lag(session, "default", TODAY)
        session.commit()
        assert shown.curves.all() and session.scalars(select(CompletionState)).all() == []
    settings = Settings.model_validate({"optimizer": {"exploration": "none"}})
    for minute in range(2):
        with Session(engine, expire_on_commit=False) as session:
            propose(session, settings, today=TODAY, now=NOW + dt.timedelta(minutes=minute))
            session.execute(update(OptimizationRun).values(inputs={}))  # learn again
            session.commit()
    with Session(engine) as session:
        kept = session.scalars(select(CompletionState)).all()
        assert len(kept) == 1 and kept[0].as_of == TODAY and len(kept[0].cells) > 0


def _observed(session: Session, today: dt.date) -> tuple[list[Any], list[tuple[int, int, int, float]]]:
    """Two accounts' campaigns with observations at the edges of what a read must number
    right: the window's first and last day, a read before the day, one years before and one the window
    long after, a read
    in the last millisecond of a day (which is still that day), fractional conversions, and a
    day outside the window. Returns the accounts and the rows a read of the window gives
    (campaign id, day number, read day number, conversions) in the index's order."""
    epoch = dt.date(1970, 1, 1)
    accounts = [create_account(session, network=n) for n in ("meta", "google")]
    campaigns = [create_campaign(session, account=a) for a in accounts for _ in range(2)]
    first = today - dt.timedelta(days=nowcast.LEARN_DAYS)
    reads = [(first, dt.datetime.combine(first, dt.time(3)), "2"),
             (first, dt.datetime.combine(first + dt.timedelta(days=2), dt.time(23, 59, 59,
                                                                              999_900)), "2.5"),
             (today - dt.timedelta(days=1), dt.datetime.combine(
                 today - dt.timedelta(days=2), dt.time(22)), "0"),
             (today - dt.timedelta(days=1), dt.datetime.combine(today, dt.time(1)), "7.25"),
             (today - dt.timedelta(days=9), dt.datetime.combine(
                 today - dt.timedelta(days=9 + 7_000), dt.time(5)), "11"),
             (first, dt.datetime.combine(today - dt.timedelta(days=1), dt.time(5)), "3"),
             (first - dt.timedelta(days=1), dt.datetime.combine(first, dt.time(3)), "4")]
    expected = []
    for k, campaign in enumerate(campaigns):
        for day, seen, value in reads[k % 2:]:
            session.add(MetricObservation(campaign_id=campaign.id, date=day, observed_at=seen,
                                          conversions=Decimal(value) + k,
                                          revenue=Decimal("0"), source="sync"))
            if first <= day < today:
                expected.append((campaign.id, (day - epoch).days, (seen.date() - epoch).days,
                                 float(Decimal(value) + k)))
    session.flush()
    return accounts, sorted(expected, key=lambda r: (r[0], r[1], r[2]))


def _read(session: Session, accounts: list[Any], today: dt.date) -> list[tuple[int, int, int, float]]:
    by_id = {a.id: a for a in accounts}
    owners = np.array(sorted((c, a) for (c, a) in session.execute(
        select(col(Campaign.id), col(Campaign.account_id))
        .where(col(Campaign.account_id).in_(list(by_id))))), dtype=np.int64)
    sqlite = session.get_bind().dialect.name == "sqlite"
    rows = nowcast._Learner(session, by_id, owners, today, sqlite).rows()
    return list(zip(rows["campaign"].tolist(), rows["date"].tolist(), rows["seen"].tolist(),
                    rows["value"].tolist(), strict=True))


def test_the_observations_read_are_the_same_on_sqlite_and_postgresql(engine: Engine) -> None:
    """SQLite's read (one packed integer a row) and PostgreSQL's (dates as the driver gives
    them) number the days and reads alike, to the same rows as the stored observations."""
    with Session(engine) as session:
        accounts, expected = _observed(session, TODAY)
        assert _read(session, accounts, TODAY) == expected


def test_sqlite_reads_campaign_ids_too_large_to_pack_alike(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Session(sqlite_engine) as session:
        accounts, expected = _observed(session, TODAY)
        packed = _read(session, accounts, TODAY)
        monkeypatch.setattr(nowcast, "_IDS", 0)  # every id too large: four columns read
        assert _read(session, accounts, TODAY) == packed == expected
