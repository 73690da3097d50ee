"""Alerts: list, read, acknowledge; evaluate (detect + deliver) on demand."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import httpx
from fastapi import APIRouter, Query, Request
from sqlmodel import Session

from api.deps import AlertAcknowledger, AlertEvaluator, ConfigDep, EngineDep, Reader, SessionDep
from api.params import Name, OptionalDay, PageDep, PathId
from api.schemas import alerts as s
from campaigns.alerts import service as alerts
from campaigns.ingest.names import scope_names
from campaigns.models import Alert

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("", response_model=s.AlertsPublic)
def list_alerts(
    session: SessionDep, _: Reader, page: PageDep,
    kind: Annotated[str | None, Query(max_length=40)] = None, acknowledged: bool | None = None,
    portfolio: Name = None,
) -> s.AlertsPublic:
    """Newest first; ``portfolio`` keeps one portfolio's alerts."""
    rows, count = alerts.list_alerts(session, page, kind=kind, acknowledged=acknowledged,
                                     portfolio=portfolio)
    return s.AlertsPublic(data=_named(session, rows), count=count)


def _named(session: Session, rows: Sequence[Alert]) -> list[s.AlertPublic]:
    names = scope_names(session, ((a.scope, a.scope_key) for a in rows))
    return [s.AlertPublic.model_validate(a).model_copy(
        update={"scope_name": names.get((a.scope, a.scope_key))}) for a in rows]


@router.get("/{alert_id}", response_model=s.AlertPublic)
def get_alert(session: SessionDep, _: Reader, alert_id: PathId) -> s.AlertPublic:
    return _named(session, [alerts.get_alert(session, alert_id)])[0]


@router.post("/{alert_id}/acknowledge", response_model=s.AlertPublic)
def acknowledge_alert(session: SessionDep, user: AlertAcknowledger,
                      alert_id: PathId) -> s.AlertPublic:
    return _named(session, [alerts.acknowledge(session, alert_id, actor=user.name)])[0]


@router.post("/evaluate", response_model=s.AlertEvaluation)
def evaluate_alerts(
    request: Request, engine: EngineDep, config: ConfigDep, _: AlertEvaluator,
    as_of: OptionalDay = None,
) -> s.AlertEvaluation:
    """Detect conditions, store the new ones and deliver pending alerts to the webhooks
    (what the scheduler does every hour)."""
    client: httpx.Client | None = getattr(request.app.state, "webhook_client", None)
    result = alerts.evaluate(engine, config.pacing, config.alerts, as_of=as_of,
                             cache=request.app.state.cache, client=client)
    return s.AlertEvaluation(created=result.created, delivered=result.delivered,
                             failed=result.failed)
