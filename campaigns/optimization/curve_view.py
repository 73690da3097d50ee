"""A campaign's fitted response curve as the campaign page draws it.

Runs store how sure each curve was (``CurveSummary``), not its parameters, so the curve is
fitted again the way the latest run of the campaign's portfolio fitted it: the same day
(``as_of``), conversion lag and nowcast, recency half-life and seed. Over the same stored
history that gives the run's curve; history re-synced since then moves it with the data.

A fit covers the whole portfolio (each curve borrows from its network's), and takes seconds,
so the fitted curves are kept (:data:`FITS`) under the run, its fitting options and a stamp of
the portfolio's stored campaigns, ad sets and metric days: viewing the campaign again, or
another campaign of the portfolio, reads them; a sync, an import or an applied budget changes
the stamp and the next view fits again. The cache is per process on purpose: the stamp is
the data version, read from the database on each view, so every process sees another's
writes at once; sharing fitted curves between processes would mean serialising them through
Redis to save a refit that each process does once per data version.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlmodel import Session, col

from campaigns.config import Settings
from campaigns.lookup import get
from campaigns.models import (
    AdAccount,
    AdSet,
    BudgetShift,
    Campaign,
    DailyMetric,
    OptimizationRun,
    Portfolio,
    ShiftItem,
)
from campaigns.optimization.curve_fits import fit_results
from campaigns.optimization.inputs import load_portfolio_data
from campaigns.optimization.nowcast import LagState, completion_frame, load_lag
from campaigns.optimization.proposals import HISTORY_DAYS
from campaigns.reports.cache import Cache
from optimizer.curves import CurveSet, response

POINTS = 41  # budgets drawn along the curve
BAND = (10.0, 90.0)  # percentiles of the posterior draws: an 80% band
OPEN_SHIFTS = ("proposed", "approved")


@dataclass(frozen=True)
class FittedUnit:
    """What the page needs of a fitted budget: plain values, kept beyond the session."""

    unit_id: str
    level: str
    target_external_id: str
    current_budget: float
    campaign_ids: tuple[int, ...]


# The portfolio's units and their (conversions, revenue) fits, by run, options and data stamp.
# An entry whose data changed is never looked up again (the stamp is in its key); an hour
# bounds how long one is kept, a handful of portfolios how many.
FITS: Cache[tuple[list[FittedUnit], tuple[CurveSet, CurveSet]]] = Cache(3600, maxsize=16)
# The portfolios' completion curves, by day and the same data stamp.
LAGS: Cache[LagState] = Cache(3600, maxsize=16)


@dataclass(frozen=True)
class CurvePoint:
    budget: float
    conversions: float
    conversions_low: float
    conversions_high: float
    revenue: float
    revenue_low: float
    revenue_high: float


@dataclass(frozen=True)
class ObservedDay:
    date: dt.date
    daily_budget: float | None
    spend: float
    conversions: float
    revenue: float
    complete: bool  # False: within the conversion lag, results still arriving
    # The expected share of the day's final conversions reported so far (1: complete), and
    # its uncertainty, from the account's learnt completion curve.
    reported: float = 1.0
    reported_sd: float = 0.0


@dataclass(frozen=True)
class UnitCurve:
    """One budget of the campaign (the campaign's own, or one per ad set)."""

    budget_id: str
    level: str
    status: str  # "identified": the data pinned the shape; "prior": it borrows its network's
    days: int
    current_budget: float
    proposed_budget: float | None  # this budget's newest open proposal
    points: list[CurvePoint]


@dataclass(frozen=True)
class CampaignCurve:
    campaign_id: int
    campaign_name: str
    currency: str
    run_id: str | None
    as_of: dt.date | None
    lag_days: int
    today: dt.date
    current_budget: float | None
    proposed_budget: float | None
    proposed_shift_id: int | None
    curves: list[UnitCurve] = field(default_factory=list)
    observed: list[ObservedDay] = field(default_factory=list)
    # The completion curve the account's recent days are read with (CompletionCurve.report).
    completion: dict[str, Any] | None = None


def latest_run(session: Session, portfolio_id: int) -> OptimizationRun | None:
    stmt = (select(OptimizationRun)
            .where(col(OptimizationRun.portfolio_id) == portfolio_id,
                   col(OptimizationRun.status) == "succeeded")
            .order_by(col(OptimizationRun.created_at).desc()).limit(1))
    return session.execute(stmt).scalars().first()


def latest_proposal(session: Session, campaign_id: int,
                    target: str | None = None) -> tuple[Decimal, int] | None:
    """The newest open proposal's budget for the campaign (or its budget ``target``: an ad
    set or a shared budget), with its shift's id."""
    stmt = (select(col(ShiftItem.new_budget), col(BudgetShift.id))
            .join(BudgetShift, col(BudgetShift.id) == col(ShiftItem.shift_id))
            .where(col(ShiftItem.campaign_id) == campaign_id,
                   col(BudgetShift.status).in_(OPEN_SHIFTS),
                   col(ShiftItem.status).in_(("pending", "approved")))
            .order_by(col(BudgetShift.created_at).desc(), col(ShiftItem.id).desc()).limit(1))
    if target is not None:
        stmt = stmt.where(col(ShiftItem.target_external_id) == target)
    row = session.execute(stmt).first()
    return None if row is None else (row[0], row[1])


def observed_days(session: Session, campaign_id: int, *, today: dt.date, lag_days: int,
                  days: int = HISTORY_DAYS, lag: LagState | None = None,
                  account_id: int | None = None) -> list[ObservedDay]:
    """The campaign's stored days; with ``lag``, how much of each is reported so far."""
    m = DailyMetric
    stmt = (select(m).where(col(m.campaign_id) == campaign_id,
                            col(m.date) >= today - dt.timedelta(days=days))
            .order_by(col(m.date)))
    rows = list(session.execute(stmt).scalars())
    share, sd = np.ones(len(rows)), np.zeros(len(rows))
    if lag is not None and account_id is not None and rows:
        share, sd = lag.completion(account_id, np.array([r.date for r in rows],
                                                        dtype="datetime64[D]"))
    return [ObservedDay(date=r.date, spend=float(r.spend), conversions=float(r.conversions),
                        revenue=float(r.revenue),
                        daily_budget=None if r.daily_budget is None else float(r.daily_budget),
                        complete=(today - r.date).days > lag_days and bool(share[k] >= 0.995),
                        reported=round(float(min(share[k], 1.0)), 4),
                        reported_sd=round(float(sd[k]), 4))
            for k, r in enumerate(rows)]


def _portfolio_lag(session: Session, portfolio_id: int, today: dt.date) -> LagState:
    """The portfolio's completion curves as of `today`, learnt again only when its metrics
    changed (observations are written with them)."""
    since = today - dt.timedelta(days=HISTORY_DAYS)
    key = (portfolio_id, today, portfolio_stamp(session, portfolio_id, since))

    def learn() -> LagState:
        accounts = session.scalars(
            select(AdAccount).where(col(AdAccount.portfolio_id) == portfolio_id)).all()
        return load_lag(session, accounts, today)

    return LAGS.get_or_compute(key, learn)


def _points(conv: CurveSet, rev: CurveSet, i: int, j: int, top: float) -> list[CurvePoint]:
    budgets = np.linspace(0.0, top, POINTS)
    out = []
    for curves, k, key in ((conv, i, "conversions"), (rev, j, "revenue")):
        mid = response(budgets, curves.gain[k], curves.half_spend[k])
        draws = response(budgets[:, None], curves.draws_gain[k][None, :],
                         curves.draws_half_spend[k][None, :])
        low, high = np.percentile(draws, BAND, axis=1)
        out.append((key, mid, np.minimum(low, mid), np.maximum(high, mid)))
    (_, c, cl, ch), (_, r, rl, rh) = out
    return [CurvePoint(round(float(b), 2), round(float(c[n]), 4), round(float(cl[n]), 4),
                       round(float(ch[n]), 4), round(float(r[n]), 2), round(float(rl[n]), 2),
                       round(float(rh[n]), 2)) for n, b in enumerate(budgets)]


def campaign_curve(session: Session, settings: Settings, campaign_id: int) -> CampaignCurve:
    campaign = get(session, Campaign, campaign_id, "campaign")
    account = get(session, AdAccount, campaign.account_id, "account")
    run = latest_run(session, account.portfolio_id)
    inputs = (run.inputs or {}) if run else {}
    lag_days = int(inputs.get("lag_days", settings.optimizer.lag_days))
    today = dt.datetime.now(dt.UTC).date()
    proposal = latest_proposal(session, campaign_id)
    lag = _portfolio_lag(session, account.portfolio_id, today)
    observed = observed_days(session, campaign_id, today=today, lag_days=lag_days, lag=lag,
                             account_id=account.id)
    base = CampaignCurve(
        campaign_id=campaign_id, campaign_name=campaign.name, currency=account.currency,
        run_id=run.id if run else None, lag_days=lag_days, today=today,
        as_of=dt.date.fromisoformat(inputs["as_of"]) if "as_of" in inputs else None,
        current_budget=None if campaign.daily_budget is None else float(campaign.daily_budget),
        proposed_budget=None if proposal is None else float(proposal[0]),
        proposed_shift_id=None if proposal is None else proposal[1], observed=observed,
        completion=lag.curves.curve(account.network, account.external_id).report(),
    )
    if run is None or base.as_of is None:
        return base
    return _with_curves(session, settings, base, run, account.portfolio_id)


def portfolio_stamp(session: Session, portfolio_id: int, since: dt.date) -> tuple[object, ...]:
    """Changes whenever the fit's inputs may: a metric day of the window written or changed,
    a campaign or ad set added or changed (budgets included). Indexed, small reads.

    Read from the database on every view, so the kept fit is right in every worker process:
    a process never answers from a fit whose inputs another process changed since (the fit
    is seeded, so two processes keep the same curves). The window's sums of what the fit
    reads are in it beside the latest ``updated_at``: a restated day written by a process
    whose clock is behind the newest row would not move that maximum."""
    accounts = select(col(AdAccount.id)).where(col(AdAccount.portfolio_id) == portfolio_id)
    metrics = session.execute(
        select(func.count(col(DailyMetric.id)), func.max(col(DailyMetric.updated_at)),
               func.sum(col(DailyMetric.spend)), func.sum(col(DailyMetric.conversions)),
               func.sum(col(DailyMetric.revenue)))
        .where(col(DailyMetric.account_id).in_(accounts), col(DailyMetric.date) >= since)).one()
    campaigns = session.execute(
        select(func.count(col(Campaign.id)), func.max(col(Campaign.updated_at)))
        .where(col(Campaign.account_id).in_(accounts))).one()
    adsets = session.execute(
        select(func.count(col(AdSet.id)), func.max(col(AdSet.updated_at)))
        .join(Campaign, col(Campaign.id) == col(AdSet.campaign_id))
        .where(col(Campaign.account_id).in_(accounts))).one()
    return (*metrics, *campaigns, *adsets)


def _with_curves(session: Session, settings: Settings, base: CampaignCurve,
                 run: OptimizationRun, portfolio_id: int) -> CampaignCurve:
    assert base.as_of is not None
    as_of = base.as_of
    seed = int(((run.inputs or {}).get("exploration") or {}).get("seed", settings.optimizer.seed))
    half_life = settings.optimizer.half_life_days
    nowcast = bool((run.inputs or {}).get("nowcast", False))
    key = (portfolio_id, run.id, as_of, base.lag_days, seed, half_life, nowcast,
           portfolio_stamp(session, portfolio_id, as_of - dt.timedelta(days=HISTORY_DAYS)))

    def fit() -> tuple[list[FittedUnit], tuple[CurveSet, CurveSet]]:
        portfolio = get(session, Portfolio, portfolio_id, "portfolio")
        data = load_portfolio_data(session, portfolio, today=as_of, days=HISTORY_DAYS)
        units = data.frame()
        completion = completion_frame(data.history, data.units,
                                      _portfolio_lag(session, portfolio_id, as_of),
                                      as_of) if nowcast else None
        # The proposal's own curves (the shape from the conversions and the clicks), so
        # the page draws the curve the budget was moved on.
        fitted = fit_results(data.history, units=units, today=as_of, lag_days=base.lag_days,
                             seed=seed, half_life_days=half_life, completion=completion)
        conv, rev = fitted["conversions"], fitted["revenue"]
        return [FittedUnit(u.unit_id, u.level, u.target_external_id, float(u.current_budget),
                           tuple(u.campaign_ids)) for u in data.units], (conv, rev)

    all_units, fits = FITS.get_or_compute(key, fit)
    mine = [u for u in all_units if base.campaign_id in u.campaign_ids]
    if not mine:
        return base
    spends = [d.spend for d in base.observed] + [float(u.current_budget) for u in mine]
    top = 2.0 * max([*spends, base.proposed_budget or 0.0, 1.0])
    curves = []
    for unit in mine:
        i, j = (int(f.index_of([unit.unit_id])[0]) for f in fits)
        proposal = latest_proposal(session, base.campaign_id, unit.target_external_id)
        curves.append(UnitCurve(
            budget_id=unit.target_external_id, level=unit.level,
            status="identified" if bool(fits[0].identified[i]) else "prior",
            days=int(fits[0].n_days[i]), current_budget=float(unit.current_budget),
            proposed_budget=None if proposal is None else float(proposal[0]),
            points=_points(fits[0], fits[1], i, j, top)))
    return CampaignCurve(**{**base.__dict__, "curves": curves})
