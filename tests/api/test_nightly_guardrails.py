"""Guardrails of the nightly job on the sandbox: it applies what a manager approved before it
proposes (so the new proposal is built on the budgets in force), a slot that has run is not
run again unless forced, a dry run writes nothing anywhere, each change is printed, and a bad
schedule or time zone is refused by `nightly` and `serve` alike."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from api.cli.main import app as cli
from campaigns.admin.auth import Principal, Role
from campaigns.columns import utcnow
from campaigns.config import Settings, SourceSettings
from campaigns.errors import ConfigError
from campaigns.jobs.nightly import run_nightly
from campaigns.models import BudgetShift, ShiftItem
from campaigns.optimization import proposals as optimization
from campaigns.policy import service_config
from campaigns.shifts import lifecycle as shifts
from connectors.base import BudgetResult, BudgetTarget
from connectors.currencies import decimals
from connectors.registry import build_connector
from tests.api.sandbox import platform_budgets, sandbox_settings, sync_sandbox

MANAGER = Principal(name="maria", role=Role.manager)


class CountingPlatform:
    """The sandbox, counting every budget write that reaches it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.writes: list[tuple[str, Decimal]] = []
        self.validations = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def apply_budget(self, target: BudgetTarget, daily_budget: Decimal, *,
                     dry_run: bool = False, **known: Any) -> BudgetResult:
        if dry_run:
            self.validations += 1
        else:
            self.writes.append((target.external_id, daily_budget))
        # ``known``: the budget just read by the sandbox's listing (connectors.base)
        return self.inner.apply_budget(target, daily_budget, dry_run=dry_run, **known)

    def apply_budgets(self, changes: list[tuple[BudgetTarget, Decimal]], *,
                      dry_run: bool = False, **known: Any) -> list[Any]:
        """The sandbox's batch (its writes read back together), counted the same way."""
        for target, daily_budget in changes:
            if dry_run:
                self.validations += 1
            else:
                self.writes.append((target.external_id, daily_budget))
        return self.inner.apply_budgets(changes, dry_run=dry_run, **known)


def _counting(platforms: list[CountingPlatform]) -> Any:
    def factory(source: SourceSettings, settings: Settings) -> Any:
        platform = CountingPlatform(build_connector(source, settings))
        platforms.append(platform)
        return platform

    return factory


def _approved_shift(engine: Engine, settings: Settings) -> int:
    """A manager's proposal (built by a person, approved by another)."""
    with Session(engine, expire_on_commit=False) as session:
        shift_id = optimization.propose(session, settings, created_by="olga").shift_id
        view = shifts.get_shift(session, shift_id)
        shifts.approve(session, shift_id, version=view.shift.version, user=MANAGER,
                       policy=service_config(settings).service)
        session.commit()
    return shift_id


def _fixed_clock() -> Any:
    at = utcnow()
    return lambda: at


def test_approved_shift_is_applied_before_the_new_proposal_is_built(
    engine: Engine, tmp_path: Path, db: Session
) -> None:
    settings = sandbox_settings(tmp_path, optimizer={"max_change": 0.3},
                                service={"auto_approve_max_change": 0.001})
    sync_sandbox(engine, settings)
    approved = _approved_shift(engine, settings)
    report = run_nightly(engine, settings)
    [outcome] = report.portfolios
    assert approved in outcome.applied, report.lines()
    assert db.get(BudgetShift, approved).status == "applied"  # type: ignore[union-attr]
    applied = {i.target_external_id: i.applied_budget for i in db.scalars(
        select(ShiftItem).where(ShiftItem.shift_id == approved))}
    assert outcome.shift_id is not None and outcome.shift_id != approved
    view = shifts.get_shift(db, outcome.shift_id)
    assert view.shift.status == "proposed", view.shift.comment
    # Built on the budgets in force after the apply: a manager can approve it.
    assert shifts.stale_reason(db, view, utcnow()) is None
    built_on = {i.target_external_id: i.old_budget for i in view.items}
    # Where it moves a budget just applied, it starts from the applied value (the per-day
    # max change may leave no room to move those today: then there is no overlap).
    overlap = set(built_on) & set(applied)
    assert all(built_on[t] == applied[t] for t in overlap)
    shifts.approve(db, outcome.shift_id, version=view.shift.version,
                   user=Principal(name="nils", role=Role.manager),
                   policy=service_config(settings).service)


