"""Alerts: conditions worth a human's attention, stored once and delivered once.

Kinds: ``pacing_under`` and ``plan_breach_forecast`` (a plan's month forecast beyond the pacing
thresholds), ``cap_breach_forecast`` (a scope's run rate above its cap's max daily),
``sync_failed``, ``sync_stale`` and ``shift_waiting``.

``Alert.condition_key`` is unique: a condition is stored once however often it is detected.
Delivery claims an alert with a conditional update committed *before* the webhook is called
and records each webhook that accepted it, so no webhook gets the same alert twice — a crash
between sending and recording leaves the alert claimed, not resent (at most once).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from campaigns import audit
from campaigns.columns import as_utc, utcnow
from campaigns.config import secret
from campaigns.errors import BudgetPilotError, NotFoundError
from campaigns.lookup import Page, get_portfolio, paginate
from campaigns.models import AdAccount, Alert, BudgetShift, Portfolio, SpendCap, SyncRun
from campaigns.policy import AlertSettings, PacingSettings, WebhookSettings
from campaigns.reports.cache import Cache
from campaigns.reports.pacing import pacing_report
from campaigns.shifts.states import ShiftStatus
from connectors.redact import redact, redact_data

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Condition:
    kind: str
    condition_key: str
    message: str
    severity: str = "warning"
    scope: str = ""
    scope_key: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    portfolio_id: int | None = None  # whose tokens may see it (None: global tokens only)


# --- detection ---------------------------------------------------------------------------------


def pacing_conditions(
    session: Session, pacing: PacingSettings, settings: AlertSettings, *, as_of: dt.date,
    cache: Cache[Any] | None = None,
) -> list[Condition]:
    out: list[Condition] = []
    for portfolio in session.scalars(select(Portfolio).order_by(col(Portfolio.id))):
        try:
            report = pacing_report(session, portfolio=portfolio.name, settings=pacing,
                                   as_of=as_of, cache=cache)
        except BudgetPilotError as e:  # e.g. a missing FX rate: say so, do not stop
            log.warning("pacing of %s skipped: %s", portfolio.name, e)
            continue
        month = f"{report.month:%Y-%m}"
        for row in report.scopes:
            r = row.result
            where = f"{portfolio.name} {row.scope} {row.scope_key}".strip()
            details = {"month": month, "as_of": as_of.isoformat(), "planned": round(r.planned, 2),
                       "forecast": round(r.forecast, 2), "spend_to_date": round(r.spend_to_date, 2)}
            if r.status in ("over", "under"):
                kind = "plan_breach_forecast" if r.status == "over" else "pacing_under"
                out.append(Condition(
                    kind=kind, severity="critical" if r.status == "over" else "warning",
                    scope=row.scope, scope_key=row.scope_key, details=details,
                    portfolio_id=portfolio.id,
                    condition_key=f"{kind}:{portfolio.id}:{month}:{row.scope}:{row.scope_key}",
                    message=f"{where}: {month} forecast {r.forecast:,.2f} {report.currency} "
                    f"vs plan {r.planned:,.2f} ({r.status})",
                ))
        rates = {(x.scope, x.scope_key): x.result.run_rate for x in report.scopes}
        caps = session.scalars(select(SpendCap).where(
            col(SpendCap.portfolio_id) == portfolio.id, col(SpendCap.max_daily).is_not(None)
        ))
        for cap in caps:
            rate = rates.get((cap.scope, cap.scope_key))
            limit = float(cap.max_daily or 0) * (1 + settings.cap_tolerance)
            if rate is not None and rate > limit:
                out.append(Condition(
                    kind="cap_breach_forecast", severity="warning", scope=cap.scope,
                    scope_key=cap.scope_key, portfolio_id=cap.portfolio_id,
                    condition_key=f"cap_breach_forecast:{cap.id}:{cap.version}:{month}",
                    message=f"{cap.scope} {cap.scope_key}: run rate {rate:,.2f} a day is above "
                    f"its cap of {cap.max_daily} a day",
                    details={"run_rate": round(rate, 2), "max_daily": str(cap.max_daily)},
                ))
    return out


def sync_conditions(session: Session, settings: AlertSettings, now: dt.datetime) -> list[Condition]:
    out: list[Condition] = []
    latest = (
        select(func.max(col(SyncRun.id)))
        .where(col(SyncRun.status) != "running")
        .group_by(col(SyncRun.account_id), col(SyncRun.stream), col(SyncRun.source))
    )
    owners = dict(session.execute(select(col(AdAccount.id), col(AdAccount.portfolio_id))).all())
    for run in session.scalars(select(SyncRun).where(col(SyncRun.id).in_(latest))):
        if run.status == "failed":
            out.append(Condition(
                kind="sync_failed", severity="critical", scope="account",
                scope_key=str(run.account_id or ""), condition_key=f"sync_failed:{run.id}",
                message=f"sync {run.source or ''} {run.stream} of account {run.account_id} "
                f"failed: {(run.error or '')[:300]}",
                details={"sync_run_id": run.id}, portfolio_id=owners.get(run.account_id),
            ))
    stale_before = now - dt.timedelta(hours=settings.stale_sync_hours)
    last_ok = dict(session.execute(
        select(col(SyncRun.account_id), func.max(col(SyncRun.finished_at)))
        .where(col(SyncRun.status) == "succeeded", col(SyncRun.account_id).is_not(None))
        .group_by(col(SyncRun.account_id))
    ).all())
    for account in session.scalars(select(AdAccount).where(col(AdAccount.status) == "active")):
        if account.source == "" and account.id not in last_ok:
            continue  # CSV-imported accounts have no sync to go stale
        last = as_utc(last_ok.get(account.id))
        if last is None or last < stale_before:
            since = last.isoformat() if last else "never"
            out.append(Condition(
                kind="sync_stale", scope="account",
                scope_key=f"{account.network}:{account.external_id}",
                condition_key=f"sync_stale:{account.id}:{since}",
                portfolio_id=account.portfolio_id,
                message=f"account {account.network}:{account.external_id} has not synced "
                f"successfully since {since}",
            ))
    return out


def shift_conditions(
    session: Session, settings: AlertSettings, now: dt.datetime
) -> list[Condition]:
    waiting_since = now - dt.timedelta(hours=settings.approval_wait_hours)
    rows = session.scalars(select(BudgetShift).where(
        col(BudgetShift.status) == ShiftStatus.PROPOSED.value,
        col(BudgetShift.created_at) < waiting_since,
    ))
    return [Condition(
        kind="shift_waiting", scope="shift", scope_key=str(s.id),
        condition_key=f"shift_waiting:{s.id}", portfolio_id=s.portfolio_id,
        message=f"shift {s.id} has waited for approval since "
        f"{as_utc(s.created_at):%Y-%m-%d %H:%M} UTC",
    ) for s in rows]


def store(session: Session, conditions: Iterable[Condition]) -> list[Alert]:
    """Insert the conditions not stored yet; returns the new alerts."""
    conditions = list({c.condition_key: c for c in conditions}.values())
    if not conditions:
        return []
    keys = [c.condition_key for c in conditions]
    known: set[str] = set()
    for i in range(0, len(keys), 500):
        known.update(session.scalars(
            select(col(Alert.condition_key)).where(col(Alert.condition_key).in_(keys[i:i + 500]))
        ))
    created = []
    for c in conditions:
        if c.condition_key in known:
            continue
        alert = Alert(kind=c.kind, severity=c.severity, scope=c.scope, scope_key=c.scope_key,
                      condition_key=c.condition_key, message=redact(c.message),
                      details=redact_data(c.details),
                      portfolio_id=c.portfolio_id)
        try:
            with session.begin_nested():
                session.add(alert)
        except IntegrityError:  # another worker stored it a moment ago
            continue
        created.append(alert)
    return created


# --- reading and acknowledging -----------------------------------------------------------------


def list_alerts(session: Session, page: Page, *, kind: str | None = None,
                acknowledged: bool | None = None, portfolio: str | None = None,
                ) -> tuple[list[Alert], int]:
    """Newest first; ``portfolio`` keeps that portfolio's alerts and those of no portfolio (a
    sync of an account no portfolio holds yet concerns every one); an unknown name is a 404,
    as for plans. A token limited to portfolios only ever finds its own (campaigns.admin.access),
    so never one of no portfolio."""
    stmt = select(Alert).order_by(col(Alert.id).desc())
    if portfolio:
        owner = col(Alert.portfolio_id)
        stmt = stmt.where(or_(owner == get_portfolio(session, portfolio).id, owner.is_(None)))
    if kind:
        stmt = stmt.where(col(Alert.kind) == kind)
    if acknowledged is not None:
        acked = col(Alert.acknowledged_at)
        stmt = stmt.where(acked.is_not(None) if acknowledged else acked.is_(None))
    return paginate(session, stmt, page)


def get_alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFoundError(f"no alert with id {alert_id}")
    return alert


def acknowledge(session: Session, alert_id: int, *, actor: str) -> Alert:
    alert = get_alert(session, alert_id)
    if alert.acknowledged_at is None:
        alert.acknowledged_at, alert.acknowledged_by = utcnow(), actor
        session.flush()
        audit.record(session, actor=actor, action="alert.acknowledge", entity_type="alert",
                     entity_id=alert_id, after={"kind": alert.kind})
    return alert


# --- delivery ----------------------------------------------------------------------------------


def slack_payload(alert: Alert) -> dict[str, Any]:
    icon = ":rotating_light:" if alert.severity == "critical" else ":warning:"
    # Alerts quote failures (a sync error): the last check before text leaves for a webhook.
    return {"text": redact(f"{icon} budgetpilot {alert.kind}: {alert.message}")}


def _post(client: httpx.Client, url: str, payload: dict[str, Any], tries: int) -> str | None:
    """None when delivered, else the last error."""
    error = "not attempted"
    for attempt in range(tries):
        try:
            response = client.post(url, json=payload)
            if response.status_code < 300:
                return None
            error = f"HTTP {response.status_code}: {response.text[:200]}"
            if response.status_code < 500 and response.status_code != 429:
                return error  # the webhook refuses this payload; retrying will not help
        except httpx.HTTPError as e:
            error = f"{type(e).__name__}: {e}"[:300]
        if attempt + 1 < tries:
            time.sleep(min(0.2 * 2**attempt, 2.0))
    return error


def _claim(engine: Engine, alert: Alert) -> bool:
    with Session(engine) as s:
        result = s.execute(
            update(Alert)
            .where(col(Alert.id) == alert.id,
                   col(Alert.delivery_attempts) == alert.delivery_attempts,
                   col(Alert.delivered_at).is_(None))
            .values(delivery_attempts=col(Alert.delivery_attempts) + 1)
        )
        s.commit()
        return result.rowcount == 1  # type: ignore[attr-defined]


def deliver_pending(
    engine: Engine, settings: AlertSettings, client: httpx.Client,
    *, now: dt.datetime | None = None,
) -> tuple[list[int], list[int]]:
    """Send undelivered alerts to the webhooks; returns (delivered ids, failed ids)."""
    if not settings.webhooks:
        return [], []
    with Session(engine, expire_on_commit=False) as s:
        pending = list(s.scalars(
            select(Alert).where(
                col(Alert.delivered_at).is_(None), col(Alert.acknowledged_at).is_(None),
                col(Alert.delivery_attempts) < settings.max_delivery_attempts,
                # a claim without a recorded outcome may have been sent: never resend it
                (col(Alert.delivery_attempts) == 0) | col(Alert.last_delivery_error).is_not(None),
            ).order_by(col(Alert.id)).limit(500)
        ))
    delivered: list[int] = []
    failed: list[int] = []
    for alert in pending:
        if not _claim(engine, alert):
            continue
        done = set((alert.details or {}).get("delivered_to", []))
        errors = []
        for hook in _hooks_for(settings.webhooks, alert.kind):
            if hook.name in done:
                continue
            try:
                url = secret(hook.url_env, f"webhook {hook.name}")
            except BudgetPilotError as e:
                errors.append(f"{hook.name}: {e.message}")
                continue
            error = _post(client, url, slack_payload(alert), settings.retries_per_run)
            if error is None:
                done.add(hook.name)
            else:
                errors.append(f"{hook.name}: {error}")
        with Session(engine) as s:
            row = s.get(Alert, alert.id)
            assert row is not None
            row.details = {**(row.details or {}), "delivered_to": sorted(done)}
            # an HTTP error can quote the webhook's URL, itself a secret
            row.last_delivery_error = redact("; ".join(errors))[:1000] if errors else None
            if not errors:
                row.delivered_at = now or utcnow()
            s.commit()
        assert alert.id is not None  # read from the table
        (failed if errors else delivered).append(alert.id)
    return delivered, failed


def _hooks_for(hooks: list[WebhookSettings], kind: str) -> list[WebhookSettings]:
    return [h for h in hooks if not h.kinds or kind in h.kinds]


@dataclass(frozen=True)
class Evaluation:
    created: list[int]
    delivered: list[int]
    failed: list[int]


def evaluate(
    engine: Engine, pacing: PacingSettings, settings: AlertSettings, *,
    now: dt.datetime | None = None, as_of: dt.date | None = None,
    cache: Cache[Any] | None = None, client: httpx.Client | None = None,
) -> Evaluation:
    """The alert job: detect, store what is new (one unit of work), then deliver."""
    now = now or utcnow()
    as_of = as_of or (now.date() - dt.timedelta(days=1))
    with Session(engine, expire_on_commit=False) as s:
        conditions = [
            *pacing_conditions(s, pacing, settings, as_of=as_of, cache=cache),
            *sync_conditions(s, settings, now),
            *shift_conditions(s, settings, now),
        ]
        created = store(s, conditions)
        s.commit()
        created_ids = [a.id for a in created]
    own_client = client is None
    client = client or httpx.Client(timeout=settings.timeout_seconds)
    try:
        delivered, failed = deliver_pending(engine, settings, client, now=now)
    finally:
        if own_client:
            client.close()
    return Evaluation(created_ids, delivered, failed)  # type: ignore[arg-type]
