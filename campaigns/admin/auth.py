"""API tokens and roles.

A token is shown once, when it is created; only its SHA-256 is stored. Who may do what is
written down once, in :data:`PERMISSIONS`; the API declares the action of each endpoint and the
role matrix test walks every endpoint against every role.

A token may be limited to some portfolios (``ApiTokenPortfolio`` rows): its role applies there
only, and :mod:`campaigns.admin.access` hides every other portfolio's rows from its queries. A token
without rows is global; admin tokens are always global.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns import audit
from campaigns.admin.access import limit_session
from campaigns.columns import as_utc, utcnow
from campaigns.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    ValidationError,
)
from campaigns.lookup import get_portfolio
from campaigns.models import ApiToken, ApiTokenPortfolio, Portfolio

TOKEN_PREFIX = "bp_"
LAST_USED_RESOLUTION = timedelta(minutes=5)


class Role(StrEnum):
    viewer = "viewer"
    finance = "finance"
    manager = "manager"
    admin = "admin"
    service = "service"


class Action(StrEnum):
    read = "read"  # accounts, campaigns, metrics, plans, caps, pacing, shifts, alerts
    read_finance = "read_finance"
    read_audit = "read_audit"
    edit_plans = "edit_plans"
    edit_fx = "edit_fx"
    edit_caps = "edit_caps"
    decide_shifts = "decide_shifts"  # approve / reject
    apply_shifts = "apply_shifts"
    run_optimization = "run_optimization"
    acknowledge_alerts = "acknowledge_alerts"
    evaluate_alerts = "evaluate_alerts"
    manage_tokens = "manage_tokens"
    control_automation = "control_automation"  # pause / resume (the kill switch)


_ALL = frozenset(Role)
PERMISSIONS: dict[Action, frozenset[Role]] = {
    Action.read: _ALL,
    Action.read_finance: frozenset({Role.viewer, Role.finance, Role.manager, Role.admin}),
    Action.read_audit: frozenset({Role.finance, Role.manager, Role.admin}),
    Action.edit_plans: frozenset({Role.finance, Role.admin}),
    Action.edit_fx: frozenset({Role.finance, Role.admin, Role.service}),
    Action.edit_caps: frozenset({Role.manager, Role.admin}),
    Action.decide_shifts: frozenset({Role.manager, Role.admin}),
    Action.apply_shifts: frozenset({Role.service, Role.manager, Role.admin}),
    Action.run_optimization: frozenset({Role.service, Role.manager, Role.admin}),
    Action.acknowledge_alerts: frozenset({Role.finance, Role.manager, Role.admin}),
    Action.evaluate_alerts: frozenset({Role.service, Role.admin}),
    Action.manage_tokens: frozenset({Role.admin}),
    Action.control_automation: frozenset({Role.manager, Role.admin}),
}
# Actions on what all portfolios share (FX rates) or across all of them (an alert run delivers
# every portfolio's alerts): a token limited to portfolios may not take them.
GLOBAL_ACTIONS = frozenset({Action.edit_fx, Action.evaluate_alerts, Action.manage_tokens})


@dataclass(frozen=True)
class Principal:
    """Who is calling: a token's name and role (the nightly job is ``system``), and the
    portfolios it is limited to (None: all)."""

    name: str
    role: Role
    token_id: int | None = None
    portfolios: frozenset[int] | None = None

    def limit(self, session: Session) -> None:
        """Let ``session`` find only this caller's portfolios (:mod:`campaigns.admin.access`)."""
        limit_session(session, self.portfolios)

    def allowed(self, action: Action) -> bool:
        return self.role in PERMISSIONS[action] and (
            self.portfolios is None or action not in GLOBAL_ACTIONS)

    def require(self, action: Action) -> Principal:
        if not self.allowed(action):
            what = action.value.replace("_", " ")
            if self.role in PERMISSIONS[action]:
                raise PermissionDeniedError(
                    f"a token limited to portfolios may not {what} (it concerns every "
                    "portfolio); use a global token")
            roles = ", ".join(sorted(PERMISSIONS[action]))
            raise PermissionDeniedError(
                f"role {self.role.value!r} may not {what} (allowed: {roles})"
            )
        return self


