"""Load what the optimiser needs for one portfolio: decision units, history, caps, FX.

A decision unit is wherever the budget lives (DESIGN.md): a campaign with its own budget, a
Meta ad set with its own budget, or a Google budget shared by several campaigns. Metrics are
stored per campaign and roll up to the unit; a campaign with several ad-set budgets splits
its metrics across them in proportion to their current budgets (we have no per-ad-set
metrics yet).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from sqlalchemy import Float, String, cast, func, select, type_coerce
from sqlmodel import Session, col

from campaigns.admin.fx import FxTable
from campaigns.columns import as_utc
from campaigns.db import among, driver_rows
from campaigns.errors import ValidationError
from campaigns.models import AdAccount, AdSet, Campaign, DailyMetric, Portfolio, ShiftItem, SpendCap
from campaigns.scopes import account_key, campaign_key, validate_scope
from campaigns.shifts.states import ItemStatus
from optimizer import Limits, Lock, SpendLimit

HISTORY_CHUNK = 100_000  # metric rows read per round trip
# The history column of each social result, and the daily metric it is read from.
RESULT_COLUMNS = {"reach": "reach", "engagement": "engagements", "video_views": "video_views"}


@dataclass
class Unit:
    unit_id: str
    network: str
    account: AdAccount
    campaign: Campaign
    level: str
    target_external_id: str
    current_budget: Decimal
    adset_id: int | None = None
    campaign_ids: list[int] = field(default_factory=list)
    shares: dict[int, float] = field(default_factory=dict)
    fx: float = 1.0
    rate: Decimal = Decimal(1)  # the exact FX rate behind `fx`: unit currency -> reporting
    result_kind: str = "conversions"  # what the unit buys (a shared budget: its first campaign)


@dataclass(frozen=True)
class PortfolioData:
    portfolio: Portfolio
    units: list[Unit]
    history: pd.DataFrame
    caps: list[SpendCap]
    # Each unit's budget at the start of its account's day (the max change is measured
    # from it); None: the current budgets.
    base_budgets: list[Decimal] | None = None

    def frame(self) -> pd.DataFrame:
        """The optimiser's unit table (account ids are scope keys, so caps match)."""
        frame = pd.DataFrame(
            {
                "unit_id": [u.unit_id for u in self.units],
                "network": [u.network for u in self.units],
                "account_id": [account_key(u.account) for u in self.units],
                "current_budget": [float(u.current_budget) for u in self.units],
                "fx": [u.fx for u in self.units],
                "result_kind": [u.result_kind for u in self.units],
            }
        )
        if self.base_budgets is not None:
            frame["base_budget"] = [float(b) for b in self.base_budgets]
        return frame


def result_kind(campaign: Campaign, sales_result: str = "conversions") -> str:
    """What a campaign buys: a manager's setting, else what sync read from the platform; a
    campaign the platform runs for sales, leads or traffic counts ``sales_result``."""
    if campaign.result_kind_user:
        return campaign.result_kind_user
    kind = campaign.result_kind or "conversions"
    return sales_result if kind in ("conversions", "revenue") else kind


def load_portfolio_data(
    session: Session, portfolio: Portfolio, *, today: dt.date, days: int,
    sales_result: str = "conversions", results: bool = False,
) -> PortfolioData:
    """The portfolio's units, their history and caps. ``results``: the history also holds
    each social result (reach, engagement, video_views), NaN where not reported."""
    rows = session.execute(
        select(Campaign, AdAccount)
        .join(AdAccount, col(AdAccount.id) == col(Campaign.account_id))
        .where(col(AdAccount.portfolio_id) == portfolio.id, col(Campaign.status) == "active")
        .order_by(col(AdAccount.id), col(Campaign.id))
    ).all()
    units = _units(session, [(c, a) for c, a in rows])
    for unit in units:
        unit.result_kind = result_kind(unit.campaign, sales_result)
    extra = tuple(RESULT_COLUMNS) if results else ()
    history = _history(session, units, today - dt.timedelta(days=days), today, extra)
    caps = list(session.scalars(select(SpendCap).where(col(SpendCap.portfolio_id) == portfolio.id)))
    return PortfolioData(portfolio, units, history, caps)


