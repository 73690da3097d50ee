"""The nightly rebalancer: per portfolio, apply what managers approved → sync → optimise and
propose from the state after the apply → auto-approve inside the policy → apply → alerts.

One entry point, :func:`run_nightly`, serves the in-process scheduler (every API worker may
start one) and ``budgetpilot nightly`` (cron). Each portfolio runs under its own job lock
(:mod:`campaigns.jobs.lock`): a second concurrent run of the same portfolio skips with a
message. Every run stands for a slot of the portfolio's schedule (:mod:`campaigns.jobs.schedules`);
a slot that has finished is not run again unless forced, so reruns never compound. The kill
switch (:mod:`campaigns.admin.automation`) is read before each decision. In a dry run everything is
computed and reported as "would apply", and nothing is approved or written to a platform.
Each step is its own unit of work with an AuditEvent; a failing step or portfolio is recorded
and the others go on.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from campaigns import audit
from campaigns.admin import automation
from campaigns.alerts import service as alerts
from campaigns.columns import utcnow
from campaigns.config import Settings, SourceSettings
from campaigns.db import session_scope
from campaigns.jobs import nightly_progress as progress
from campaigns.jobs.lock import try_lock
from campaigns.jobs.nightly_apply import timed_applier
from campaigns.jobs.nightly_hard_stop import NIGHTLY, HardStopStep
from campaigns.jobs.nightly_report import (
    Change,
    NightlyReport,
    PortfolioOutcome,
    StepTiming,
    item_changes,
    outcome_to_json,
    timed,
)
from campaigns.jobs.nightly_runs import audit_step as _audit
from campaigns.jobs.nightly_runs import error_text as _error
from campaigns.jobs.nightly_runs import holder_of, run_key, run_record, this_holder
from campaigns.jobs.nightly_sync import feeding_sources, sync_portfolio
from campaigns.jobs.schedules import latest_slot, portfolio_names, triggers
from campaigns.models import BudgetShift, Portfolio, ShiftItem
from campaigns.optimization import proposals as optimization
from campaigns.policy import ServiceConfig, service_config
from campaigns.shifts import lifecycle as shifts
from campaigns.shifts import writeback
from campaigns.shifts.delivery import Delivery, file_items, ids_text, networks_of
from campaigns.shifts.fx import reporting_rates
from campaigns.shifts.settling import settle_after_ingest
from campaigns.shifts.states import OPEN, ShiftStatus

log = logging.getLogger("budgetpilot.nightly")

ConnectorFactory = Callable[[SourceSettings, Settings], Any]
__all__ = ["Change", "NightlyReport", "PortfolioOutcome", "check_config", "feeding_sources",
           "portfolio_names", "run_key", "run_nightly"]


def check_config(settings: Settings) -> ServiceConfig:
    """Everything the nightly job reads from the config, validated: the service sections,
    each portfolio's schedule and time zone, ``[automation]``. ``serve`` checks the same."""
    config = service_config(settings)
    triggers(settings)
    automation.automation_settings(settings)
    return config


