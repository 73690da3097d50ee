"""Dependencies the routes declare: the session (one commit per request), settings, the caller
(whose token :class:`api.limits.RequestGate` checked before the request got here).

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

from api.limits import PRINCIPAL
from campaigns.admin.auth import Action, Principal
from campaigns.config import Settings
from campaigns.errors import AuthenticationError, BudgetPilotError
from campaigns.policy import ServiceConfig


async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_config(request: Request) -> ServiceConfig:
    return request.app.state.config


def get_session(request: Request) -> Iterator[Session]:
    writes = request.method not in ("GET", "HEAD")
    with Session(request.app.state.engine, expire_on_commit=False) as session:
        try:
            yield session
        except BudgetPilotError as e:
            if e.keeps_changes:
                session.commit()
                _wrote(request)
            else:
                session.rollback()
            raise
        except BaseException:
            session.rollback()
            raise
        else:
            session.commit()
            if writes:
                _wrote(request)


def _wrote(request: Request) -> None:
    """This worker's own writes (a plan, a decision, a revoked token) show at once."""
    request.app.state.responses.invalidate()
    request.app.state.principals.clear()


SessionDep = Annotated[Session, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
ConfigDep = Annotated[ServiceConfig, Depends(get_config)]
EngineDep = Annotated[Engine, Depends(get_engine)]

_bearer = HTTPBearer(auto_error=False, description="An API token: `budgetpilot token create`")


def get_current_user(
    request: Request,
    session: SessionDep,
    # declares the scheme in the OpenAPI document; the gate has read and checked the token
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    principal: Principal | None = getattr(request.state, PRINCIPAL, None)
    if principal is None:  # a route outside the gate's prefix: no token was checked
        raise AuthenticationError("missing bearer token (Authorization: Bearer <token>)")
    # a token limited to some portfolios: this request's queries find only theirs, and the
    # answers kept for it are keyed by its portfolios (see api.caching.Responses.key)
    principal.limit(session)
    return principal


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
AutomationController = Annotated[Principal, require(Action.control_automation)]