def load_rates(session: Session, data: PortfolioData, today: dt.date) -> None:
    """Each unit's FX rate into the reporting currency on `today` (FxRateMissingError
    names a missing one)."""
    fx = FxTable.load(session, data.portfolio.reporting_currency,
                      {u.account.currency for u in data.units}, today, today)
    for unit in data.units:
        unit.rate = fx.rate(unit.account.currency, today)
        unit.fx = float(unit.rate)


def _units(session: Session, rows: list[tuple[Campaign, AdAccount]]) -> list[Unit]:
    units: list[Unit] = []
    shared: dict[tuple[int, str], Unit] = {}
    adset_campaigns = [c.id for c, _ in rows if c.budget_level == "adset"]
    adsets: dict[int, list[AdSet]] = {}
    if adset_campaigns:
        for adset in session.scalars(
            select(AdSet).where(among(col(AdSet.campaign_id), adset_campaigns),
                                col(AdSet.status) == "active")
        ):
            if adset.daily_budget is not None and adset.daily_budget > 0:
                adsets.setdefault(adset.campaign_id, []).append(adset)
    for campaign, account in rows:
        assert campaign.id is not None
        key = campaign_key(account, campaign)
        if campaign.budget_level == "adset":
            units.extend(_adset_units(campaign, account, key, adsets.get(campaign.id, [])))
            continue
        if campaign.daily_budget is None or campaign.daily_budget <= 0:
            continue  # lifetime budgets and paused budgets are not daily decisions
        if campaign.budget_level == "shared" and campaign.budget_external_id:
            group = (account.id or 0, campaign.budget_external_id)
            if group in shared:
                shared[group].campaign_ids.append(campaign.id)
                continue
            unit = Unit(
                unit_id=f"{account_key(account)}:shared:{campaign.budget_external_id}",
                network=account.network, account=account, campaign=campaign, level="shared",
                target_external_id=campaign.budget_external_id,
                current_budget=Decimal(campaign.daily_budget), campaign_ids=[campaign.id],
            )
            shared[group] = unit
            units.append(unit)
            continue
        units.append(
            Unit(
                unit_id=key, network=account.network, account=account, campaign=campaign,
                level="campaign",
                target_external_id=campaign.budget_external_id or campaign.external_id,
                current_budget=Decimal(campaign.daily_budget), campaign_ids=[campaign.id],
            )
        )
    return units


def _adset_units(
    campaign: Campaign, account: AdAccount, key: str, adsets: list[AdSet]
) -> list[Unit]:
    assert campaign.id is not None
    total = float(sum((a.daily_budget or Decimal(0)) for a in adsets)) or 1.0
    out = []
    for adset in adsets:
        budget = Decimal(adset.daily_budget or 0)
        unit_id = key if len(adsets) == 1 else f"{key}:adset:{adset.external_id}"
        out.append(
            Unit(
                unit_id=unit_id, network=account.network, account=account, campaign=campaign,
                level="adset", target_external_id=adset.external_id, current_budget=budget,
                adset_id=adset.id, campaign_ids=[campaign.id],
                shares={campaign.id: float(budget) / total},
            )
        )
    return out


