"""The nightly rebalancer: per portfolio, sync → optimise and propose → auto-approve inside the
policy → apply what is approved → evaluate alerts.

One entry point, :func:`run_nightly`, serves the in-process scheduler (every API worker may
start one) and ``budgetpilot nightly`` (cron). Each portfolio runs under its own job lock
(:mod:`campaigns.job_lock`): a second concurrent run of the same portfolio skips with a
message, and a scheduled run whose slot was already completed by another worker skips too.
Each step is its own unit of work with an AuditEvent; a failing step or portfolio is recorded
and the others go on.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns import alerts, audit, optimization, shifts
from campaigns.auth import Principal, Role
from campaigns.catalog import get_portfolio
from campaigns.config import Settings, SourceSettings
from campaigns.db import session_scope
from campaigns.errors import BudgetPilotError
from campaigns.job_lock import try_lock
from campaigns.models import AuditEvent, BudgetShift, utcnow
from campaigns.policy import ServiceConfig, service_config
from connectors.redact import redact

log = logging.getLogger("budgetpilot.nightly")

NIGHTLY = Principal(name="nightly", role=Role.service)
ConnectorFactory = Callable[[SourceSettings, Settings], Any]


@dataclass
class PortfolioOutcome:
    portfolio: str
    status: str = "succeeded"  # succeeded | failed | skipped
    message: str = ""
    shift_id: int | None = None
    change_fraction: float | None = None
    auto_approved: bool = False
    applied: list[int] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # step -> error


@dataclass
class NightlyReport:
    portfolios: list[PortfolioOutcome] = field(default_factory=list)
    synced: list[str] = field(default_factory=list)
    sync_failures: list[str] = field(default_factory=list)
    alerts_created: int = 0

    @property
    def ok(self) -> bool:
        return not self.sync_failures and all(p.status != "failed" for p in self.portfolios)

    def lines(self) -> list[str]:
        out = [f"synced {', '.join(self.synced) or 'nothing'}"
               + (f"; failed: {'; '.join(self.sync_failures)}" if self.sync_failures else "")]
        for p in self.portfolios:
            detail = p.message or (
                f"shift {p.shift_id} moves {p.change_fraction:.1%}"
                + (", auto-approved" if p.auto_approved else ", waits for a manager")
                if p.shift_id is not None else "no proposal"
            )
            applied = f"; applied shifts {p.applied}" if p.applied else ""
            errors = "".join(f"; {step} failed: {err}" for step, err in p.errors.items())
            out.append(f"{p.portfolio}: {p.status}: {detail}{applied}{errors}")
        out.append(f"alerts: {self.alerts_created} new")
        return out


def portfolio_names(settings: Settings) -> list[str]:
    """The configured portfolios, or ``default`` when the config names none."""
    return [p.name for p in settings.portfolios] or ["default"]


def feeding_sources(settings: Settings, portfolio: str) -> list[SourceSettings]:
    """The sources whose accounts may belong to ``portfolio``: those assigned to it, or every
    source when the portfolio lists its accounts (they may come from any source)."""
    from connectors.registry import syncable_sources

    sources = syncable_sources(settings)
    listed = any(p.name == portfolio and p.accounts for p in settings.portfolios)
    return sources if listed else [s for s in sources if s.portfolio == portfolio]


def run_nightly(
    engine: Engine,
    settings: Settings,
    *,
    portfolios: Sequence[str] | None = None,
    slot: dt.datetime | None = None,
    applier: shifts.ItemApplier | None = None,
    connector_factory: ConnectorFactory | None = None,
    now: Callable[[], dt.datetime] = utcnow,
) -> NightlyReport:
    """Run the nightly job for ``portfolios`` (default: all configured).

    ``slot`` is the scheduled time a scheduler fired for; a slot already completed (by another
    worker) is skipped. ``applier`` and ``connector_factory`` default to the configured
    platforms.
    """
    config = service_config(settings)
    applier = applier or shifts.writeback_applier(settings)
    report = NightlyReport()
    synced: set[str] = set()
    for name in portfolios or portfolio_names(settings):
        key = run_key(name, slot or now())
        with try_lock(engine, f"nightly:{name}") as held:
            if not held:
                msg = f"another nightly run of portfolio {name!r} is in progress; skipped"
                log.warning(msg)
                report.portfolios.append(PortfolioOutcome(name, "skipped", msg))
                continue
            if slot is not None and _finished(engine, key):
                msg = f"the run for {slot.isoformat()} already finished; skipped"
                log.info("%s: %s", name, msg)
                report.portfolios.append(PortfolioOutcome(name, "skipped", msg))
                continue
            _sync(engine, settings, name, key, report, synced, connector_factory, now)
            outcome = _run_portfolio(engine, settings, config, name, key, applier, now)
            report.portfolios.append(outcome)
    if any(p.status != "skipped" for p in report.portfolios):
        report.alerts_created = _evaluate_alerts(engine, config, now(), report)
    return report


def run_key(portfolio: str, at: dt.datetime) -> str:
    return f"{portfolio}@{at.astimezone(dt.UTC):%Y-%m-%dT%H:%MZ}"


def _finished(engine: Engine, key: str) -> bool:
    with Session(engine) as session:
        return session.scalars(select(AuditEvent.id).where(
            AuditEvent.entity_type == "nightly_run", AuditEvent.entity_id == key,
            AuditEvent.action == "nightly.finish",
        )).first() is not None


def _audit(engine: Engine, key: str, step: str, after: dict[str, Any]) -> None:
    with session_scope(engine) as session:
        audit.record(session, actor=NIGHTLY.name, action=f"nightly.{step}",
                     entity_type="nightly_run", entity_id=key, after=after)


def _error(exc: BaseException) -> str:
    text = exc.message if isinstance(exc, BudgetPilotError) else f"{type(exc).__name__}: {exc}"
    return redact(text)[:2000]  # printed, audited and logged: never a secret


def _sync(
    engine: Engine, settings: Settings, portfolio: str, key: str, report: NightlyReport,
    synced: set[str], factory: ConnectorFactory | None, now: Callable[[], dt.datetime],
) -> None:
    from campaigns.sync import sync_source
    from connectors.registry import build_connector

    if not service_config(settings).scheduler.sync:
        return
    for source in feeding_sources(settings, portfolio):
        if source.name in synced:
            continue
        synced.add(source.name)
        with try_lock(engine, f"sync:{source.name}") as held:
            if not held:
                report.sync_failures.append(f"{source.name}: being synced by another run")
                continue
            try:
                connector = (factory or build_connector)(source, settings)
                result = sync_source(engine, settings, source, connector, now=now())
                failed = [f"{o.account} {o.stream}: {o.error}" for o in result.failed]
            except Exception as e:  # one source never stops the job
                log.exception("nightly: sync of %s failed", source.name)
                failed = [_error(e)]
                result = None
        report.synced.append(source.name)
        report.sync_failures.extend(f"{source.name}: {f}" for f in failed)
        _audit(engine, key, "sync", {
            "source": source.name, "status": "failed" if failed else "succeeded",
            "metric_rows": result.metric_rows if result else 0, "errors": failed[:20],
        })


def _run_portfolio(
    engine: Engine, settings: Settings, config: ServiceConfig, name: str, key: str,
    applier: shifts.ItemApplier, now: Callable[[], dt.datetime],
) -> PortfolioOutcome:
    outcome = PortfolioOutcome(name)
    _audit(engine, key, "start", {"portfolio": name})
    steps: list[tuple[str, Callable[[], None]]] = [
        ("expire", lambda: _expire(engine, now())),
        ("propose", lambda: _propose(engine, settings, name, outcome)),
        ("auto_approve", lambda: _auto_approve(engine, config, outcome, now())),
        ("apply", lambda: _apply(engine, name, applier, outcome)),
    ]
    for step, run in steps:
        if step == "auto_approve" and (outcome.shift_id is None
                                       or not config.scheduler.auto_approve):
            continue
        if step == "apply" and not config.scheduler.apply:
            continue
        try:
            run()
            _audit(engine, key, step, _step_facts(step, outcome))
        except Exception as e:  # recorded; the next steps and portfolios still run
            log.exception("nightly: %s of portfolio %s failed", step, name)
            outcome.errors[step] = _error(e)
            outcome.status = "failed"
            _audit(engine, key, step, {"status": "failed", "error": outcome.errors[step]})
    _audit(engine, key, "finish", {"status": outcome.status, "shift_id": outcome.shift_id,
                                   "auto_approved": outcome.auto_approved,
                                   "applied": outcome.applied, "errors": outcome.errors})
    return outcome


def _step_facts(step: str, outcome: PortfolioOutcome) -> dict[str, Any]:
    facts: dict[str, Any] = {"status": "succeeded"}
    if step in ("propose", "auto_approve"):
        facts.update(shift_id=outcome.shift_id, change_fraction=outcome.change_fraction,
                     auto_approved=outcome.auto_approved)
    if step == "apply":
        facts["applied"] = outcome.applied
    return facts


def _expire(engine: Engine, now: dt.datetime) -> None:
    with session_scope(engine) as session:
        shifts.expire_overdue(session, now=now, actor=NIGHTLY.name)


def _propose(engine: Engine, settings: Settings, name: str, outcome: PortfolioOutcome) -> None:
    with session_scope(engine) as session:
        result = optimization.propose(session, settings, portfolio=name,
                                      created_by=NIGHTLY.name)
        outcome.shift_id = result["shift_id"]


def _auto_approve(
    engine: Engine, config: ServiceConfig, outcome: PortfolioOutcome, now: dt.datetime
) -> None:
    """Approve the new proposal when it moves no more than the policy allows; a larger one
    waits for a manager."""
    assert outcome.shift_id is not None
    limit = config.service.auto_approve_max_change
    with session_scope(engine) as session:
        view = shifts.get_shift(session, outcome.shift_id)
        outcome.change_fraction = view.change_fraction
        if view.change_fraction > limit:
            return
        shifts.approve(session, outcome.shift_id, version=view.shift.version, user=NIGHTLY,
                       policy=config.service, now=now,
                       comment=f"auto-approved: moves {view.change_fraction:.1%} "
                               f"(policy: at most {limit:.1%})")
        outcome.auto_approved = True


def _apply(engine: Engine, name: str, applier: shifts.ItemApplier,
           outcome: PortfolioOutcome) -> None:
    """Apply every approved shift of the portfolio (the nightly's and the managers')."""
    with Session(engine) as session:
        portfolio_id = get_portfolio(session, name).id
        todo = list(session.execute(
            select(BudgetShift.id, BudgetShift.version)
            .where(BudgetShift.portfolio_id == portfolio_id,
                   BudgetShift.status.in_(("approved", "applying")))  # type: ignore[attr-defined]
            .order_by(BudgetShift.id)  # type: ignore[arg-type]
        ).all())
    failures = []
    for shift_id, version in todo:
        try:
            with session_scope(engine) as session:
                view = shifts.apply(session, shift_id, version=version, user=NIGHTLY,
                                    applier=applier)
            outcome.applied.append(shift_id)
            if view.shift.status != "applied":
                failures.append(f"shift {shift_id} ended {view.shift.status}")
        except Exception as e:  # the next shift still applies
            failures.append(f"shift {shift_id}: {_error(e)}")
    failures += [line for line in shifts.retry_due(engine, name, user=NIGHTLY, applier=applier)
                 if not line.endswith(": applied")]
    if failures:
        raise RuntimeError("; ".join(failures))


def _evaluate_alerts(engine: Engine, config: ServiceConfig, now: dt.datetime,
                     report: NightlyReport) -> int:
    try:
        result = alerts.evaluate(engine, config.pacing, config.alerts, now=now)
    except Exception as e:
        log.exception("nightly: alert evaluation failed")
        report.sync_failures.append(f"alerts: {_error(e)}")
        return 0
    with session_scope(engine) as session:
        audit.record(session, actor=NIGHTLY.name, action="nightly.alerts",
                     entity_type="nightly_run", entity_id=f"alerts@{now:%Y-%m-%dT%H:%MZ}",
                     after={"created": len(result.created), "delivered": len(result.delivered),
                            "failed": len(result.failed)})
    return len(result.created)
