"""The kill switch: read the pause state (any role); pause and resume automation globally, per
portfolio or per account (managers and admins), each audited with who and why."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import AutomationController, Reader, SessionDep
from api.schemas.automation import AutomationState, PausePublic, PauseRequest, ResumeResult
from campaigns.admin import automation
from campaigns.admin.automation import Pause

router = APIRouter(prefix="/automation", tags=["automation"])


def _public(p: Pause) -> PausePublic:
    return PausePublic(scope=p.scope, scope_key=p.scope_key, reason=p.reason,
                       paused_by=p.paused_by, paused_at=p.paused_at)


def _state(session: SessionDep) -> AutomationState:
    state = automation.pause_state(session)
    return AutomationState(paused=any(p.scope == "global" for p in state.pauses),
                           pauses=[_public(p) for p in state.pauses])


@router.get("", response_model=AutomationState)
def automation_state(session: SessionDep, _: Reader) -> AutomationState:
    """What is paused, by whom and why."""
    return _state(session)


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
