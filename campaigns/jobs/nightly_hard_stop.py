"""The nightly job's hard-stop step (:mod:`campaigns.optimization.hard_stop`): keep each hard plan's
month within its cap before the new proposal is built, and keep the proposal from raising
what was just lowered."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from campaigns.admin import automation
from campaigns.admin.auth import Principal, Role
from campaigns.alerts import service as alerts
from campaigns.config import Settings
from campaigns.db import session_scope
from campaigns.jobs.nightly_report import Change, NightlyReport, PortfolioOutcome
from campaigns.models import Portfolio
from campaigns.optimization import hard_stop
from campaigns.policy import ServiceConfig
from campaigns.scopes import account_key
from campaigns.shifts import lifecycle as shifts
from connectors.currencies import minor_unit

NIGHTLY = Principal(name="nightly", role=Role.service)


class HardStopStep:
    """Mixed into the nightly run, whose attributes it uses."""

    engine: Engine
    settings: Settings
    config: ServiceConfig
    name: str
    dry: bool
    now: Callable[[], dt.datetime]
    outcome: PortfolioOutcome
    report: NightlyReport
    capped: set[tuple[str, str]]

    def _apply(self, shift_ids: list[int]) -> None:
        raise NotImplementedError

    def _hard_stop(self) -> None:
        """Keep each hard plan's month within its cap: lower the budgets in its scope (or,
        with ``[automation] hard_stop = "pause"``, pause automation of its accounts) and
        raise an alert. Paused accounts are not written to."""
        policy = automation.automation_settings(self.settings)
        with Session(self.engine, expire_on_commit=False) as session:
            portfolio = session.scalars(
                select(Portfolio).where(col(Portfolio.name) == self.name)).first()
            if portfolio is None:
                return
            stop = hard_stop.check(session, portfolio, now=self.now(), settings=policy)
            paused = automation.pause_state(session).paused_accounts
        if not stop.breaches:
            return
        self.capped = stop.capped()
        in_scope = sorted({account_key(u.account) for b in stop.breaches for u in b.units})
        lowered: dict[str, Decimal] = {}
        if policy.hard_stop == "pause":
            action = f"automation paused for {', '.join(in_scope)}; decide on the platform"
            if not self.dry:
                with session_scope(self.engine) as session:
                    for key in sorted(set(in_scope) - paused):
                        automation.pause(session, actor=NIGHTLY.name, account=key,
                                         reason=stop.breaches[0].message())
        else:
            for unit_id, budget in stop.lowered().items():
                unit = stop.units[unit_id]
                if account_key(unit.account) in paused:
                    continue
                # A platform refuses a zero budget: the smallest amount is as close to a stop
                # as a budget gets (the alert asks a person to pause what must not spend).
                lowered[unit_id] = max(budget, minor_unit(unit.account.currency))
            held = sorted(set(in_scope) & paused)
            action = (f"{len(lowered)} budgets lowered to land on it"
                      + (f"; accounts {', '.join(held)} are paused and were left alone"
                         if held else ""))
        for breach in stop.breaches:
            self.outcome.stops.append(f"{breach.message()}: {action}")
        if not self.dry:
            self._raise_stop_alerts(stop, action)
        if lowered:
            self._lower(portfolio, stop, lowered)

    def _lower(self, portfolio: Portfolio, stop: hard_stop.HardStop,
               budgets: dict[str, Decimal]) -> None:
        comment = "hard monthly stop: " + "; ".join(b.message() for b in stop.breaches)
        if self.dry:
            for unit_id, new in budgets.items():
                u = stop.units[unit_id]
                self.outcome.changes.append(Change(
                    None, None, u.network, u.account.external_id, u.campaign.external_id,
                    u.level, u.target_external_id, u.current_budget, new, u.account.currency,
                    "would apply"))
            return
        if not self.config.scheduler.apply:
            return
        ttl = dt.timedelta(hours=self.config.service.shift_ttl_hours)
        with session_scope(self.engine) as session:
            shift = hard_stop.record_shift(session, portfolio, stop, budgets, comment=comment,
                                           expires_at=self.now() + ttl)
            assert shift.id is not None
            shifts.approve(session, shift.id, version=shift.version, user=NIGHTLY,
                           policy=self.config.service, now=self.now(), comment=comment[:2000])
        self._apply([shift.id])

    def _raise_stop_alerts(self, stop: hard_stop.HardStop, action: str) -> None:
        today = self.now().astimezone(dt.UTC).date()
        with session_scope(self.engine) as session:
            created = alerts.store(session, [alerts.Condition(
                kind="hard_stop", severity="critical", scope=b.scope, scope_key=b.scope_key,
                condition_key=f"hard_stop:{b.plan_id}:{today.isoformat()}",
                message=f"{b.message()}: {action}",
                details={"plan_id": b.plan_id, "month": b.month.isoformat(), "cap": str(b.cap),
                         "spent": str(b.spent), "committed": str(b.committed)},
            ) for b in stop.breaches])
        self.report.alerts_created += len(created)