SYSTEM = Principal(name="system", role=Role.service)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(session: Session, *, name: str, role: str, actor: str,
                 portfolios: list[str] | None = None) -> tuple[ApiToken, str]:
    """A new token, limited to the named ``portfolios`` when given (else global); returns the
    row and the secret, which is never shown again."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError("a token needs a name of 1 to 100 characters")
    try:
        role_ = Role(role)
    except ValueError:
        raise ValidationError(
            f"unknown role {role!r}; use one of {', '.join(r.value for r in Role)}"
        ) from None
    names = sorted({p.strip() for p in portfolios or []})
    if names and role_ is Role.admin:
        raise ValidationError("an admin token is global; it cannot be limited to portfolios")
    if len(names) > 100 or any(not n or len(n) > 100 for n in names):
        raise ValidationError("name 1 to 100 portfolios of 1 to 100 characters each")
    try:
        scope = [get_portfolio(session, n) for n in names]
    except NotFoundError as e:
        raise ValidationError(f"{e.message}; a token can only be limited to existing "
                              "portfolios") from None
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, role=role_.value, token_hash=hash_token(secret), prefix=secret[:10])
    session.add(row)
    session.flush()
    assert row.id is not None
    for p in scope:
        assert p.id is not None  # read from the table
        session.add(ApiTokenPortfolio(token_id=row.id, portfolio_id=p.id))
    session.flush()
    after: dict[str, object] = {"name": row.name, "role": row.role, "prefix": row.prefix}
    if names:
        after["portfolios"] = names
    audit.record(session, actor=actor, action="token.create", entity_type="token",
                 entity_id=row.id, after=after)
    return row, secret


def token_portfolios(session: Session, token_ids: list[int]) -> dict[int, list[str]]:
    """The portfolio names each scoped token is limited to (global tokens are absent)."""
    out: dict[int, list[str]] = {}
    if not token_ids:
        return out
    rows = session.execute(
        select(col(ApiTokenPortfolio.token_id), col(Portfolio.name))
        .join(Portfolio, col(Portfolio.id) == col(ApiTokenPortfolio.portfolio_id))
        .where(col(ApiTokenPortfolio.token_id).in_(token_ids))
        .order_by(col(Portfolio.name))
    )
    for token_id, name in rows:
        out.setdefault(token_id, []).append(name)
    return out


def list_tokens(session: Session, *, include_revoked: bool = False) -> list[ApiToken]:
    stmt = select(ApiToken).order_by(col(ApiToken.id))
    if not include_revoked:
        stmt = stmt.where(col(ApiToken.revoked_at).is_(None))
    return list(session.scalars(stmt))


def revoke_token(session: Session, *, token_id: int | None = None, name: str | None = None,
                 actor: str) -> list[ApiToken]:
    """Revoke by id or by name (every live token of that name)."""
    stmt = select(ApiToken).where(col(ApiToken.revoked_at).is_(None))
    if token_id is not None:
        stmt = stmt.where(col(ApiToken.id) == token_id)
    elif name is not None:
        stmt = stmt.where(col(ApiToken.name) == name)
    else:
        raise ValidationError("name a token to revoke (id or name)")
    rows = list(session.scalars(stmt))
    if not rows:
        raise NotFoundError(f"no live token {token_id if token_id is not None else name!r}")
    now = utcnow()
    for row in rows:
        row.revoked_at = now
        audit.record(
            session, actor=actor, action="token.revoke", entity_type="token", entity_id=row.id,
            before={"name": row.name, "role": row.role},
        )
    session.flush()
    return rows


def authenticate(session: Session, token: str | None) -> Principal:
    """The principal for a bearer token, or 401."""
    if not token:
        raise AuthenticationError("missing bearer token (Authorization: Bearer <token>)")
    row = session.scalars(
        select(ApiToken).where(col(ApiToken.token_hash) == hash_token(token.strip()))
    ).first()
    if row is None or row.revoked_at is not None:
        raise AuthenticationError("invalid or revoked token")
    now = utcnow()
    last = as_utc(row.last_used_at)
    if last is None or now - last > LAST_USED_RESOLUTION:
        row.last_used_at = now  # coarse, so reads do not write on every request
    try:
        role = Role(row.role)
    except ValueError:
        raise AuthenticationError(f"token has an unknown role {row.role!r}") from None
    scope = frozenset(session.scalars(
        select(col(ApiTokenPortfolio.portfolio_id)).where(col(ApiTokenPortfolio.token_id) == row.id)
    ))
    portfolios = scope if scope and role is not Role.admin else None
    return Principal(name=row.name, role=role, token_id=row.id, portfolios=portfolios)