def _history(
    session: Session, units: list[Unit], start: dt.date, end: dt.date, extra: tuple[str, ...] = ()
) -> pd.DataFrame:
    """Each unit's daily rows, split by share where a campaign feeds several units.

    Read with the driver's own cursor and turned into columns a chunk at a time: at 10,000
    campaigns x 97 days the ORM's rows took most of `optimize`'s run, and a tuple and three
    Decimals per row cost gigabytes at 50,000. Rows keep the database's order, and a
    campaign's units follow in the order they were built.
    """
    owners: dict[int, list[tuple[int, float]]] = {}
    for pos, unit in enumerate(units):
        for campaign_id in unit.campaign_ids:
            owners.setdefault(campaign_id, []).append((pos, unit.shares.get(campaign_id, 1.0)))
    # Clicks: hundreds a day where conversions are a few, they tell the curve's shape (how
    # fast delivery saturates) with far less noise (`fit_curves(..., shape_hint="clicks")`).
    values = ["spend", "conversions", "revenue", "clicks", *extra]
    columns = ["unit_id", "network", "date", *values]
    if not owners:
        return pd.DataFrame(columns=columns)
    metric = {"spend": "spend", "conversions": "conversions", "revenue": "revenue",
              "clicks": "clicks", **RESULT_COLUMNS}
    # SQLite's NUMERIC affinity already hands back numbers (a CAST costs a third of the
    # read at 900,000 rows); PostgreSQL's numeric would come back as Decimals.
    sqlite = session.get_bind().dialect.name == "sqlite"
    statement = (
        select(col(DailyMetric.campaign_id), type_coerce(col(DailyMetric.date), String),
               *(getattr(DailyMetric, metric[v]) if sqlite
                 else cast(getattr(DailyMetric, metric[v]), Float) for v in values))
        .where(among(col(DailyMetric.campaign_id), owners),
               col(DailyMetric.date) >= start, col(DailyMetric.date) < end)
    )
    # A social count the platform did not report is None: NaN in a float field, not 0.
    layout = np.dtype([("campaign", np.int64), ("date", object), *((v, float) for v in values)])
    chunks = [np.array(part, dtype=layout)
              for part in driver_rows(session, statement, HISTORY_CHUNK)]
    if not chunks:
        return pd.DataFrame(columns=columns)
    table = np.concatenate(chunks)
    del chunks
    cid = table["campaign"]
    day = _dates(table["date"])
    amount_v = [table[v] for v in values]
    # Campaign -> its run of (unit, share) in flat arrays, then one row per (metric, owner).
    keys = np.fromiter(owners, dtype=np.int64, count=len(owners))
    order = np.argsort(keys)
    counts = np.fromiter((len(v) for v in owners.values()), dtype=np.int64, count=len(keys))
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    flat_unit = np.fromiter((u for v in owners.values() for u, _ in v), dtype=np.int64)
    flat_share = np.fromiter((sh for v in owners.values() for _, sh in v), dtype=float)
    at = order[np.searchsorted(keys, cid, sorter=order)]
    n = counts[at]
    if np.all(n == 1):
        pick = starts[at]
    else:
        row = np.repeat(np.arange(len(cid)), n)
        first = np.repeat(np.cumsum(n) - n, n)
        pick = starts[at][row] + (np.arange(len(row)) - first)
        cid, day = cid[row], day[row]
        amount_v = [a[row] for a in amount_v]
    unit_pos = flat_unit[pick]
    share = flat_share[pick]
    del table, cid, at, n, pick  # 8 bytes a row each, while the frame is built
    unit_ids = np.array([u.unit_id for u in units], dtype=object)
    networks = np.array([u.network for u in units], dtype=object)
    return pd.DataFrame({
        "unit_id": unit_ids[unit_pos], "network": networks[unit_pos], "date": day,
        **{name: a * share for name, a in zip(values, amount_v, strict=True)},
    }, columns=columns, copy=False)  # the arrays are ours: no second copy of the history


def _dates(days: np.ndarray) -> np.ndarray:
    """Dates as datetime64, each distinct day parsed once (a few hundred, not a million)."""
    codes, distinct = pd.factorize(days)
    return pd.to_datetime(pd.Series(distinct, dtype=object)).to_numpy()[codes]


