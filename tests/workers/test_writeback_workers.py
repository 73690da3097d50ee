"""Write-back fanned out per account over real workers: a worker SIGKILLed mid-apply writes
no budget twice, and the shift ends applied once its claims are retried."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from sqlmodel import Session, select

from api.cli.data import run_sync
from campaigns.admin.auth import Principal, Role
from campaigns.config import load_settings, settings_from_dict
from campaigns.db import create_db_engine
from campaigns.jobs.appliers import production_applier
from campaigns.models import BudgetShift, ShiftItem
from campaigns.optimization.proposals import propose
from campaigns.policy import ShiftPolicy
from campaigns.shifts import lifecycle as shifts
from tests.workers.processes import (
    kill_the_one_running,
    queue_config,
    redis_skip_reason,
    workers,
)
from tests.workers.test_sync_workers import sandbox

_REDIS_SKIP = redis_skip_reason()
BOSS = Principal("boss", Role.admin)


@pytest.mark.skipif(_REDIS_SKIP is not None, reason=_REDIS_SKIP or "")
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
def test_a_worker_killed_mid_apply_writes_no_budget_twice(
    tmp_path: Path, own_pg_url: str, capsys: pytest.CaptureFixture
) -> None:
    # A shift's FX rates are those of the day it is created: the machine's clock, so the
    # platform's clock is today's too (whatever day that is).
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    state = tmp_path / "sandbox.json"
    source = sandbox(now, accounts=3, latency_ms=250, state_path=str(state))
    config = tmp_path / "queue.toml"
    queue_config(config, source, visibility_timeout=2)
    engine = create_db_engine(own_pg_url)
    plain = settings_from_dict(tomllib.loads(source.replace("latency_ms = 250", "")))
    assert run_sync(engine, plain, now=now) == 0
    with Session(engine, expire_on_commit=False) as db:
        shift_id = propose(db, plain, created_by="test", now=now).shift_id
        db.commit()
        shifts.approve(db, shift_id, version=1, user=BOSS,
                       policy=ShiftPolicy(auto_approve_max_change=1), now=now)
        db.commit()
    capsys.readouterr()
    settings = load_settings(config)

    def apply(at: dt.datetime) -> None:
        with Session(engine, expire_on_commit=False) as db:
            version = db.get(BudgetShift, shift_id).version  # type: ignore[union-attr]
            shifts.apply(db, shift_id, version=version, user=BOSS, now=at,
                         applier=production_applier(settings))
            db.commit()

    # A dry run with a broker configured is read in this process: nothing is written.
    with Session(engine, expire_on_commit=False) as db:
        view = shifts.apply(db, shift_id, version=2, user=BOSS, now=now, dry_run=True,
                            applier=production_applier(settings))
        db.commit()
    assert view.shift.status == "approved"
    assert view.report and {o.outcome for o in view.report.outcomes} == {"would_apply"}
    journal_path = tmp_path / "sandbox.json.log"
    assert not journal_path.exists() or not journal_path.read_text().strip()

    with workers(config, own_pg_url, tmp_path, count=2) as pool:
        first = threading.Thread(target=apply, args=(now,))
        first.start()
        # 0.4 s after the task started: inside the account's reads and writes
        victim, survivor = kill_the_one_running(pool, "apply attempt 1", after=0.4)
        killed = re.findall(r"items (\[[\d, ]+\]): apply attempt 1", victim.text())[-1]
        first.join(timeout=90)
        assert not first.is_alive()
        # Delivered again: the same task takes over the items its dead delivery claimed
        # (read first, so a budget the dead worker wrote is not written again).
        assert f"items {killed}: apply attempt 2" in survivor.text()
    with Session(engine) as db:
        shift = db.get(BudgetShift, shift_id)
        items = db.scalars(select(ShiftItem).where(ShiftItem.shift_id == shift_id)).all()
    engine.dispose()
    assert shift is not None and shift.status == "applied", [i.status for i in items]
    assert items and all(i.status in ("applied", "skipped") for i in items)
    journal = (tmp_path / "sandbox.json.log").read_text().splitlines()
    writes = Counter(json.loads(line)["key"] for line in journal if line.strip())
    assert writes and max(writes.values()) == 1, writes  # no budget written twice
