"""Two schedulers fire the same portfolio's slot at once: two real `budgetpilot nightly`
processes on one PostgreSQL schema. Exactly one run happens (one proposal, one apply); the
other exits 0 saying who already ran it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.db import create_db_engine
from campaigns.models import AuditEvent, BudgetShift
from tests.api.sandbox import add_fx_rates
from tests.workers.processes import BUDGETPILOT

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
