"""The kill switch: read the pause state (any role); pause and resume automation globally, per
portfolio or per account (managers and admins), each audited with who and why."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter

from api.deps import AutomationController, Reader, SessionDep, SettingsDep
from api.schemas.automation import (
    AutomationState,
    PausePublic,
    PauseRequest,
    ResumeResult,
    SchedulePublic,
    SchedulerPublic,
)
from campaigns.admin import automation
from campaigns.admin.access import session_portfolios
from campaigns.admin.automation import Pause
from campaigns.config import Settings
from campaigns.jobs.schedules import DEFAULT_SCHEDULE, triggers
from campaigns.lookup import list_portfolios

router = APIRouter(prefix="/automation", tags=["automation"])


def _public(p: Pause) -> PausePublic:
    return PausePublic(scope=p.scope, scope_key=p.scope_key, reason=p.reason,
                       paused_by=p.paused_by, paused_at=p.paused_at)


def _state(session: SessionDep) -> AutomationState:
    state = automation.pause_state(session)
    return AutomationState(paused=any(p.scope == "global" for p in state.pauses),
                           pauses=[_public(p) for p in state.pauses])


def _schedules(session: SessionDep, settings: Settings, state: AutomationState,
               now: dt.datetime) -> list[SchedulePublic]:
    crons = {p.name: p.schedule for p in settings.portfolios}
    mine = None if session_portfolios(session) is None else {
        p.name for p in list_portfolios(session)}  # a brand's token: its own portfolios
    paused = {p.scope_key for p in state.pauses if p.scope == "portfolio"}
    out = []
    for name, trigger in triggers(settings).items():
        if mine is not None and name not in mine:
            continue
        fire = trigger.get_next_fire_time(None, now)
        out.append(SchedulePublic(
            portfolio=name, cron=crons.get(name, DEFAULT_SCHEDULE),
            next_run=None if fire is None else fire.astimezone(dt.UTC),
            paused=state.paused or name in paused))
    return out


@router.get("", response_model=AutomationState)
def automation_state(session: SessionDep, settings: SettingsDep, _: Reader) -> AutomationState:
    """What is paused, by whom and why; and, read-only from the config, whether the nightly
    runs dry, how it stops at a hard plan, and each portfolio's schedule with its next run."""
    state = _state(session)
    sched = settings.scheduler
    return state.model_copy(update={
        "dry_run": settings.automation.dry_run, "hard_stop": settings.automation.hard_stop,
        "follow_plans": settings.optimizer.follow_plans,
        "plan_band": settings.optimizer.plan_band,
        "scheduler": SchedulerPublic(enabled=sched.enabled, timezone=sched.timezone,
                                     sync=sched.sync, auto_approve=sched.auto_approve,
                                     apply=sched.apply),
        "schedules": _schedules(session, settings, state, dt.datetime.now(dt.UTC)),
    })


@router.post("/pause", response_model=AutomationState)
def pause(session: SessionDep, user: AutomationController, body: PauseRequest) -> AutomationState:
    """Pause automation: everything (no portfolio or account), one portfolio, or one account.
    The nightly job and auto-approval respect it from their next decision."""
    automation.pause(session, actor=user.name, reason=body.reason, portfolio=body.portfolio,
                     account=body.account)
    return _state(session)


@router.post("/resume", response_model=ResumeResult)
def resume(session: SessionDep, user: AutomationController, body: PauseRequest) -> ResumeResult:
    """Lift a pause (the same scope as it was given)."""
    lifted = automation.resume(session, actor=user.name, reason=body.reason,
                               portfolio=body.portfolio, account=body.account)
    return ResumeResult(resumed=lifted is not None,
                        pause=_public(lifted) if lifted else None, state=_state(session))
