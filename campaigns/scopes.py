"""Scope keys shared by plans, caps, pacing and finance.

``total`` → ``""``; ``network`` → ``"meta"``; ``account`` → ``"meta:act_1"``
(network:external_id, as in the config's portfolio accounts); ``campaign`` →
``"meta:act_1:123"`` (network:account external id:campaign external id).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.db import among
from campaigns.errors import ValidationError
from campaigns.models import AdAccount, Campaign

SCOPES = ("total", "network", "account", "campaign")


def account_key(account: AdAccount) -> str:
    return f"{account.network}:{account.external_id}"


def campaign_key(account: AdAccount, campaign: Campaign) -> str:
    return f"{account.network}:{account.external_id}:{campaign.external_id}"


@dataclass(frozen=True)
class ScopeOption:
    """A scope a plan, cap or lock may name, as a picker offers it."""

    scope: str  # network | account | campaign
    key: str
    name: str
    network: str
    account_key: str | None = None  # an account's or campaign's account
    account_name: str | None = None
    status: str | None = None  # an account's or campaign's platform status


def list_scopes(session: Session, portfolio_id: int, scope: str | None = None) -> list[ScopeOption]:
    """The networks, accounts and campaigns of a portfolio, with their names, in that order
    (networks by key, accounts by network and name, campaigns by account and name): every
    key :func:`validate_scope` accepts, so a picker never offers one it would refuse."""
    accounts = list(session.scalars(
        select(AdAccount).where(col(AdAccount.portfolio_id) == portfolio_id)
        .order_by(col(AdAccount.network), col(AdAccount.name), col(AdAccount.external_id))))
    out: list[ScopeOption] = []
    if scope in (None, "network"):
        out += [ScopeOption("network", n, n, n) for n in sorted({a.network for a in accounts})]
    if scope in (None, "account"):
        out += [ScopeOption("account", account_key(a), a.name or a.external_id, a.network,
                            account_key(a), a.name or a.external_id, a.status) for a in accounts]
    if scope in (None, "campaign") and accounts:
        by_id = {a.id: a for a in accounts}
        rows = session.scalars(select(Campaign).where(among(col(Campaign.account_id), by_id)))
        found = sorted(((by_id[c.account_id], c) for c in rows),
                       key=lambda ac: (ac[0].network, ac[0].name, ac[0].external_id,
                                       ac[1].name, ac[1].external_id))
        out += [ScopeOption("campaign", campaign_key(a, c), c.name or c.external_id, a.network,
                            account_key(a), a.name or a.external_id, c.status)
                for a, c in found]
    return out


def validate_scope(session: Session, portfolio_id: int, scope: str, key: str) -> str:
    """The normalised key, or a 422 naming what is wrong."""
    key = key.strip()
    if scope not in SCOPES:
        raise ValidationError(f"unknown scope {scope!r}; use one of {', '.join(SCOPES)}")
    if scope == "total":
        if key:
            raise ValidationError("a total scope takes no scope_key")
        return ""
    parts = key.split(":")
    want = {"network": 1, "account": 2, "campaign": 3}[scope]
    if len(parts) != want or not all(parts):
        shapes = {"network": "meta", "account": "meta:act_1", "campaign": "meta:act_1:123"}
        raise ValidationError(f"a {scope} scope_key looks like {shapes[scope]!r}, got {key!r}")
    if scope == "network":
        networks = sorted(set(session.scalars(
            select(col(AdAccount.network)).where(col(AdAccount.portfolio_id) == portfolio_id)
        )))
        if key not in networks:
            # A key that matches nothing would be stored and silently never apply.
            raise ValidationError(
                f"no network {key!r} in this portfolio; use one of: {_names(networks)}"
            )
        return key
    account = session.scalars(
        select(AdAccount).where(
            col(AdAccount.network) == parts[0], col(AdAccount.external_id) == parts[1],
            col(AdAccount.portfolio_id) == portfolio_id,
        )
    ).first()
    if account is None:
        known = session.execute(
            select(col(AdAccount.network), col(AdAccount.external_id))
            .where(col(AdAccount.portfolio_id) == portfolio_id)
            .order_by(col(AdAccount.network), col(AdAccount.external_id))
        ).all()
        raise ValidationError(
            f"no account {parts[0]}:{parts[1]} in this portfolio; use one of: "
            f"{_names([f'{n}:{e}' for n, e in known])}"
        )
    if scope == "campaign":
        found = session.scalars(
            select(col(Campaign.id)).where(
                col(Campaign.account_id) == account.id, col(Campaign.external_id) == parts[2]
            )
        ).first()
        if found is None:
            raise ValidationError(f"no campaign {key} in this portfolio")
    return key


def _names(keys: list[str], limit: int = 20) -> str:
    if not keys:
        return "none yet (sync the portfolio's accounts first)"
    shown = ", ".join(keys[:limit])
    return shown if len(keys) <= limit else f"{shown} and {len(keys) - limit} more"
