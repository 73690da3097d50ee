"""Budgets held for a rule rather than by a manager: too many edits this week, or a Meta ad
set still in its learning phase.

Both come from the database: the edits are our applied shift items (a rollback is an edit
too), counted over the 7 days before the run's clock; the learning stage is what the last
sync read from Meta's `learning_stage_info`. Each hold is a unit lock that says why, so the
allocation plans around it like around a manager's lock, and the unit's reason reads
`held: 3 edits in the last 7 days (limit 3)` or `held: in Meta's learning phase`.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.columns import as_utc
from campaigns.config import OptimizerSettings
from campaigns.models import AdSet, ShiftItem
from campaigns.optimization.inputs import PortfolioData, Unit
from campaigns.scopes import campaign_key
from campaigns.shifts.states import ItemStatus
from optimizer import Lock

EDIT_WINDOW = dt.timedelta(days=7)
LEARNING = "LEARNING"
LEARNING_REASON = "in Meta's learning phase"

_Key = tuple[int, int | None, str, str]


def rule_holds(
    session: Session, data: PortfolioData, options: OptimizerSettings, now: dt.datetime
) -> tuple[Lock, ...]:
    """The units to hold at their current budget under `options`, as of `now`."""
    locks: list[Lock] = []
    limit = options.max_edits_per_week
    if limit is not None:
        counts = recent_edits(session, data.units, now)
        for unit in data.units:
            n = counts.get(_key(unit), 0)
            if n >= limit:
                locks.append(Lock("unit", unit.unit_id, limit="edits_per_week",
                                  reason=f"{n} edits in the last 7 days (limit {limit})"))
    if options.hold_learning:
        allowed = set(options.move_in_learning)
        for unit in learning_units(session, data.units):
            if campaign_key(unit.account, unit.campaign) not in allowed:
                locks.append(Lock("unit", unit.unit_id, limit="learning_phase",
                                  reason=LEARNING_REASON))
    return tuple(locks)


def recent_edits(session: Session, units: list[Unit], now: dt.datetime) -> dict[_Key, int]:
    """Applied edits per budget in the 7 days up to `now` (later ones are not yet made)."""
    since = now - EDIT_WINDOW
    rows = session.execute(
        select(col(ShiftItem.campaign_id), col(ShiftItem.adset_id), col(ShiftItem.level),
               col(ShiftItem.target_external_id), col(ShiftItem.applied_at))
        .where(col(ShiftItem.status) == ItemStatus.APPLIED.value,
               col(ShiftItem.applied_at) > since)
    ).all()
    wanted = {_key(u) for u in units}
    counts: dict[_Key, int] = {}
    for campaign_id, adset_id, level, target, applied_at in rows:
        at = as_utc(applied_at)
        key = (campaign_id, adset_id, level, target)
        if at is not None and since < at <= now and key in wanted:
            counts[key] = counts.get(key, 0) + 1
    return counts


def learning_units(session: Session, units: list[Unit]) -> list[Unit]:
    """Units whose ad set is in Meta's learning phase; a campaign budget (Advantage
    campaign budget) is, when one of its active ad sets is: its edits reach them all."""
    rows = session.execute(
        select(col(AdSet.id), col(AdSet.campaign_id))
        .where(col(AdSet.learning_stage) == LEARNING, col(AdSet.status) == "active")
    ).all()
    adsets = {adset_id for adset_id, _ in rows}
    campaigns = {campaign_id for _, campaign_id in rows}
    return [
        u for u in units
        if (u.adset_id in adsets if u.level == "adset"
            else u.network == "meta" and u.campaign.id in campaigns)
    ]


def _key(unit: Unit) -> _Key:
    return (unit.campaign.id or 0, unit.adset_id, unit.level, unit.target_external_id)
