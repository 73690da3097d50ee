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
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from api.cli.data import run_sync
from campaigns.admin.auth import Principal, Role
from campaigns.config import Settings, load_settings, settings_from_dict
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


def synced_and_approved(engine: Engine, settings: Settings, now: dt.datetime) -> int:
    """The sandbox synced in process and its proposal approved whole: the shift to apply."""
    assert run_sync(engine, settings, now=now) == 0
    with Session(engine, expire_on_commit=False) as db:
        shift_id = propose(db, settings, created_by="test", now=now).shift_id
        db.commit()
        shifts.approve(db, shift_id, version=1, user=BOSS,
                       policy=ShiftPolicy(auto_approve_max_change=1), now=now)
        db.commit()
    assert shift_id is not None
    return shift_id


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
    shift_id = synced_and_approved(engine, plain, now)
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


@pytest.mark.skipif(_REDIS_SKIP is not None, reason=_REDIS_SKIP or "")
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
def test_an_apply_past_its_soft_time_limit_fails_its_items_by_name_and_can_be_resumed(
    tmp_path: Path, own_pg_url: str, capsys: pytest.CaptureFixture
) -> None:
    """On the prefork pool a write-back task carries Celery's soft time limit, as the sync's
    do: past it the account's unwritten items fail, the limit named, none is left claimed,
    and applying the shift again writes them, each budget once."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    state = tmp_path / "sandbox.json"
    # 1.5 s a platform call: the budgets' listing, then the first write passes the 2 s limit.
    source = sandbox(now, accounts=2, latency_ms=1500, state_path=str(state))
    config = tmp_path / "queue.toml"
    queue_config(config, source)
    config.write_text(config.read_text()
                      + "account_time_limit = 2\naccount_time_limit_grace = 60\n")
    engine = create_db_engine(own_pg_url)
    plain = settings_from_dict(tomllib.loads(source.replace("latency_ms = 1500", "")))
    shift_id = synced_and_approved(engine, plain, now)
    capsys.readouterr()

    def apply(settings: object) -> BudgetShift:
        with Session(engine, expire_on_commit=False) as db:
            version = db.get(BudgetShift, shift_id).version  # type: ignore[union-attr]
            view = shifts.apply(db, shift_id, version=version, user=BOSS, now=now,
                                applier=production_applier(settings))  # type: ignore[arg-type]
            db.commit()
            return view.shift

    with workers(config, own_pg_url, tmp_path, count=1, concurrency=2) as pool:
        first = apply(load_settings(config))
        logs = "".join(w.text() for w in pool)
    assert "SoftTimeLimitExceeded" in logs or "Soft time limit" in logs  # Celery's own limit
    with Session(engine) as db:
        items = db.scalars(select(ShiftItem).where(ShiftItem.shift_id == shift_id)).all()
    assert first.status in ("failed", "partially_applied")
    written = [i for i in items if i.status != "applied"]
    assert written and {i.status for i in written} <= {"failed", "skipped"}
    failed = [i for i in items if i.status == "failed"]
    assert failed and all("[deadline]" in (i.error or "") and
                          "account_time_limit (2 s)" in (i.error or "") for i in failed)
    assert not [i for i in items if i.claimed_by], "no item is left claimed"
    # Resumed at once (no claim timeout to wait out), in-process here: every budget applied,
    # none written twice.
    assert apply(plain).status == "applied"
    journal = (tmp_path / "sandbox.json.log").read_text().splitlines()
    writes = Counter(json.loads(line)["key"] for line in journal if line.strip())
    assert writes and max(writes.values()) == 1, writes
    engine.dispose()
