"""`optimize` learns the completion curves once per state of the observations: a rerun with
nothing new reuses the last run's curves (the same numbers), a new restatement relearns,
reading only the days restated, to the same curves as learning from every observation."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.engine import Engine
from sqlmodel import Session

import campaigns.optimization.nowcast as nowcast
from campaigns.config import Settings
from campaigns.ingest.csv_import.importer import import_csv
from campaigns.models import CompletionState, OptimizationRun
from campaigns.optimization.proposals import propose
from tests.api.cli.test_curves_lag_cli import DAYS, HEADER, START, write_exports

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