def test_a_slot_that_has_run_is_a_no_op_unless_forced(
    engine: Engine, tmp_path: Path, db: Session
) -> None:
    settings = sandbox_settings(tmp_path, optimizer={"max_change": 0.05})
    sync_sandbox(engine, settings)
    clock = _fixed_clock()
    first = run_nightly(engine, settings, now=clock)
    assert first.portfolios[0].status == "succeeded" and first.portfolios[0].applied
    budgets = platform_budgets(settings)
    count = len(db.scalars(select(BudgetShift.id)).all())
    for _ in range(3):
        again = run_nightly(engine, settings, now=clock)
        [skipped] = again.portfolios
        assert skipped.status == "skipped" and "already finished" in skipped.message
        assert "--force" in skipped.message
    assert platform_budgets(settings) == budgets
    assert len(db.scalars(select(BudgetShift.id)).all()) == count
    forced = run_nightly(engine, settings, now=clock, force=True)
    assert forced.portfolios[0].status == "succeeded"
    assert len(db.scalars(select(BudgetShift.id)).all()) == count + 1


def test_dry_run_writes_nothing_and_says_so(engine: Engine, tmp_path: Path, db: Session) -> None:
    settings = sandbox_settings(tmp_path, optimizer={"max_change": 0.05},
                                automation={"dry_run": True})
    sync_sandbox(engine, settings)
    approved = _approved_shift(engine, settings)
    budgets = platform_budgets(settings)
    shifts_before = len(db.scalars(select(BudgetShift.id)).all())
    platforms: list[CountingPlatform] = []
    report = run_nightly(engine, settings, connector_factory=_counting(platforms))
    assert [w for p in platforms for w in p.writes] == []
    assert platform_budgets(settings) == budgets
    db.expire_all()
    assert db.get(BudgetShift, approved).status == "approved"  # type: ignore[union-attr]
    assert len(db.scalars(select(BudgetShift.id)).all()) == shifts_before
    lines = report.lines()
    assert lines[0].startswith("DRY RUN")
    [outcome] = report.portfolios
    assert outcome.auto_approved and outcome.applied == []
    would = [c for c in outcome.changes if c.outcome == "would apply"]
    approved_items = db.scalars(select(ShiftItem).where(ShiftItem.shift_id == approved)).all()
    assert len(would) > len(approved_items)  # the approved shift and the new proposal
    assert sum(1 for line in lines if "would apply:" in line) == len(would)
    # The dry run did not use up the slot: the real run still happens.
    real = run_nightly(engine, sandbox_settings(tmp_path, optimizer={"max_change": 0.05}),
                       connector_factory=_counting(platforms))
    assert real.portfolios[0].status == "succeeded", real.lines()
    assert [w for p in platforms for w in p.writes]


