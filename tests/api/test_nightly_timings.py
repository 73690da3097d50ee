"""Each stage of a nightly run has its wall time and outcome in the report, the stored run
(`GET /api/v1/nightly-runs`) and `budgetpilot nightly`'s output; a slot already run or in
progress names who ran it."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from campaigns.config import Settings
from campaigns.jobs.nightly import run_nightly
from connectors.registry import build_connector
from tests.api.sandbox import add_fx_rates, sandbox_settings, sync_sandbox

SLOT = dt.datetime(2030, 1, 1, 2, 0, tzinfo=dt.UTC)
STEPS = ["expire", "apply_approved", "sync", "hard_stop", "propose", "auto_approve", "apply"]


def _settings(tmp_path: Path, **sections: Any) -> Settings:
    return sandbox_settings(tmp_path, optimizer={"max_change": 0.05}, **sections)


def test_every_stage_is_timed_in_the_report_and_the_api(
    engine: Engine, tmp_path: Path, client: TestClient, as_role: Callable[[str], Any],
) -> None:
    add_fx_rates(engine)
    report = run_nightly(engine, _settings(tmp_path), slot=SLOT, holder="test scheduler")
    assert report.ok, report.lines()
    [outcome] = report.portfolios
    assert [t.step for t in outcome.timings if not t.subject] == STEPS
    [sync] = [t for t in outcome.timings if t.step == "sync" and t.subject]
    assert (sync.subject, sync.outcome) == ("sandbox", "succeeded")
    accounts = [t for t in outcome.timings if t.step == "sync_account"]
    assert len(accounts) == 5 and all(t.subject.count(":") == 1 for t in accounts)
    assert sum(t.seconds for t in accounts) <= sync.seconds
    applies = [t for t in outcome.timings if t.step == "apply_account"]
    assert applies and {t.outcome for t in applies} == {"succeeded"}
    assert len({t.subject for t in applies}) == len(applies)  # one call per account
    assert all(t.detail.startswith(f"shift {outcome.shift_id}: ") for t in applies)
    assert all(t.seconds >= 0 and t.outcome == "succeeded" for t in outcome.timings)
    assert [t.step for t in report.timings] == ["alerts"]
    text = "\n".join(report.lines())
    assert "  timings: expire " in text and ", sync sandbox " in text and ", propose " in text
    assert "\ntimings: alerts " in text

    r = client.get("/api/v1/nightly-runs?portfolio=default", headers=as_role("admin"))
    assert r.status_code == 200, r.text
    [run] = r.json()["data"]
    assert run["key"] == "default@2030-01-01T02:00Z" and run["portfolio"] == "default"
    assert run["holder"] == "test scheduler" and run["status"] == "succeeded"
    assert run["shift_id"] == outcome.shift_id and run["applied"] == outcome.applied
    assert [t["step"] for t in run["timings"] if not t["subject"]] == STEPS
    assert run["seconds"] == round(sum(t.seconds for t in outcome.timings if not t.subject), 3)
    assert client.get("/api/v1/nightly-runs?portfolio=other",
                      headers=as_role("admin")).json()["count"] == 0
    assert client.get("/api/v1/nightly-runs", headers=as_role("viewer")).status_code == 403


def test_a_failed_step_and_a_failed_account_are_timed_and_named(
    engine: Engine, tmp_path: Path,
) -> None:
    sync_sandbox(engine, _settings(tmp_path))  # every account known, then one fails tonight
    settings = _settings(tmp_path, portfolios=[
        {"name": "empty", "reporting_currency": "EUR"},
        {"name": "default", "reporting_currency": "EUR"}], sources=[
        {"name": "sandbox", "kind": "sandbox", "seed": 7, "campaigns_per_account": 2,
         "state_path": str(tmp_path / "sandbox.json"), "fail_accounts": ["act_1002"]}])
    report = run_nightly(engine, settings, slot=SLOT)
    by_name = {p.portfolio: p for p in report.portfolios}
    [propose] = [t for t in by_name["empty"].timings if t.step == "propose"]
    assert propose.outcome == "failed" and propose.error == by_name["empty"].errors["propose"]
    timings = [t for p in report.portfolios for t in p.timings]
    sync = next(t for t in timings if t.subject == "sandbox")
    assert sync.outcome == "failed" and "act_1002" in sync.detail
    [bad] = [t for t in timings if t.step == "sync_account" and t.outcome == "failed"]
    assert bad.subject.endswith(":act_1002") and bad.error
    lines = "\n".join(report.lines())
    assert "failed accounts: " in lines and f"sync_account {bad.subject} " in lines
    assert "sync_account" not in lines.replace(f"sync_account {bad.subject} ", "")
    # The account that failed to sync is left out of what the run approves.
    assert f"accounts {bad.subject} failed to sync" in "".join(by_name["default"].held)
    assert all(c.account_key != bad.subject for c in by_name["default"].changes)


@contextmanager
def _held_in_sync(engine: Engine, settings: Settings) -> Iterator[None]:
    """A nightly run by "serve A" on another thread, held inside its sync while the block
    runs, then let finish."""
    entered, release = threading.Event(), threading.Event()

    def slow_connector(source: Any, settings: Settings) -> Any:
        entered.set()
        assert release.wait(30)
        return build_connector(source, settings)

    run = threading.Thread(target=lambda: run_nightly(
        engine, settings, slot=SLOT, holder="serve A", connector_factory=slow_connector))
    run.start()
    try:
        assert entered.wait(30)
        yield
    finally:
        release.set()
        run.join(60)


def test_a_second_scheduler_is_told_who_has_the_slot(engine: Engine, tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    add_fx_rates(engine)
    with _held_in_sync(engine, settings):
        during = run_nightly(engine, settings, slot=SLOT, holder="serve B")
    [busy] = during.portfolios
    assert busy.status == "skipped" and during.ok
    assert busy.message.startswith("already being run by serve A since ")
    [done] = run_nightly(engine, settings, slot=SLOT, holder="cron").portfolios
    assert done.status == "skipped" and done.message.startswith("already run by serve A at ")


def test_a_run_in_progress_is_listed_as_running_with_its_step(
    engine: Engine, tmp_path: Path, client: TestClient, as_role: Callable[[str], Any],
) -> None:
    settings = _settings(tmp_path)
    add_fx_rates(engine)
    with _held_in_sync(engine, settings):
        during = client.get("/api/v1/nightly-runs", headers=as_role("finance")).json()
    [running] = during["data"]
    assert during["count"] == 1
    assert (running["state"], running["step"], running["status"]) == ("running", "sync",
                                                                      "running")
    assert running["key"] == "default@2030-01-01T02:00Z" and running["holder"] == "serve A"
    assert running["finished_at"] is None and running["started_at"] is not None
    assert running["on_workers"] is False and running["timings"] == []
    after = client.get("/api/v1/nightly-runs", headers=as_role("finance")).json()
    [finished] = after["data"]
    assert finished["state"] == "finished" and finished["step"] is None
    assert finished["status"] == "succeeded" and finished["finished_at"] is not None
    assert (finished["accounts_total"], finished["accounts_synced"],
            finished["accounts_failed"]) == (5, 5, 0)
    # Paging: newest first, the first run second.
    run_nightly(engine, settings, slot=SLOT + dt.timedelta(days=1), holder="serve A")
    page = client.get("/api/v1/nightly-runs?limit=1&offset=1",
                      headers=as_role("finance")).json()
    assert page["count"] == 2 and page["data"][0]["id"] == finished["id"]
