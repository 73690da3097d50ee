"""Spend caps the optimiser respects (reporting currency); every change is audited."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns import audit
from campaigns.columns import utcnow
from campaigns.concurrency import versioned_update
from campaigns.errors import ConflictError, NotFoundError, ValidationError
from campaigns.lookup import Page, get_portfolio, paginate
from campaigns.models import SpendCap
from campaigns.scopes import validate_scope


def _snapshot(cap: SpendCap) -> dict[str, object]:
    return {"scope": cap.scope, "scope_key": cap.scope_key, "min_daily": cap.min_daily,
            "max_daily": cap.max_daily, "max_change": cap.max_change, "locked": cap.locked,
            "version": cap.version}


def _check_limits(min_daily: Decimal | None, max_daily: Decimal | None) -> None:
    if min_daily is not None and max_daily is not None and min_daily > max_daily:
        raise ValidationError(f"min_daily {min_daily} is above max_daily {max_daily}")


def list_caps(
    session: Session, page: Page, *, portfolio: str | None = None, scope: str | None = None
) -> tuple[list[SpendCap], int]:
    stmt = select(SpendCap).order_by(col(SpendCap.scope), col(SpendCap.scope_key))
    if portfolio:
        stmt = stmt.where(col(SpendCap.portfolio_id) == get_portfolio(session, portfolio).id)
    if scope:
        stmt = stmt.where(col(SpendCap.scope) == scope)
    return paginate(session, stmt, page)


def get_cap(session: Session, cap_id: int) -> SpendCap:
    cap = session.get(SpendCap, cap_id)
    if cap is None:
        raise NotFoundError(f"no cap with id {cap_id}")
    return cap


def create_cap(
    session: Session, *, portfolio: str, scope: str, scope_key: str, min_daily: Decimal | None,
    max_daily: Decimal | None, max_change: float | None, locked: bool, actor: str,
) -> SpendCap:
    p = get_portfolio(session, portfolio)
    assert p.id is not None
    _check_limits(min_daily, max_daily)
    key = validate_scope(session, p.id, scope, scope_key)
    exists = session.scalars(select(col(SpendCap.id)).where(
        col(SpendCap.portfolio_id) == p.id, col(SpendCap.scope) == scope,
        col(SpendCap.scope_key) == key,
    )).first()
    if exists is not None:
        raise ConflictError(f"a cap for {scope} {key!r} exists (id {exists}); update it instead")
    cap = SpendCap(portfolio_id=p.id, scope=scope, scope_key=key, min_daily=min_daily,
                   max_daily=max_daily, max_change=max_change, locked=locked)
    session.add(cap)
    session.flush()
    audit.record(session, actor=actor, action="cap.create", entity_type="cap",
                 entity_id=cap.id, after=_snapshot(cap))
    return cap


def update_cap(
    session: Session, cap_id: int, *, version: int, min_daily: Decimal | None,
    max_daily: Decimal | None, max_change: float | None, locked: bool, actor: str,
) -> SpendCap:
    _check_limits(min_daily, max_daily)
    before = _snapshot(get_cap(session, cap_id))
    cap = versioned_update(
        session, SpendCap, cap_id, version,
        {"min_daily": min_daily, "max_daily": max_daily, "max_change": max_change,
         "locked": locked, "updated_at": utcnow()},
        what="cap",
    )
    audit.record(session, actor=actor, action="cap.update", entity_type="cap",
                 entity_id=cap_id, before=before, after=_snapshot(cap))
    return cap


def delete_cap(session: Session, cap_id: int, *, version: int | None, actor: str) -> None:
    cap = get_cap(session, cap_id)
    if version is not None and version != cap.version:
        raise ConflictError(f"cap {cap_id} is at version {cap.version}, not {version}")
    audit.record(session, actor=actor, action="cap.delete", entity_type="cap",
                 entity_id=cap_id, before=_snapshot(cap))
    session.delete(cap)
    session.flush()
