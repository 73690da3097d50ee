"""Two schedulers fire the same portfolio's slot at once: two real `budgetpilot nightly`
processes on one PostgreSQL schema. Exactly one run happens (one proposal, one apply); the
other exits 0 saying who already ran it. And with a broker, the nightly's sync fans out
to real `budgetpilot worker` processes, each account timed on its worker."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.config import load_settings
from campaigns.db import create_db_engine
from campaigns.jobs.nightly import run_nightly
from campaigns.models import AuditEvent, BudgetShift
from tests.api.sandbox import add_fx_rates
from tests.workers.processes import BUDGETPILOT, queue_config, redis_skip_reason, workers

SLOT = "2030-01-01T02:00"
KEY = "default@2030-01-01T02:00Z"


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "bp.toml"
    # Each platform call takes 50 ms: the first run is still going when the second starts.
    cfg.write_text(
        '[sync]\nhistory_days = 45\n'
        '[[sources]]\nname = "sandbox"\nkind = "sandbox"\nseed = 7\ncampaigns_per_account = 2\n'
        f'latency_ms = 50\nstate_path = "{tmp_path / "sandbox.json"}"\n'
        '[[portfolios]]\nname = "default"\nreporting_currency = "EUR"\n'
        '[optimizer]\nmax_change = 0.05\n[service]\nauto_approve_max_change = 0.1\n'
    )
    return cfg


def _start(cfg: Path, url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BUDGETPILOT_DATABASE_URL": url}
    return subprocess.Popen(
        [str(BUDGETPILOT), "nightly", "--config", str(cfg), "--slot", SLOT],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_schedulers_for_one_slot_make_one_run(tmp_path: Path, own_pg_url: str) -> None:
    engine = create_db_engine(own_pg_url)
    add_fx_rates(engine)
    cfg = _config(tmp_path)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [_start(cfg, own_pg_url, log) for log in logs]
    codes = [p.wait(timeout=240) for p in procs]
    outputs = [log.read_text(errors="replace") for log in logs]
    assert codes == [0, 0], outputs
    ran = [o for o in outputs if "default: succeeded:" in o]
    skipped = [o for o in outputs if "default: skipped:" in o]
    assert len(ran) == 1 and len(skipped) == 1, outputs
    assert "already" in skipped[0] and "budgetpilot nightly on " in skipped[0], skipped[0]
    assert "timings: " in ran[0] and "sync sandbox " in ran[0]
    with Session(engine) as s:
        shifts = s.scalars(select(BudgetShift)).all()
        finishes = s.scalars(select(AuditEvent).where(
            col(AuditEvent.entity_id) == KEY, col(AuditEvent.action) == "nightly.finish")).all()
        applies = s.scalars(select(AuditEvent.id).where(
            col(AuditEvent.action) == "shift.applied")).all()
    assert len(shifts) == 1 and shifts[0].status == "applied"
    assert len(finishes) == 1 and len(applies) == 1
    assert (finishes[0].after or {})["holder"].startswith("budgetpilot nightly on ")
    # A third scheduler, after both: the slot is done, and it says by whom and when.
    third = subprocess.run(
        [str(BUDGETPILOT), "nightly", "--config", str(cfg), "--slot", SLOT],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "BUDGETPILOT_DATABASE_URL": own_pg_url})
    assert third.returncode == 0, third.stdout + third.stderr
    assert "already run by budgetpilot nightly on " in third.stdout
    assert "already finished" in third.stdout
    engine.dispose()


_REDIS_SKIP = redis_skip_reason()


@pytest.mark.skipif(_REDIS_SKIP is not None, reason=_REDIS_SKIP or "")
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.slow
def test_the_nightly_sync_fans_out_to_workers_and_names_a_failed_account(
    tmp_path: Path, own_pg_url: str,
) -> None:
    engine = create_db_engine(own_pg_url)
    add_fx_rates(engine)
    cfg = tmp_path / "queue.toml"
    queue_config(cfg, _config(tmp_path).read_text().replace(
        "latency_ms = 50", 'latency_ms = 100\nfail_accounts = ["act_1002"]'))
    settings = load_settings(cfg)
    with workers(cfg, own_pg_url, tmp_path, count=2) as pool:
        report = run_nightly(engine, settings, slot=dt.datetime(2030, 1, 1, 2, 0, tzinfo=dt.UTC),
                             holder="test")
        logs = "".join(w.text() for w in pool)
    [outcome] = report.portfolios
    [sync] = [t for t in outcome.timings if t.step == "sync" and t.subject]
    accounts = {t.subject: t for t in outcome.timings if t.step == "sync_account"}
    assert len(accounts) == 5 and "budgetpilot.sync_account" in logs
    [bad] = [t for t in accounts.values() if t.outcome == "failed"]
    assert bad.subject == "meta:act_1002" and bad.subject in sync.detail
    assert report.unsynced == {bad.subject}
    # Measured on the workers: every account makes a few 100 ms platform calls.
    assert all(t.seconds >= 0.1 for t in accounts.values() if t.outcome == "succeeded")
    print(f"sync {sync.seconds:.2f}s wall, accounts {sum(t.seconds for t in accounts.values()):.2f}s"
          " summed on 2 workers")
    engine.dispose()
