"""The nightly job on the sandbox: a small shift auto-approved and applied, a large one left
for a manager, one run at a time, a failing portfolio never stopping the others; the
scheduler's triggers and slots; `budgetpilot nightly`."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest
from apscheduler.triggers.cron import CronTrigger
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.app import create_app
from api.cli.main import app as cli
from api.scheduler import evaluate_alerts, schedules, slot_for
from campaigns.config import Settings
from campaigns.errors import ConfigError
from campaigns.jobs.lock import try_lock
from campaigns.jobs.nightly import run_nightly
from campaigns.models import AuditEvent, BudgetShift
from connectors.registry import build_connector
from tests.api.sandbox import add_fx_rates, platform_budgets, sandbox_settings


def _settings(tmp_path: Path, *, max_change: float, **sections: Any) -> Settings:
    return sandbox_settings(tmp_path, optimizer={"max_change": max_change}, **sections)


def _steps(db: Session) -> set[str]:
    return set(db.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "nightly_run")))


def test_small_shift_is_auto_approved_and_applied(engine: Engine, tmp_path: Path, db: Session) -> None:
    settings = _settings(tmp_path, max_change=0.05)  # policy: auto-approve up to 10%
    add_fx_rates(engine)
    before = platform_budgets(settings)
    report = run_nightly(engine, settings)
    assert report.ok, report.lines()
    [outcome] = report.portfolios
    assert outcome.auto_approved and outcome.change_fraction is not None
    assert 0 < outcome.change_fraction <= 0.1
    shift = db.get(BudgetShift, outcome.shift_id)
    assert shift is not None and shift.status == "applied" and shift.decided_by == "nightly"
    assert outcome.applied == [shift.id]
    after = platform_budgets(settings)
    assert any(after[k] != before[k] for k in before), "the sandbox's budgets did not change"
    assert {"nightly.start", "nightly.sync", "nightly.expire", "nightly.propose",
            "nightly.auto_approve", "nightly.apply", "nightly.finish", "nightly.alerts"} <= _steps(db)
    shift_actions = set(db.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == "shift", AuditEvent.entity_id == str(shift.id))))
    assert {"shift.propose", "shift.approve", "shift.applied"} <= shift_actions


def test_large_shift_waits_for_a_manager(engine: Engine, tmp_path: Path, db: Session) -> None:
    settings = _settings(tmp_path, max_change=0.3)
    add_fx_rates(engine)
    before = platform_budgets(settings)
    report = run_nightly(engine, settings)
    [outcome] = report.portfolios
    assert outcome.status == "succeeded" and not outcome.auto_approved
    assert outcome.change_fraction is not None and outcome.change_fraction > 0.1
    assert outcome.applied == []
    assert db.get(BudgetShift, outcome.shift_id).status == "proposed"  # type: ignore[union-attr]
    assert platform_budgets(settings) == before
    assert "waits for a manager" in "\n".join(report.lines())


def test_a_second_concurrent_run_skips(engine: Engine, tmp_path: Path) -> None:
    settings = _settings(tmp_path, max_change=0.05)
    add_fx_rates(engine)
    entered, release = threading.Event(), threading.Event()

    def slow_connector(source: Any, settings: Settings) -> Any:
        entered.set()
        assert release.wait(30)
        return build_connector(source, settings)

    reports: dict[str, Any] = {}
    first = threading.Thread(target=lambda: reports.update(first=run_nightly(
        engine, settings, connector_factory=slow_connector)))
    first.start()
    try:
        assert entered.wait(30)
        reports["second"] = run_nightly(engine, settings)
    finally:
        release.set()
        first.join(60)
    [skipped] = reports["second"].portfolios
    assert skipped.status == "skipped" and "in progress" in skipped.message
    assert reports["second"].alerts_created == 0
    [ran] = reports["first"].portfolios
    assert ran.status == "succeeded" and ran.auto_approved
    with try_lock(engine, "nightly:default") as held:
        assert held  # released after the run


def test_a_slot_runs_once_and_a_failing_portfolio_does_not_stop_others(
    engine: Engine, tmp_path: Path, db: Session
) -> None:
    settings = _settings(tmp_path, max_change=0.05, portfolios=[
        {"name": "empty", "reporting_currency": "EUR"},
        {"name": "default", "reporting_currency": "EUR"},
    ])
    add_fx_rates(engine)
    slot = dt.datetime(2030, 1, 1, 2, 0, tzinfo=dt.UTC)
    report = run_nightly(engine, settings, slot=slot)
    by_name = {p.portfolio: p for p in report.portfolios}
    assert by_name["empty"].status == "failed" and "propose" in by_name["empty"].errors
    assert by_name["default"].status == "succeeded" and by_name["default"].applied
    again = run_nightly(engine, settings, slot=slot)
    assert {p.status for p in again.portfolios} == {"skipped"}
    assert all("already finished" in p.message for p in again.portfolios)
    count = len(db.scalars(select(BudgetShift.id)).all())
    assert count == 1


def test_schedules_and_slots(tmp_path: Path) -> None:
    settings = sandbox_settings(tmp_path, scheduler={"timezone": "Europe/Berlin"},
                                portfolios=[{"name": "default", "schedule": "30 3 * * *"}])
    trigger = schedules(settings)["default"]
    now = dt.datetime(2024, 7, 1, 1, 40, tzinfo=dt.UTC)  # 03:40 in Berlin (CEST)
    assert slot_for(trigger, now) == dt.datetime(2024, 7, 1, 1, 30, tzinfo=dt.UTC)
    assert slot_for(trigger, now + dt.timedelta(hours=3)).minute == 40  # past the grace: now
    with pytest.raises(ConfigError, match="timezone"):
        schedules(sandbox_settings(tmp_path, scheduler={"timezone": "Mars/Base"}))
    with pytest.raises(ConfigError, match="bad schedule"):
        schedules(sandbox_settings(tmp_path, portfolios=[{"name": "default", "schedule": "nope"}]))
    assert isinstance(trigger, CronTrigger)


def test_the_service_runs_the_scheduler_when_enabled(sqlite_engine: Engine, tmp_path: Path) -> None:
    settings = sandbox_settings(tmp_path, scheduler={"enabled": True})
    app = create_app(settings, sqlite_engine, scheduler=True)
    with TestClient(app) as client:
        assert client.get("/health").status_code == 200
        jobs = app.state.scheduler
        assert jobs.running and sorted(j.id for j in jobs.get_jobs()) == ["alerts", "nightly:default"]
    assert not jobs.running  # stopped with the service
    evaluate_alerts(sqlite_engine, settings)  # the hourly job runs on its own
    off = create_app(sandbox_settings(tmp_path), sqlite_engine, scheduler=True)
    with TestClient(off):
        assert off.state.scheduler is None


def test_nightly_command(tmp_path: Path) -> None:
    db = tmp_path / "bp.db"
    cfg = tmp_path / "bp.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{db}"\n[sync]\nhistory_days = 45\n'
        '[[sources]]\nname = "sandbox"\nkind = "sandbox"\nseed = 7\ncampaigns_per_account = 2\n'
        f'state_path = "{tmp_path / "sandbox.json"}"\n'
        '[[portfolios]]\nname = "default"\nreporting_currency = "EUR"\n'
        '[optimizer]\nmax_change = 0.3\n[service]\nauto_approve_max_change = 0.1\n'
    )
    from campaigns.db import open_engine

    engine = open_engine(f"sqlite:///{db}")
    add_fx_rates(engine)
    engine.dispose()
    result = CliRunner().invoke(cli, ["nightly", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "default: succeeded: shift 1 moves" in result.output
    assert "waits for a manager" in result.output