def run_nightly(
    engine: Engine,
    settings: Settings,
    *,
    portfolios: Sequence[str] | None = None,
    slot: dt.datetime | None = None,
    force: bool = False,
    dry_run: bool | None = None,
    applier: shifts.ItemApplier | None = None,
    connector_factory: ConnectorFactory | None = None,
    now: Callable[[], dt.datetime] = utcnow,
    holder: str | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> NightlyReport:
    """Run the nightly job for ``portfolios`` (default: all configured).

    ``slot`` is the scheduled time a scheduler fired for; without it a run stands for the
    latest time the portfolio's schedule fired. A finished slot is skipped unless ``force``.
    ``dry_run`` defaults to ``[automation] dry_run``. ``applier`` and ``connector_factory``
    default to the configured platforms. ``holder`` names this process in the run record
    (default: host and pid); a second scheduler for the same slot is told who ran it.

    With ``[queue] broker_url`` (and the platforms not replaced by ``connector_factory`` or
    ``applier``, which live in this process only) each portfolio's run is a Celery workflow
    (:mod:`campaigns.jobs.nightly_workflow`): this process holds the portfolio's lock, submits
    it, waits and tells ``on_progress`` how far it is.
    """
    config = check_config(settings)
    schedule = triggers(settings)
    dry = automation.automation_settings(settings).dry_run if dry_run is None else dry_run
    lookup = _lookup(settings, connector_factory)
    applier_given = applier is not None
    applier = applier or shifts.writeback_applier(settings, connectors=lookup)
    report = NightlyReport(dry_run=dry)
    synced: set[str] = set()
    holder = holder or this_holder()
    workflow = bool(settings.queue.broker_url) and connector_factory is None \
        and applier_given is False
    if workflow:
        from campaigns.jobs.nightly_overlap import run_portfolios_on_workers

        run_portfolios_on_workers(
            engine, settings, list(portfolios or portfolio_names(settings)),
            lambda name: slot or latest_slot(schedule.get(name) or schedule[next(iter(schedule))],
                                             now()),
            force=force, dry=dry, holder=holder, report=report, on_progress=on_progress)
        return report  # each portfolio's workflow evaluates the alerts as its last task
    for name in portfolios or portfolio_names(settings):
        at = slot or latest_slot(schedule.get(name) or schedule[next(iter(schedule))], now())
        key = run_key(name, at)
        with try_lock(engine, f"nightly:{name}") as held:
            skipped = _why_skipped(engine, name, key, at, held=held, force=force, dry=dry)
            if skipped is not None:
                report.portfolios.append(PortfolioOutcome(name, "skipped", skipped))
                continue
            run_as = f"{key} dry-run" if dry else key
            progress.begin(engine, run_as, name, holder=holder, on_workers=False)
            run = _Run(engine, settings, config, name, run_as,
                       applier, lookup, dry, now, report, synced, connector_factory,
                       holder=holder)
            report.portfolios.append(run.run())
    if not dry and any(p.status != "skipped" for p in report.portfolios):
        report.alerts_created += _evaluate_alerts(engine, config, now(), report)
    return report


def _why_skipped(
    engine: Engine, name: str, key: str, at: dt.datetime, *, held: bool, force: bool, dry: bool,
) -> str | None:
    """Why the portfolio's run for slot ``at`` is skipped (logged, and audited when paused):
    another process holds it, it already finished, or automation is paused; None to run."""
    if not held:
        seen = holder_of(engine, key)
        by = seen.says() if seen else "already being run by another process"
        msg = f"{by}: the run of portfolio {name!r} is in progress; skipped"
        log.warning(msg)
        return msg
    seen = None if force else run_record(engine, key)
    if seen is not None and seen.finished:
        msg = (f"{seen.says()}: the run for {at.isoformat()} already finished; "
               "skipped (--force runs it again)")
        log.info("%s: %s", name, msg)
        return msg
    with Session(engine) as session:
        pause = automation.pause_state(session).portfolio_pause(name)
    if pause is not None:
        msg = (f"automation is paused ({pause.where}) by {pause.paused_by}: "
               f"{pause.reason}; skipped")
        log.warning("%s: %s", name, msg)
        _audit(engine, key, "paused", {"portfolio": name, "reason": pause.reason,
                                       "scope": pause.scope, "dry_run": dry})
        return msg
    return None


def _lookup(settings: Settings, factory: ConnectorFactory | None) -> writeback.ConnectorLookup:
    return writeback.configured_connectors(settings, factory)


class _Run(HardStopStep):
    """One portfolio's run: its steps in order, each recorded; a failed step is noted and
    the next ones still run."""

    def __init__(
        self, engine: Engine, settings: Settings, config: ServiceConfig, name: str, key: str,
        applier: shifts.ItemApplier, lookup: writeback.ConnectorLookup, dry: bool,
        now: Callable[[], dt.datetime], report: NightlyReport, synced: set[str],
        factory: ConnectorFactory | None, *, holder: str,
    ) -> None:
        self.engine, self.settings, self.config = engine, settings, config
        self.holder = holder
        self.name, self.key, self.lookup = name, key, lookup
        self.dry, self.now, self.report = dry, now, report
        self.synced, self.factory = synced, factory
        self.delivery = Delivery.of(settings)  # which items go by file, never to a platform
        self.outcome = PortfolioOutcome(name)
        self.started_at = utcnow()
        self.applier = timed_applier(applier, self.outcome.timings)  # per account
        self.proposal: list[ShiftItem] = []
        self.proposal_rates: dict[str, Decimal] = {}  # item currency -> reporting rate
        self.proposal_changes: list[Change] = []
        self.capped: set[tuple[str, str]] = set()  # budgets under a breached hard plan

    def steps(self) -> list[tuple[str, bool, Callable[[], None]]]:
        """The run's steps in order, and whether the config has each one on."""
        scheduler = self.config.scheduler
        # Apply what managers approved before anything else: the sync then reads the budgets
        # in force, and the new proposal is built on them (not expired on arrival).
        return [
            ("expire", not self.dry, self._expire),
            ("apply_approved", scheduler.apply, self._apply_approved),
            ("sync", scheduler.sync, self._sync),
            ("hard_stop", True, self._hard_stop),
            ("propose", True, self._propose),
            ("auto_approve", scheduler.auto_approve, self._auto_approve),
            ("apply", scheduler.apply, self._apply_proposal),
        ]

    def run(self) -> PortfolioOutcome:
        self.begin()
        self.run_steps(self.steps())
        self.finish()
        return self.outcome

    def begin(self, **facts: Any) -> None:
        _audit(self.engine, self.key, "start", {"portfolio": self.name, "dry_run": self.dry,
                                                "holder": self.holder, **facts})

    def run_steps(self, steps: Sequence[tuple[str, bool, Callable[[], None]]]) -> None:
        """Run each enabled step, timed and audited; a failing step is noted and the next
        ones still run."""
        for step, enabled, run in steps:
            if not enabled:
                continue
            progress.at_step(self.engine, self.key, step)
            with self.outcome.timed(step) as timing:
                try:
                    run()
                except Exception as e:  # recorded; the next steps and portfolios still run
                    log.exception("nightly: %s of portfolio %s failed", step, self.name)
                    self.fail(step, timing, e)
            self.step_done(step, timing)

    def fail(self, step: str, timing: StepTiming, e: BaseException) -> None:
        self.outcome.errors[step] = timing.error = _error(e)
        self.outcome.status = "failed"

    def step_done(self, step: str, timing: StepTiming) -> None:
        log.info("nightly %s: %s", self.key, timing.text())  # progress, step by step
        facts = self._facts(step) if timing.error is None else {
            "status": "failed", "error": timing.error}
        _audit(self.engine, self.key, step, {**facts, "seconds": timing.seconds})

    def finish(self, *, on_workers: bool = False) -> bool:
        """The run's ``nightly.finish`` and its progress closed, at once; False when it was
        closed already (then nothing is written)."""
        outcome = self.outcome
        return progress.close(self.engine, self.key, {
            "portfolio": outcome_to_json(outcome), "synced": self.report.synced,
            "sync_failures": self.report.sync_failures,
            "unsynced": sorted(self.report.unsynced),
            "alerts_created": self.report.alerts_created,
            "timings": [t.facts() for t in self.report.timings],
        }, {
            "status": outcome.status, "shift_id": outcome.shift_id, "dry_run": self.dry,
            "auto_approved": outcome.auto_approved, "applied": outcome.applied,
            "errors": outcome.errors, "held": outcome.held, "hard_stops": outcome.stops,
            "changes": [_change_facts(c) for c in outcome.changes[:500]],
            "holder": self.holder, "timings": [t.facts() for t in outcome.timings],
            "started_at": self.started_at.isoformat(), "on_workers": on_workers,
        })

    def _facts(self, step: str) -> dict[str, Any]:
        o = self.outcome
        facts: dict[str, Any] = {"status": "succeeded", "dry_run": self.dry}
        if step in ("propose", "auto_approve"):
            facts.update(shift_id=o.shift_id, change_fraction=o.change_fraction,
                         auto_approved=o.auto_approved)
        if step.startswith("apply"):
            facts["applied"] = o.applied
        return facts

    def _expire(self) -> None:
        with session_scope(self.engine) as session:
            shifts.expire_overdue(session, now=self.now(), actor=NIGHTLY.name)

    def _sync(self) -> None:
        self.report.unsynced |= sync_portfolio(
            self.engine, self.settings, self.name, self.key, self.report, self.synced,
            self.factory, self.now(), self.outcome.timings)
        if not self.dry:
            # Exported items whose new budget the sync now shows are applied.
            settle_after_ingest(self.engine, actor=NIGHTLY.name, now=self.now())

    def _propose(self) -> None:
        """Propose from the budgets in force now. A dry run computes the proposal and rolls
        it back: no shift is recorded and no manager's proposal is superseded."""
        with Session(self.engine, expire_on_commit=False) as session:
            result = optimization.propose(session, self.settings, portfolio=self.name,
                                          created_by=NIGHTLY.name, now=self.now())
            assert result.shift_id is not None  # planned for today: a shift is always recorded
            view = shifts.get_shift(session, result.shift_id)
            self.outcome.change_fraction = view.change_fraction
            self.proposal = list(view.items)
            self.proposal_rates = reporting_rates(session, view.shift, view.items)
            self.proposal_changes = item_changes(session, self.proposal, "would apply")
            if self.dry:
                session.expunge_all()  # keep the computed items readable after the rollback
                session.rollback()
                return
            session.commit()
            self.outcome.shift_id = result.shift_id

    def _auto_approve(self) -> None:
        """Approve the new proposal when it moves no more than the policy allows (a larger
        one waits for a manager); items of paused accounts are left out."""
        if not self.proposal:
            return
        limit = self.config.service.auto_approve_max_change
        with Session(self.engine) as session:
            paused = automation.pause_state(session).paused_accounts
        keys = {c.item_id: c.account_key for c in self.proposal_changes}
        raising = {i.id for i in self.proposal if i.new_budget > i.old_budget
                   and (keys[i.id], i.target_external_id) in self.capped}
        out = paused | self.report.unsynced  # a paused account, or one whose sync failed tonight
        chosen = [i for i in self.proposal if keys[i.id] not in out and i.id not in raising]
        held = sorted({keys[i.id] for i in self.proposal} & paused)
        if held:
            self.outcome.held.append(f"accounts {', '.join(held)} are paused: their items "
                                     "are not auto-approved")
        stale = sorted({keys[i.id] for i in self.proposal} & self.report.unsynced - paused)
        if stale:
            self.outcome.held.append(f"accounts {', '.join(stale)} failed to sync: their "
                                     "items are not auto-approved")
            held += stale
        if raising:
            self.outcome.held.append(f"{len(raising)} items would raise budgets under a hard "
                                     "plan: not auto-approved")
        moved = shifts.change_fraction(chosen, self.proposal_rates)
        if not chosen or moved > limit:
            return
        self.outcome.auto_approved = True
        if self.dry:
            self.outcome.changes.extend(
                c for c in self.proposal_changes if c.account_key not in out)
            return
        assert self.outcome.shift_id is not None
        with session_scope(self.engine) as session:
            view = shifts.get_shift(session, self.outcome.shift_id)
            shifts.approve(
                session, self.outcome.shift_id, version=view.shift.version, user=NIGHTLY,
                policy=self.config.service, now=self.now(),
                item_ids=[i.id for i in chosen] if held or raising else None,  # type: ignore[misc]
                comment=f"auto-approved: moves {moved:.1%} (policy: at most {limit:.1%})")

    def _apply_approved(self) -> None:
        """Apply every approved shift of the portfolio (managers' and earlier runs')."""
        with Session(self.engine) as session:
            todo = [shift_id for shift_id in session.scalars(
                select(col(BudgetShift.id))
                .join(Portfolio, col(Portfolio.id) == col(BudgetShift.portfolio_id))
                .where(col(Portfolio.name) == self.name,  # none yet before its first sync
                       # approved, or left applying by a crash: the ones to apply now
                       col(BudgetShift.status).in_([s.value for s in OPEN
                                                    if s != ShiftStatus.PROPOSED]))
                .order_by(col(BudgetShift.id))
            ) if shift_id is not None]  # a primary key: never None
        self._apply(todo, retry=True)

    def _apply_proposal(self) -> None:
        if self.outcome.auto_approved and self.outcome.shift_id is not None and not self.dry:
            self._apply([self.outcome.shift_id])

    def _apply(self, shift_ids: list[int], *, retry: bool = False) -> None:
        failures = []
        for shift_id in shift_ids:
            try:
                self._apply_one(shift_id)
            except Exception as e:  # the next shift still applies
                failures.append(f"shift {shift_id}: {_error(e)}")
        if retry and not self.dry:
            # Failed items of earlier shifts whose backoff has passed are applied again, but
            # not in a paused account: such a shift waits, whole, as an approved one does.
            with Session(self.engine) as session:
                paused = automation.pause_state(session).paused_accounts
            for line in shifts.retry_due(self.engine, self.name, user=NIGHTLY,
                                         applier=self.applier, paused=paused,
                                         delivery=self.delivery):
                if " waits: " in line:
                    self.outcome.held.append(line)
                elif not line.endswith((": applied", ": exported")):
                    failures.append(line)
        if failures:
            raise RuntimeError("; ".join(failures))

    def _apply_one(self, shift_id: int) -> None:
        with Session(self.engine) as session:
            view = shifts.get_shift(session, shift_id)
            todo = [i for i in view.items if i.status in writeback.APPLICABLE]
            by_file = file_items(session, todo, self.delivery)
            todo = [i for i in todo if i.id not in by_file]
            accounts = {c.item_id: c.account_key for c in item_changes(session, todo, "")}
            paused = automation.pause_state(session).paused_accounts
        if by_file:
            # Never written to a platform by us: a manager exports the file.
            self.outcome.held.append(
                f"shift {shift_id}: items {ids_text(list(by_file))} on "
                f"{', '.join(networks_of(by_file.values()))} go by file: "
                f"`budgetpilot shifts export {shift_id}`")
        if not todo:
            return
        blocked = sorted(set(accounts.values()) & paused)
        if blocked:
            # All or nothing: a shift is one decision, and it applies once they resume.
            self.outcome.held.append(f"shift {shift_id} waits: accounts {', '.join(blocked)} "
                                     "are paused")
            return
        if self.dry:
            result = writeback.apply_items(self.engine, shift_id, self.lookup, dry_run=True,
                                           items=todo)
            with Session(self.engine) as session:
                self.outcome.changes.extend(item_changes(
                    session, todo,
                    {i.id or 0: "would fail" if i.id in result.errors else "would apply"
                     for i in todo}, result.errors))
            return
        with session_scope(self.engine) as session:
            # The job's clock stamps the items: tomorrow's max-change step is measured from it.
            view = shifts.apply(session, shift_id, version=view.shift.version, user=NIGHTLY,
                                applier=self.applier, now=self.now(), delivery=self.delivery)
        self.outcome.applied.append(shift_id)
        done = {i.id for i in todo}
        with Session(self.engine) as session:
            now = shifts.get_shift(session, shift_id)
            touched = [i for i in now.items if i.id in done]
            self.outcome.changes.extend(item_changes(
                session, touched, {i.id or 0: i.status for i in touched}))
        waiting = bool(by_file) and not any(i.status == shifts.ItemStatus.FAILED
                                             for i in view.items)
        if view.shift.status not in (ShiftStatus.APPLIED, ShiftStatus.EXPORTED) and not waiting:
            raise RuntimeError(f"shift {shift_id} ended {view.shift.status}")


def _change_facts(c: Change) -> dict[str, Any]:
    return {"shift": c.shift_id, "account": c.account_key, "campaign": c.campaign,
            "target": c.target, "old": c.old, "new": c.new, "currency": c.currency,
            "outcome": c.outcome}


def _evaluate_alerts(engine: Engine, config: ServiceConfig, now: dt.datetime,
                     report: NightlyReport) -> int:
    with timed(report.timings, "alerts") as timing:
        try:
            result = alerts.evaluate(engine, config.pacing, config.alerts, now=now)
        except Exception as e:
            log.exception("nightly: alert evaluation failed")
            timing.error = _error(e)
            report.sync_failures.append(f"alerts: {timing.error}")
            return 0
    with session_scope(engine) as session:
        audit.record(session, actor=NIGHTLY.name, action="nightly.alerts",
                     entity_type="nightly_run", entity_id=f"alerts@{now:%Y-%m-%dT%H:%MZ}",
                     after={"created": len(result.created), "delivered": len(result.delivered),
                            "failed": len(result.failed), "seconds": timing.seconds})
    return len(result.created)