def limits_from_caps(
    data: PortfolioData, *, total_budget: float | None, max_change: float,
    target_cpa: float | None = None, min_roas: float | None = None,
) -> Limits:
    """SpendCap rows (reporting currency) as optimiser limits.

    Campaign caps apply to the campaign's unit, converted to the unit's currency; a campaign
    split into several ad-set budgets gets its lock on each, its min/max on none (they
    would need a group of their own).
    """
    by_campaign: dict[str, list[Unit]] = {}
    for unit in data.units:
        by_campaign.setdefault(campaign_key(unit.account, unit.campaign), []).append(unit)
    spend_limits: list[SpendLimit] = []
    locks: list[Lock] = []
    for cap in data.caps:
        low = float(cap.min_daily) if cap.min_daily is not None else None
        high = float(cap.max_daily) if cap.max_daily is not None else None
        if cap.scope in ("network", "account"):
            scope: Literal["network", "account"] = (
                "network" if cap.scope == "network" else "account")
            spend_limits.append(SpendLimit(scope, cap.scope_key, low, high, cap.max_change))
            if cap.locked:
                locks.append(Lock(scope, cap.scope_key))
            continue
        if cap.scope != "campaign":
            continue
        members = by_campaign.get(cap.scope_key, [])
        for unit in members:
            if cap.locked:
                locks.append(Lock("unit", unit.unit_id))
            if len(members) == 1:
                spend_limits.append(SpendLimit(
                    "unit", unit.unit_id,
                    None if low is None else low / unit.fx,
                    None if high is None else high / unit.fx,
                    cap.max_change,
                ))
    return Limits(
        total_budget=total_budget, max_change=max_change, spend_limits=tuple(spend_limits),
        locks=tuple(locks), target_cpa=target_cpa, min_roas=min_roas,
    )


def check_cap_keys(session: Session, data: PortfolioData) -> None:
    """Refuse to plan under a stored cap whose key matches nothing in the portfolio (one
    saved before keys were checked): it would silently not apply."""
    assert data.portfolio.id is not None
    for cap in data.caps:
        try:
            validate_scope(session, data.portfolio.id, cap.scope, cap.scope_key)
        except ValidationError as e:
            raise ValidationError(
                f"cap {cap.id} ({cap.scope} {cap.scope_key!r}) applies to nothing: {e.message}; "
                f"update or delete it (DELETE /api/v1/caps/{cap.id})"
            ) from None


def newest_history_day(session: Session, data: PortfolioData, *, before: dt.date) -> dt.date | None:
    """The newest stored metric day of the portfolio's units before `before`."""
    ids = [cid for unit in data.units for cid in unit.campaign_ids]
    if not ids:
        return None
    return session.scalar(
        select(func.max(col(DailyMetric.date))).where(
            among(col(DailyMetric.campaign_id), ids), col(DailyMetric.date) < before
        )
    )


def day_start_budgets(session: Session, units: list[Unit], now: dt.datetime) -> list[Decimal]:
    """Each unit's budget when its account's local day began.

    The max change is a per-day step: budgets our shifts changed earlier today are measured
    from the budget before the day's first applied change (that item's old budget), so runs
    repeated on one day never compound. Untouched units start the day at their current budget.
    """
    day_start: dict[int, dt.datetime] = {}
    for unit in units:
        account = unit.account
        if account.id is not None and account.id not in day_start:
            local = now.astimezone(_zone(account.timezone))
            midnight = dt.datetime.combine(local.date(), dt.time(0), tzinfo=local.tzinfo)
            day_start[account.id] = midnight.astimezone(dt.UTC)
    if not day_start:
        return [u.current_budget for u in units]
    campaign_account = {cid: u.account.id for u in units for cid in u.campaign_ids}
    rows = session.execute(
        select(col(ShiftItem.campaign_id), col(ShiftItem.adset_id), col(ShiftItem.level),
               col(ShiftItem.target_external_id), col(ShiftItem.old_budget),
               col(ShiftItem.applied_at))
        .where(col(ShiftItem.status) == ItemStatus.APPLIED.value,
               col(ShiftItem.applied_at) >= min(day_start.values()),
               among(col(ShiftItem.campaign_id), campaign_account))
        .order_by(col(ShiftItem.applied_at), col(ShiftItem.id))
    ).all()
    first: dict[tuple[int, int | None, str, str], Decimal] = {}
    for campaign_id, adset_id, level, target, old_budget, applied_at in rows:
        account_id = campaign_account.get(campaign_id)
        at = as_utc(applied_at)
        if account_id is None or at is None or at < day_start[account_id]:
            continue  # applied before this account's local day began
        first.setdefault((campaign_id, adset_id, level, target), Decimal(old_budget))
    return [
        first.get((u.campaign.id or 0, u.adset_id, u.level, u.target_external_id),
                  u.current_budget)
        for u in units
    ]


def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return dt.UTC
