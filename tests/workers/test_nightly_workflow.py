"""The nightly run as a Celery workflow on real `budgetpilot worker` processes (Redis broker,
PostgreSQL state): the same proposal and applied budgets to the cent as the in-process run;
an account whose sync fails is named and left out while the rest is optimised and applied;
`GET /nightly-runs` shows the run in progress, then finished; two schedulers make one run."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import threading
import time
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from api.app import create_app
from campaigns.admin.auth import create_token
from campaigns.config import load_settings, settings_from_dict
from campaigns.db import create_db_engine
from campaigns.jobs.nightly import NightlyReport, run_nightly
from campaigns.models import AdAccount, AuditEvent, BudgetShift, Campaign, ShiftItem
from tests.api.conftest import SETTINGS
from tests.api.sandbox import add_fx_rates
from tests.conftest import scratch_pg_schema
from tests.workers.processes import BUDGETPILOT, queue_config, redis_skip_reason, workers

SLOT = dt.datetime(2030, 1, 1, 2, 0, tzinfo=dt.UTC)
KEY = "default@2030-01-01T02:00Z"
_REDIS_SKIP = redis_skip_reason()
pytestmark = [pytest.mark.skipif(_REDIS_SKIP is not None, reason=_REDIS_SKIP or ""),
              pytest.mark.redis, pytest.mark.postgres, pytest.mark.slow]


def _toml(state: Path, *, latency_ms: int = 20, fail: str = "") -> str:
    return (
        '[sync]\nhistory_days = 45\n'
        '[[sources]]\nname = "sandbox"\nkind = "sandbox"\nseed = 7\ncampaigns_per_account = 2\n'
        f'latency_ms = {latency_ms}\nstate_path = "{state}"\n'
        + (f'fail_accounts = ["{fail}"]\n' if fail else "")
        + '[[portfolios]]\nname = "default"\nreporting_currency = "EUR"\n'
        '[optimizer]\nmax_change = 0.05\n[service]\nauto_approve_max_change = 0.1\n'
    )


def _budgets(engine: Engine) -> tuple[dict[tuple[str, ...], tuple[Decimal, str]],
                                       dict[tuple[str, str], Decimal | None]]:
    """The proposal's items and every campaign's budget after the run, by platform ids."""
    with Session(engine) as s:
        items = s.execute(
            select(AdAccount.external_id, Campaign.external_id, ShiftItem.level,
                   ShiftItem.target_external_id, ShiftItem.new_budget, ShiftItem.status)
            .join(Campaign, col(Campaign.id) == col(ShiftItem.campaign_id))
            .join(AdAccount, col(AdAccount.id) == col(Campaign.account_id))).all()
        budgets = s.execute(
            select(AdAccount.external_id, Campaign.external_id, Campaign.daily_budget)
            .join(AdAccount, col(AdAccount.id) == col(Campaign.account_id))).all()
    return ({tuple(r[:4]): (Decimal(str(r[4])), str(r[5])) for r in items},
            {(a, c): None if b is None else Decimal(str(b)) for a, c, b in budgets})


def test_the_nightly_on_workers_gives_the_in_process_budgets_to_the_cent(
    tmp_path: Path, own_pg_url: str,
) -> None:
    # The reference: the same sandbox world, no broker, in this process.
    with scratch_pg_schema() as reference_url:
        reference = create_db_engine(reference_url)
        add_fx_rates(reference)
        here = settings_from_dict(tomllib.loads(_toml(tmp_path / "here.json")))
        expected = run_nightly(reference, here, slot=SLOT, holder="test")
        want = _budgets(reference)
        reference.dispose()
    assert expected.ok and expected.portfolios[0].applied, expected.lines()

    engine = create_db_engine(own_pg_url)
    add_fx_rates(engine)
    cfg = tmp_path / "queue.toml"
    queue_config(cfg, _toml(tmp_path / "workers.json"))
    with workers(cfg, own_pg_url, tmp_path, count=2) as pool:
        report = run_nightly(engine, load_settings(cfg), slot=SLOT, holder="test")
        logs = "".join(w.text() for w in pool)
    got = _budgets(engine)
    assert report.ok, report.lines()
    [outcome] = report.portfolios
    # Every step ran as a task on the workers, and the run was recorded as on workers.
    for task in ("nightly_prepare", "nightly_sync_account", "nightly_optimise",
                 "nightly_apply_account", "nightly_finish"):
        assert f"budgetpilot.{task}[" in logs and f"Task budgetpilot.{task}" in logs, task
    assert outcome.auto_approved and outcome.applied == [outcome.shift_id]
    assert [t.step for t in report.timings] == ["alerts"]  # evaluated by the last task
    assert [t.step for t in outcome.timings if not t.subject] == [
        t.step for t in expected.portfolios[0].timings if not t.subject]
    assert got[0] and got == want  # each item's new budget, and every budget in force after
    assert all(status == "applied" for _, status in got[0].values())
    assert sorted(c.line() for c in outcome.changes) == sorted(
        c.line() for c in expected.portfolios[0].changes)
    with Session(engine) as s:
        [finish] = s.scalars(select(AuditEvent).where(
            col(AuditEvent.entity_id) == KEY, col(AuditEvent.action) == "nightly.finish"))
    assert (finish.after or {})["on_workers"] is True
    engine.dispose()


def _in_progress(client: TestClient, headers: dict[str, str], done: threading.Event
                 ) -> list[dict[str, Any]]:
    """Every running entry the API showed while the run went on."""
    seen = []
    while not done.is_set():
        r = client.get("/api/v1/nightly-runs?portfolio=default", headers=headers)
        assert r.status_code == 200, r.text
        seen += [run for run in r.json()["data"] if run["state"] == "running"]
        time.sleep(0.1)
    return seen


def test_a_failed_account_is_named_left_out_and_the_run_shown_while_it_runs(
    tmp_path: Path, own_pg_url: str,
) -> None:
    engine = create_db_engine(own_pg_url)
    add_fx_rates(engine)
    cfg = tmp_path / "queue.toml"
    # Every account known from an earlier night, then one fails tonight; 300 ms a call keeps
    # the run going long enough to be watched.
    run_nightly(engine, settings_from_dict(tomllib.loads(_toml(tmp_path / "s.json"))),
                slot=SLOT - dt.timedelta(days=1), holder="test", dry_run=True)
    queue_config(cfg, _toml(tmp_path / "s.json", latency_ms=300, fail="act_1002"))
    app = create_app(settings_from_dict(SETTINGS), engine)
    with Session(engine) as s:
        _, secret = create_token(s, name="admin", role="admin", actor="test")
        s.commit()
    headers = {"Authorization": f"Bearer {secret}"}
    reports: list[NightlyReport] = []
    done = threading.Event()

    def submit() -> None:
        try:
            reports.append(run_nightly(engine, load_settings(cfg), slot=SLOT, holder="test"))
        finally:
            done.set()

    with workers(cfg, own_pg_url, tmp_path, count=2) as _, TestClient(app) as client:
        submitter = threading.Thread(target=submit)
        submitter.start()
        seen = _in_progress(client, headers, done)
        submitter.join(timeout=300)
        after = client.get("/api/v1/nightly-runs?portfolio=default", headers=headers).json()

    [report] = reports
    [outcome] = report.portfolios
    # Named in the report and left out of what was approved; the rest optimised and applied.
    assert report.unsynced == {"meta:act_1002"}
    assert any("meta:act_1002" in f for f in report.sync_failures)
    assert any("meta:act_1002 failed to sync" in h for h in outcome.held), outcome.held
    assert outcome.auto_approved and outcome.applied == [outcome.shift_id]
    items, _ = _budgets(engine)
    assert {s for (acct, *_), (_, s) in items.items() if acct != "act_1002"} == {"applied"}
    assert all(s != "applied" for (acct, *_), (_, s) in items.items() if acct == "act_1002")
    assert "meta:act_1002" in "\n".join(report.lines())

    # While it ran: a running entry with its step and the accounts in so far.
    assert seen and {run["key"] for run in seen} == {KEY}
    # (listing the accounts first, then each one counted in as its task ends)
    syncing = [run for run in seen if run["step"] == "sync" and run["accounts_total"]]
    assert {run["accounts_total"] for run in syncing} == {5}
    assert all(run["on_workers"] for run in seen)
    counts = [(r["accounts_synced"], r["accounts_failed"]) for r in syncing]
    assert counts == sorted(counts) and counts[0] != (4, 1)  # seen growing, not only at the end
    assert max(f for _, f in counts) <= 1
    assert all(run["finished_at"] is None and run["status"] == "running" for run in seen)
    # Afterwards: the finished entry, with per-step timings and the accounts' counts.
    [finished] = [run for run in after["data"] if run["key"] == KEY]
    assert finished["state"] == "finished" and finished["key"] == KEY
    assert (finished["accounts_total"], finished["accounts_synced"],
            finished["accounts_failed"]) == (5, 4, 1)
    assert finished["on_workers"] is True and finished["shift_id"] == outcome.shift_id
    steps_timed = [t["step"] for t in finished["timings"] if not t["subject"]]
    assert steps_timed == ["expire", "apply_approved", "sync", "hard_stop", "propose",
                           "auto_approve", "apply"]
    assert all(t["seconds"] >= 0 for t in finished["timings"])
    engine.dispose()


def test_two_schedulers_submitting_one_slot_make_one_run_on_the_workers(
    tmp_path: Path, own_pg_url: str,
) -> None:
    engine = create_db_engine(own_pg_url)
    add_fx_rates(engine)
    cfg = tmp_path / "queue.toml"
    queue_config(cfg, _toml(tmp_path / "s.json", latency_ms=100))
    env = {**os.environ, "BUDGETPILOT_DATABASE_URL": own_pg_url}
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    with workers(cfg, own_pg_url, tmp_path, count=2):
        procs = [subprocess.Popen(
            [str(BUDGETPILOT), "nightly", "--config", str(cfg), "--slot", "2030-01-01T02:00"],
            stdout=log.open("wb"), stderr=subprocess.STDOUT, env=env) for log in logs]
        codes = [p.wait(timeout=300) for p in procs]
    outputs = [log.read_text(errors="replace") for log in logs]
    assert codes == [0, 0], outputs
    ran = [o for o in outputs if "default: succeeded:" in o]
    skipped = [o for o in outputs if "default: skipped:" in o]
    assert len(ran) == 1 and len(skipped) == 1, outputs
    assert "already being run by budgetpilot nightly on " in skipped[0], skipped[0]
    assert f"nightly {KEY}: sync, " in ran[0] and " accounts synced" in ran[0]  # progress
    with Session(engine) as s:
        shifts = s.scalars(select(BudgetShift)).all()
        finishes = s.scalars(select(AuditEvent).where(
            col(AuditEvent.entity_id) == KEY, col(AuditEvent.action) == "nightly.finish")).all()
        applies = s.scalars(select(AuditEvent.id).where(
            col(AuditEvent.action) == "shift.applied")).all()
    assert len(shifts) == 1 and shifts[0].status == "applied"
    assert len(finishes) == 1 and len(applies) == 1
    engine.dispose()


def test_an_account_past_its_time_limit_is_named_and_not_waited_on(
    tmp_path: Path, own_pg_url: str,
) -> None:
    engine = create_db_engine(own_pg_url)
    add_fx_rates(engine)
    cfg = tmp_path / "queue.toml"
    # 1.5 s a platform call: every account needs several, past a limit of 2 s.
    queue_config(cfg, _toml(tmp_path / "s.json", latency_ms=1500))
    cfg.write_text(cfg.read_text() + "account_time_limit = 2\n")
    with workers(cfg, own_pg_url, tmp_path, count=2):
        start = time.monotonic()
        report = run_nightly(engine, load_settings(cfg), slot=SLOT, holder="test")
        took = time.monotonic() - start
    [outcome] = report.portfolios
    accounts = [t for t in outcome.timings if t.step == "sync_account"]
    assert len(accounts) == 5 and {t.outcome for t in accounts} == {"failed"}
    assert all("account_time_limit (2 s)" in (t.error or "") for t in accounts), accounts
    assert len(report.unsynced) == 5 and outcome.shift_id is None
    assert took < 120  # each account stopped at its limit, not waited on
    with Session(engine) as s:
        assert s.scalars(select(AuditEvent).where(
            col(AuditEvent.entity_id) == KEY, col(AuditEvent.action) == "nightly.finish")).one()
    engine.dispose()