def test_dry_run_from_the_command_line(tmp_path: Path) -> None:
    cfg = _config(tmp_path, max_change=0.05)
    before = platform_budgets(_sandbox_of(tmp_path))
    result = CliRunner().invoke(cli, ["nightly", "--config", str(cfg), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("DRY RUN")
    assert "would apply:" in result.output and "would be auto-approved" in result.output
    assert platform_budgets(_sandbox_of(tmp_path)) == before


def test_nightly_prints_each_change_it_made(tmp_path: Path) -> None:
    cfg = _config(tmp_path, max_change=0.05)
    result = CliRunner().invoke(cli, ["nightly", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    from campaigns.db import open_engine

    engine = open_engine(f"sqlite:///{tmp_path / 'bp.db'}")
    with Session(engine) as session:
        items = session.scalars(select(ShiftItem).where(ShiftItem.status == "applied")).all()
        assert items
        changes: Counter[str] = Counter()
        for item in items:
            step = Decimal(1).scaleb(-decimals(item.currency))
            assert item.applied_budget is not None
            changes[f"{item.old_budget.quantize(step)} → {item.applied_budget.quantize(step)} "
                    f"{item.currency} [shift {item.shift_id}]"] += 1
        # one line per item (two budgets may make the same change: 200.00 → 210.00 EUR)
        for change, count in changes.items():
            lines = [x for x in result.output.splitlines() if change in x]
            assert len(lines) == count, (change, lines)
            assert all(line.strip().startswith("applied:") for line in lines)
    engine.dispose()
    again = CliRunner().invoke(cli, ["nightly", "--config", str(cfg)])
    assert again.exit_code == 0 and "already finished" in again.output


@pytest.mark.parametrize(("section", "key"), [
    ('[scheduler]\ntimezone = "Mars/Base"\n', "scheduler.timezone"),
    ('[[portfolios]]\nname = "default"\nschedule = "at two"\n', "portfolios.default.schedule"),
    ('[automation]\ndri_run = true\n', "automation.dri_run"),
    ('[[sources]]\nname = "s"\nkind = "sandbox"\ndry_run = true\n', "sources.s.dry_run"),
])
def test_nightly_and_serve_refuse_a_bad_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, section: str, key: str
) -> None:
    import uvicorn

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: served.append(a))
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "bp.db"}"\n{section}')
    for command in ("nightly", "serve"):
        result = CliRunner().invoke(cli, [command, "--config", str(cfg)])
        assert result.exit_code == 2, (command, result.output)
        assert key in result.output, (command, result.output)
    assert served == []


def test_the_automation_section_is_strict(tmp_path: Path) -> None:
    from campaigns.jobs.nightly import check_config

    with pytest.raises(ConfigError, match=r"automation\.dryrun"):
        check_config(sandbox_settings(tmp_path, automation={"dryrun": True}))
    assert check_config(sandbox_settings(tmp_path, automation={"dry_run": True}))


def _sandbox_of(tmp_path: Path) -> Settings:
    return sandbox_settings(tmp_path, sources=[{
        "name": "sandbox", "kind": "sandbox", "seed": 7, "campaigns_per_account": 2,
        "state_path": str(tmp_path / "sandbox.json")}])


def _config(tmp_path: Path, *, max_change: float) -> Path:
    db = tmp_path / "bp.db"
    cfg = tmp_path / "bp.toml"
    cfg.write_text(
        f'[database]\nurl = "sqlite:///{db}"\n[sync]\nhistory_days = 45\n'
        '[[sources]]\nname = "sandbox"\nkind = "sandbox"\nseed = 7\ncampaigns_per_account = 2\n'
        f'state_path = "{tmp_path / "sandbox.json"}"\n'
        '[[portfolios]]\nname = "default"\nreporting_currency = "EUR"\n'
        f'[optimizer]\nmax_change = {max_change}\n[service]\nauto_approve_max_change = 0.1\n'
    )
    from campaigns.db import open_engine
    from tests.api.sandbox import add_fx_rates

    engine = open_engine(f"sqlite:///{db}")
    add_fx_rates(engine)
    engine.dispose()
    return cfg


def test_latest_slot_names_the_night_a_run_stands_for() -> None:
    from campaigns.jobs.schedules import latest_slot
    from campaigns.jobs.schedules import triggers as _triggers

    settings = sandbox_settings(Path("/nonexistent"), scheduler={"timezone": "Europe/Berlin"},
                                portfolios=[{"name": "default", "schedule": "30 3 * * *"}])
    trigger = _triggers(settings)["default"]
    night = dt.datetime(2024, 7, 1, 1, 30, tzinfo=dt.UTC)  # 03:30 in Berlin
    for later in (dt.timedelta(minutes=5), dt.timedelta(hours=10), dt.timedelta(hours=23)):
        assert latest_slot(trigger, night + later) == night
    assert latest_slot(trigger, night + dt.timedelta(days=1)) == night + dt.timedelta(days=1)
    assert latest_slot(trigger, night - dt.timedelta(minutes=1)) == night - dt.timedelta(days=1)


def test_cron_and_the_scheduler_share_a_slot(engine: Engine, tmp_path: Path) -> None:
    """The service ran tonight's slot; `budgetpilot nightly` from cron later that day is a
    no-op (and the other way round)."""
    from api.scheduler import schedules, slot_for
    from campaigns.jobs.schedules import latest_slot

    settings = sandbox_settings(tmp_path, optimizer={"max_change": 0.05})
    sync_sandbox(engine, settings)
    trigger = schedules(settings)["default"]
    tonight = latest_slot(trigger, utcnow())
    assert slot_for(trigger, tonight + dt.timedelta(minutes=10)) == tonight
    scheduled = run_nightly(engine, settings, slot=tonight)
    assert scheduled.portfolios[0].status == "succeeded"
    cron = run_nightly(engine, settings, now=lambda: tonight + dt.timedelta(hours=5))
    assert cron.portfolios[0].status == "skipped", cron.lines()
