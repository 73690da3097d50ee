"""An agency's portfolios on real `budgetpilot worker` processes (Redis broker, PostgreSQL
state): one nightly run submits every portfolio's workflow and waits for them together, so
one client's sync runs while another's is optimised or applied; a portfolio sharing a
source with an earlier one waits for it instead of finding the source busy."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from campaigns.config import load_settings
from campaigns.db import create_db_engine
from campaigns.jobs.nightly import run_nightly
from campaigns.jobs.nightly_report import NightlyReport
from campaigns.models import AuditEvent, BudgetShift
from tests.api.sandbox import add_fx_rates
from tests.workers.processes import queue_config, redis_skip_reason, workers

SLOT = dt.datetime(2030, 1, 1, 2, 0, tzinfo=dt.UTC)
_REDIS_SKIP = redis_skip_reason()
pytestmark = [pytest.mark.skipif(_REDIS_SKIP is not None, reason=_REDIS_SKIP or ""),
              pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]


def _client(name: str, first: int, state: Path, listed: str = "") -> str:
    """A client's sandbox source of 2 accounts (numbered from ``first``) on the agency's
    one app, and its portfolio (``listed``: the accounts it lists, from any source)."""
    return (
        f'[[sources]]\nname = "{name}"\nkind = "sandbox"\nseed = 7\naccounts = 2\n'
        f'first_account = {first}\ncampaigns_per_account = 2\napp = "agency"\n'
        f'portfolio = "{name}"\nlatency_ms = 150\nreport_seconds = [2, 2]\n'
        f'state_path = "{state}"\nnow = "{SLOT.replace(tzinfo=None).isoformat()}"\n'
        f'[[portfolios]]\nname = "{name}"\nreporting_currency = "EUR"\n'
        + (f'accounts = ["{listed}"]\n' if listed else "")
    )


def _events(engine: object, action: str) -> dict[str, dt.datetime]:
    with Session(engine) as s:  # type: ignore[arg-type]
        rows = s.execute(select(AuditEvent.entity_id, AuditEvent.at)
                         .where(col(AuditEvent.action) == action)).all()
    return {key.split("@")[0]: at for key, at in rows}


def _nightly(tmp_path: Path, url: str, more: str, *, workers_: int,
             queue: str = "") -> tuple[Engine, NightlyReport]:
    """One nightly run on ``workers_`` real worker processes over the clients north and
    south (a source each) and ``more``, with ``queue`` added to the ``[queue]`` settings."""
    engine = create_db_engine(url)
    add_fx_rates(engine)
    cfg = tmp_path / "queue.toml"
    queue_config(cfg, '[sync]\nhistory_days = 14\n'
                 + _client("north", 0, tmp_path / "n.json")
                 + _client("south", 2, tmp_path / "s.json") + more
                 + '[optimizer]\nmax_change = 0.05\n[service]\nauto_approve_max_change = 0.1\n')
    cfg.write_text(cfg.read_text() + queue)  # queue_config ends with the [queue] table
    settings = load_settings(cfg)
    with workers(cfg, url, tmp_path, count=workers_, concurrency=8, pool="threads"):
        return engine, run_nightly(engine, settings, slot=SLOT, holder="test")


def test_portfolios_of_their_own_sources_run_side_by_side_and_shared_ones_in_turn(
    tmp_path: Path, own_pg_url: str,
) -> None:
    # north and south have a source each; east's portfolio lists its accounts, so every
    # source may feed it (north's and south's included) and it waits for both.
    engine, report = _nightly(tmp_path, own_pg_url, _client("east", 4, tmp_path / "e.json",
                                                            listed="meta:act_1051"), workers_=2)
    assert [p.portfolio for p in report.portfolios] == ["north", "south", "east"]
    assert all(p.status == "succeeded" for p in report.portfolios), report.lines()
    assert not report.sync_failures, report.sync_failures  # no source found busy
    assert report.portfolios[0].applied and report.portfolios[1].applied
    started, finished = _events(engine, "nightly.start"), _events(engine, "nightly.finish")
    # Side by side: south was submitted before north had finished, and the other way round.
    assert started["south"] < finished["north"] and started["north"] < finished["south"]
    # In turn: east shares sources with both, so it started once both had finished.
    assert started["east"] >= max(finished["north"], finished["south"])
    with Session(engine) as s:
        assert len(s.scalars(select(BudgetShift)).all()) >= 2
    engine.dispose()


def test_portfolios_at_once_bounds_the_portfolios_run_side_by_side(
    tmp_path: Path, own_pg_url: str,
) -> None:
    # Two clients of their own sources, which would run side by side (above); one at a time.
    engine, report = _nightly(tmp_path, own_pg_url, "", workers_=1,
                              queue="portfolios_at_once = 1\n")
    assert [p.portfolio for p in report.portfolios] == ["north", "south"]
    assert all(p.status == "succeeded" for p in report.portfolios), report.lines()
    started, finished = _events(engine, "nightly.start"), _events(engine, "nightly.finish")
    assert started["south"] >= finished["north"]  # south waited for north's whole run
    engine.dispose()

