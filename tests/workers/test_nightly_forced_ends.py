"""Nightly tasks that end by force on real `budgetpilot worker` processes (Redis broker,
PostgreSQL state): a sync killed at the hard time limit fails its chord, and the run still
names the account, leaves it out and optimises and applies the rest; a worker SIGKILLed in
the middle of a sync or an apply has the task finished by another worker, nothing applied
twice, and the run's report says what happened."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import tomllib
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.config import load_settings, settings_from_dict
from campaigns.db import create_db_engine
from campaigns.jobs.nightly import NightlyReport, run_nightly
from campaigns.models import AuditEvent
from tests.api.sandbox import add_fx_rates
from tests.workers.processes import Worker, queue_config, redis_skip_reason, workers
from tests.workers.test_nightly_workflow import KEY, SLOT, _budgets, _toml

_REDIS_SKIP = redis_skip_reason()
pytestmark = [pytest.mark.skipif(_REDIS_SKIP is not None, reason=_REDIS_SKIP or ""),
              pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]
STUCK = "act_1001"


def test_a_sync_killed_at_the_hard_time_limit_is_named_and_the_rest_applied(
    tmp_path: Path, own_pg_url: str,
) -> None:
    engine = create_db_engine(own_pg_url)
    add_fx_rates(engine)
    # Every account known from an earlier night; tonight one account's async report never
    # finishes, and with no grace after the soft limit its worker process is ended at 3 s.
    run_nightly(engine, settings_from_dict(tomllib.loads(_toml(tmp_path / "s.json"))),
                slot=SLOT - dt.timedelta(days=1), holder="test", dry_run=True)
    cfg = tmp_path / "queue.toml"
    queue_config(cfg, _toml(tmp_path / "s.json").replace(
        "latency_ms = 20\n", f'latency_ms = 20\nstuck_reports = ["{STUCK}"]\n'))
    cfg.write_text(cfg.read_text() + "account_time_limit = 3\naccount_time_limit_grace = 0\n")
    with workers(cfg, own_pg_url, tmp_path, count=2) as pool:
        start = time.monotonic()
        report = run_nightly(engine, load_settings(cfg), slot=SLOT, holder="test")
        took = time.monotonic() - start
        logs = "".join(w.text() for w in pool)
    assert "Hard time limit (3" in logs  # Celery itself ended the task, not our code
    [outcome] = report.portfolios
    accounts = {t.subject: t for t in outcome.timings if t.step == "sync_account"}
    assert len(accounts) == 5
    assert report.unsynced == {f"meta:{STUCK}"}
    assert "hard time limit" in (accounts[f"meta:{STUCK}"].error or "")
    assert "account_time_limit (3 s)" in (accounts[f"meta:{STUCK}"].error or "")
    assert any(f"meta:{STUCK} failed to sync" in h for h in outcome.held), outcome.held
    # The rest optimised and applied without it, in one run, long before wait_timeout.
    assert outcome.auto_approved and outcome.applied == [outcome.shift_id]
    items, _ = _budgets(engine)
    assert {s for (acct, *_), (_, s) in items.items() if acct != STUCK} == {"applied"}
    assert all(s != "applied" for (acct, *_), (_, s) in items.items() if acct == STUCK)
    assert took < 90
    with Session(engine) as s:
        [finish] = s.scalars(select(AuditEvent).where(
            col(AuditEvent.entity_id) == KEY, col(AuditEvent.action) == "nightly.finish"))
    assert (finish.after or {})["status"] != "failed"
    engine.dispose()


def test_a_sync_past_its_time_limit_on_the_thread_pool_is_stopped_by_its_own_deadline(
    tmp_path: Path, own_pg_url: str,
) -> None:
    """Celery's time limits do nothing on `--pool threads`: the task's own deadline, checked
    between platform calls and report polls, stops the stuck account at the limit, names it,
    and gives its slot back; the rest is optimised and applied in the same run."""
    engine = create_db_engine(own_pg_url)
    add_fx_rates(engine)
    run_nightly(engine, settings_from_dict(tomllib.loads(_toml(tmp_path / "s.json"))),
                slot=SLOT - dt.timedelta(days=1), holder="test", dry_run=True)
    cfg = tmp_path / "queue.toml"
    queue_config(cfg, _toml(tmp_path / "s.json").replace(
        "latency_ms = 20\n", f'latency_ms = 20\nstuck_reports = ["{STUCK}"]\n'))
    cfg.write_text(cfg.read_text() + "account_time_limit = 3\n")  # grace: the default 60
    with workers(cfg, own_pg_url, tmp_path, count=1, concurrency=4, pool="threads") as pool:
        start = time.monotonic()
        report = run_nightly(engine, load_settings(cfg), slot=SLOT, holder="test")
        took = time.monotonic() - start
        logs = "".join(w.text() for w in pool)
    assert "time limit" not in logs.lower().replace("account_time_limit", "")  # not Celery
    [outcome] = report.portfolios
    accounts = {t.subject: t for t in outcome.timings if t.step == "sync_account"}
    assert report.unsynced == {f"meta:{STUCK}"}
    stuck = accounts[f"meta:{STUCK}"]
    assert "[deadline]" in (stuck.error or "") and "account_time_limit (3 s)" in (stuck.error or "")
    assert 3 <= stuck.seconds < 20, stuck  # at the limit, not the grace or the report's hour
    assert outcome.auto_approved and outcome.applied == [outcome.shift_id]
    items, _ = _budgets(engine)
    assert {s for (acct, *_), (_, s) in items.items() if acct != STUCK} == {"applied"}
    assert took < 60
    engine.dispose()


def _kill_when(pool: list[Worker], needle: str, *, after: float, timeout: float = 90) -> Worker:
    """SIGKILL the worker that logs ``needle`` (its task has started), ``after`` seconds on."""
    deadline = time.monotonic() + timeout
    while not (hit := [w for w in pool if w.proc.poll() is None and needle in w.text()]):
        assert time.monotonic() < deadline, "".join(w.text() for w in pool)
        time.sleep(0.02)
    time.sleep(after)
    hit[0].kill()
    return hit[0]


def test_workers_killed_mid_sync_and_mid_apply_lose_and_duplicate_nothing(
    tmp_path: Path, own_pg_url: str,
) -> None:
    engine = create_db_engine(own_pg_url)
    add_fx_rates(engine)
    cfg = tmp_path / "queue.toml"
    # 250 ms a platform call: an account's sync or apply takes a second or two, so a kill
    # lands inside one; a lost worker's task is delivered again after 8 s.
    queue_config(cfg, _toml(tmp_path / "s.json", latency_ms=250), visibility_timeout=8)
    journal = tmp_path / "s.json.log"  # every budget the sandbox platform was sent
    reports: list[NightlyReport] = []
    with workers(cfg, own_pg_url, tmp_path, count=3) as pool:
        submitter = threading.Thread(target=lambda: reports.append(
            run_nightly(engine, load_settings(cfg), slot=SLOT, holder="test")))
        submitter.start()
        synced = _kill_when(pool, ": sync attempt 1", after=0.4)
        label = re.findall(r"(\S+): sync attempt 1", synced.text())[-1]
        applying = _kill_when(pool, ": apply attempt 1", after=0.6)
        items = re.findall(r"shift \d+ items (\[[\d, ]+\]): apply attempt 1",
                           applying.text())[-1]
        submitter.join(timeout=240)
        after_sync = "".join(w.text() for w in pool if w is not synced)
        survivors = "".join(w.text() for w in pool if w not in (synced, applying))
    [report] = reports
    [outcome] = report.portfolios
    assert synced is not applying
    # The killed sync was delivered again, to the worker still alive, and the account synced.
    assert f"{label}: sync attempt 2" in after_sync, after_sync
    assert report.unsynced == set() and not report.sync_failures
    # The killed apply too: its items taken over under the same task's claim, all applied.
    assert f"items {items}: apply attempt 2" in survivors, survivors
    assert outcome.auto_approved and outcome.applied == [outcome.shift_id], report.lines()
    got, _ = _budgets(engine)
    assert got and {s for _, s in got.values()} == {"applied"}
    # Nothing written twice: each budget went to the platform at most once.
    sent = [json.loads(line)["key"] for line in journal.read_text().splitlines()]
    assert sent and len(sent) == len(set(sent)), sent
    # The run's report names each account's time on the worker that finished it.
    accounts = {t.subject: t for t in outcome.timings if t.step == "sync_account"}
    assert len(accounts) == 5 and accounts[label].outcome == "succeeded"
    assert accounts[label].detail == "attempt 2: an earlier delivery lost its worker"
    assert f"sync_account {label}" in "\n".join(report.lines())
    [retaken] = [t for t in outcome.timings if t.step == "apply_account" and "lost" in t.detail]
    assert retaken.detail.startswith("shift ") and "attempt 2: an earlier delivery" in retaken.detail
    assert f"apply_account {retaken.subject}" in "\n".join(report.lines())
    engine.dispose()
