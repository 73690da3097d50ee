"""Dependencies the routes declare: the session (one commit per request), settings, the caller.

``Depends(get_session, scope="function")`` runs the code after ``yield`` when the endpoint
returns, before the response is sent, so a failed commit still becomes the response (FastAPI
0.165; in "request" scope it would run after the response was sent).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from sqlmodel import Session

from campaigns.auth import Action, Principal, authenticate
from campaigns.config import Settings
from campaigns.errors import BudgetPilotError
from campaigns.policy import ServiceConfig


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_config(request: Request) -> ServiceConfig:
    return request.app.state.config


def get_session(request: Request) -> Iterator[Session]:
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        try:
            yield session
        except BudgetPilotError as e:
            if e.keeps_changes:
                session.commit()
            else:
                session.rollback()
            raise
        except BaseException:
            session.rollback()
            raise
        else:
            session.commit()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ConfigDep = Annotated[ServiceConfig, Depends(get_config)]
EngineDep = Annotated[Engine, Depends(get_engine)]

_bearer = HTTPBearer(auto_error=False, description="An API token: `budgetpilot token create`")


def get_current_user(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    return authenticate(session, credentials.credentials if credentials else None)


CurrentUser = Annotated[Principal, Depends(get_current_user)]


def require(action: Action) -> Any:
    """A dependency that lets the call through only for roles allowed ``action``."""

    async def allowed(user: CurrentUser) -> Principal:
        return user.require(action)

    allowed.action = action  # type: ignore[attr-defined]  # read by the OpenAPI role notes
    allowed.__name__ = f"require_{action.value}"
    return Depends(allowed)


Reader = Annotated[Principal, require(Action.read)]
FinanceReader = Annotated[Principal, require(Action.read_finance)]
AuditReader = Annotated[Principal, require(Action.read_audit)]
PlanEditor = Annotated[Principal, require(Action.edit_plans)]
FxEditor = Annotated[Principal, require(Action.edit_fx)]
CapEditor = Annotated[Principal, require(Action.edit_caps)]
ShiftDecider = Annotated[Principal, require(Action.decide_shifts)]
ShiftApplier = Annotated[Principal, require(Action.apply_shifts)]
Optimizer = Annotated[Principal, require(Action.run_optimization)]
AlertAcknowledger = Annotated[Principal, require(Action.acknowledge_alerts)]
AlertEvaluator = Annotated[Principal, require(Action.evaluate_alerts)]
TokenAdmin = Annotated[Principal, require(Action.manage_tokens)]
