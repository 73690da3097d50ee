"""Guardrails around automation: the ``[automation]`` settings and the kill switch.

The kill switch pauses automation globally, for one portfolio or for one account. While a
scope is paused the nightly job leaves it alone: a paused portfolio (or everything, under a
global pause) is skipped with the reason, and a paused account's items are neither
auto-approved nor applied by automation. People may still approve and apply by hand. The
state lives in the database (``AutomationPause``), so every worker and every cron run sees a
pause at once; each pause and resume is audited with who and why.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns import audit
from campaigns.admin.access import session_portfolios
from campaigns.columns import as_utc, utcnow
from campaigns.config import Settings
from campaigns.errors import NotFoundError, PermissionDeniedError, ValidationError
from campaigns.lookup import get_portfolio
from campaigns.models import AdAccount, AutomationPause, Portfolio
from campaigns.policy import DEFAULT_OVERDELIVERY, AutomationSettings
from campaigns.scopes import account_key

SCOPES = ("global", "portfolio", "account")
__all__ = ["DEFAULT_OVERDELIVERY", "AutomationSettings", "automation_settings"]


def automation_settings(settings: Settings) -> AutomationSettings:
    """``[automation]``, validated with the rest of the config when it was loaded."""
    return settings.automation


@dataclass(frozen=True)
class Pause:
    scope: str
    scope_key: str
    reason: str
    paused_by: str
    paused_at: dt.datetime | None

    @property
    def where(self) -> str:
        return "all automation" if self.scope == "global" else f"{self.scope} {self.scope_key}"


@dataclass(frozen=True)
class PauseState:
    """Every pause in force, read once per decision."""

    pauses: list[Pause] = field(default_factory=list)

    def _find(self, scope: str, key: str) -> Pause | None:
        return next((p for p in self.pauses if p.scope == scope and p.scope_key == key), None)

    def portfolio_pause(self, portfolio: str) -> Pause | None:
        """The pause that stops a whole portfolio: a global one, else its own."""
        return self._find("global", "") or self._find("portfolio", portfolio)

    def account_pause(self, key: str) -> Pause | None:
        """The pause of one account (``network:external_id``)."""
        return self._find("account", key)

    @property
    def paused_accounts(self) -> set[str]:
        return {p.scope_key for p in self.pauses if p.scope == "account"}


def _public(row: AutomationPause) -> Pause:
    return Pause(row.scope, row.scope_key, row.reason, row.paused_by, as_utc(row.paused_at))


def pause_state(session: Session) -> PauseState:
    rows = list(session.scalars(
        select(AutomationPause).order_by(col(AutomationPause.scope), col(AutomationPause.scope_key))
    ))
    if session_portfolios(session) is not None:
        # A token limited to portfolios sees the global pause and its own scopes' pauses;
        # its session only finds its own portfolios and accounts.
        visible = {("portfolio", p) for p in session.scalars(select(col(Portfolio.name)))}
        visible |= {("account", account_key(a)) for a in session.scalars(select(AdAccount))}
        rows = [r for r in rows if r.scope == "global" or (r.scope, r.scope_key) in visible]
    return PauseState([_public(r) for r in rows])


def resolve_scope(
    session: Session, *, portfolio: str | None = None, account: str | None = None
) -> tuple[str, str]:
    """(scope, key) for the options a user gave: neither (global), a portfolio or an account.

    An account is ``network:external_id`` or its external id alone when that is unique.
    """
    if portfolio and account:
        raise ValidationError("name a portfolio or an account, not both")
    if not portfolio and not account and session_portfolios(session) is not None:
        # A brand's token may stop its own automation, never every other brand's.
        raise PermissionDeniedError(
            "a token limited to portfolios cannot pause or resume all automation; name one of "
            "its portfolios or accounts"
        )
    if portfolio:
        return "portfolio", get_portfolio(session, portfolio.strip()).name
    if account:
        return "account", _account_key(session, account.strip())
    return "global", ""


def _account_key(session: Session, given: str) -> str:
    if ":" in given:
        network, _, external_id = given.partition(":")
        rows = list(session.scalars(select(AdAccount).where(
            col(AdAccount.network) == network, col(AdAccount.external_id) == external_id)))
    else:
        rows = list(session.scalars(select(AdAccount).where(col(AdAccount.external_id) == given)))
    if not rows:
        raise NotFoundError(f"no account {given!r} (give network:external_id, e.g. meta:act_1)")
    if len(rows) > 1:
        keys = ", ".join(sorted(account_key(a) for a in rows))
        raise ValidationError(f"account {given!r} is ambiguous: {keys}; give network:id")
    return account_key(rows[0])


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationError("say why (--reason / \"reason\"): it goes to the audit log")
    if len(text) > 1000:
        raise ValidationError("a reason of at most 1000 characters")
    return text


def pause(
    session: Session, *, actor: str, reason: str | None, portfolio: str | None = None,
    account: str | None = None,
) -> Pause:
    """Pause automation for a scope (pausing it again replaces the reason)."""
    text = _reason(reason)
    scope, key = resolve_scope(session, portfolio=portfolio, account=account)
    row = session.scalars(select(AutomationPause).where(
        col(AutomationPause.scope) == scope, col(AutomationPause.scope_key) == key)).first()
    before = None
    if row is None:
        row = AutomationPause(scope=scope, scope_key=key, reason=text, paused_by=actor)
    else:
        before = {"reason": row.reason, "paused_by": row.paused_by}
        row.reason, row.paused_by, row.paused_at = text, actor, utcnow()
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="automation.pause", entity_type="automation",
                 entity_id=f"{scope}:{key}", before=before,
                 after={"scope": scope, "scope_key": key, "reason": text})
    return _public(row)


def resume(
    session: Session, *, actor: str, reason: str | None, portfolio: str | None = None,
    account: str | None = None,
) -> Pause | None:
    """Lift a scope's pause; returns the pause lifted, or None when it was not paused."""
    text = _reason(reason)
    scope, key = resolve_scope(session, portfolio=portfolio, account=account)
    row = session.scalars(select(AutomationPause).where(
        col(AutomationPause.scope) == scope, col(AutomationPause.scope_key) == key)).first()
    if row is None:
        return None
    lifted = _public(row)
    session.delete(row)
    session.flush()
    audit.record(session, actor=actor, action="automation.resume", entity_type="automation",
                 entity_id=f"{scope}:{key}",
                 before={"reason": lifted.reason, "paused_by": lifted.paused_by},
                 after={"scope": scope, "scope_key": key, "reason": text})
    return lifted
