"""The KPIs of any report's scopes, built from units a platform's period reach can answer.

A *unit* is one account (or one campaign) over one period: its counts are sums of its days,
and its reach is the platform's own figure for that period when the sync stored one that
covers every day the unit reported reach (``PeriodReach``), else the sum of its daily reach.
A scope (an account-month, a network, the portfolio) combines units: counts add up, rates are
computed from the sums, and reach is *estimated* unless it is one unit's period figure —
people reached by two accounts, two campaigns or two months may be the same people.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.admin.fx import FxTable
from campaigns.models import AccountDay, AdAccount, Campaign, DailyMetric, PeriodReach
from campaigns.reports.csv_export import Cell, Money
from campaigns.reports.kpi_math import SOCIAL, Rates, Totals, add, rates

VALUES = ("spend", "impressions", "clicks", "conversions", "revenue", *SOCIAL)
_REACH = SOCIAL.index("reach")
# a unit's totals (reach as shown) and whether that reach is a sum (None: not reported)
UnitKpis = tuple[Totals, bool | None]


@dataclass(frozen=True)
class ScopeKpis:
    """A scope's totals (``reach`` as shown), their rates and how reach was obtained:
    ``reach_estimated`` is False for a platform's period figure, True for a sum (of days,
    campaigns or accounts), None when no platform reported reach."""

    totals: Totals
    rates: Rates
    reach_estimated: bool | None


@dataclass
class _Unit:
    account_id: int
    campaign_id: int | None
    start: dt.date  # the period asked for
    end: dt.date
    totals: Totals = field(default_factory=Totals)
    first: dt.date | None = None  # the first and last day that reported reach
    last: dt.date | None = None


class Units:
    """Units by key, filled day by day, then resolved against the stored period reach."""

    def __init__(self) -> None:
        self._units: dict[Hashable, _Unit] = {}

    def add(self, key: Hashable, *, account_id: int, campaign_id: int | None,
            period: tuple[dt.date, dt.date], day: dt.date, totals: Totals) -> None:
        u = self._units.get(key)
        if u is None:
            u = self._units[key] = _Unit(account_id, campaign_id, *period)
        u.totals = add(u.totals, totals)
        if totals.reach is not None:
            u.first = day if u.first is None or day < u.first else u.first
            u.last = day if u.last is None or day > u.last else u.last

    def keys(self) -> Iterable[Hashable]:
        return self._units.keys()

    def resolve(self, session: Session) -> dict[Hashable, UnitKpis]:
        """Each unit's totals with its reach as shown, and whether that reach is a sum."""
        found = _period_reach(session, self._units.values())
        out: dict[Hashable, UnitKpis] = {}
        for key, u in self._units.items():
            figure = found.get(id(u))
            if figure is None:
                out[key] = (u.totals, None if u.totals.reach is None else True)
                continue
            # frequency over the same people: the impressions of the unit's period
            basis = list(u.totals.reported_impressions)
            basis[_REACH] = u.totals.impressions
            out[key] = (replace(u.totals, reach=figure, reported_impressions=tuple(basis)),
                        False)
        return out


def combine(parts: Iterable[UnitKpis]) -> ScopeKpis:
    """A scope from its units: reach is a period figure only when exactly one unit
    reported reach and it has one."""
    total = Totals()
    reporting: list[bool] = []
    for t, estimated in parts:
        total = add(total, t)
        if estimated is not None:
            reporting.append(estimated)
    if not reporting:
        flag: bool | None = None
    else:
        flag = len(reporting) > 1 or reporting[0]
    return ScopeKpis(total, rates(total), flag)


def _period_reach(session: Session, units: Iterable[_Unit]) -> dict[int, int]:
    """id(unit) → the stored period reach covering all its days with reach, if any."""
    wanted = [u for u in units if u.first is not None and u.last is not None]
    if not wanted:
        return {}
    lo, hi = min(u.start for u in wanted), max(u.end for u in wanted)
    account_ids = sorted({u.account_id for u in wanted})
    rows: dict[tuple[int, int | None], list[PeriodReach]] = {}
    for r in session.scalars(select(PeriodReach).where(
            col(PeriodReach.account_id).in_(account_ids), col(PeriodReach.start) >= lo,
            col(PeriodReach.end) <= hi)):
        rows.setdefault((r.account_id, r.campaign_id), []).append(r)
    out: dict[int, int] = {}
    for u in wanted:
        assert u.first is not None and u.last is not None
        fits = [r for r in rows.get((u.account_id, u.campaign_id), [])
                if u.start <= r.start <= u.first and u.last <= r.end <= u.end]
        if fits:  # the widest period inside the report's, then the latest fetched
            best = max(fits, key=lambda r: (r.end - r.start, r.fetched_at))
            out[id(u)] = best.reach
    return out


def day_totals(values: dict[str, Any], rate: Decimal) -> Totals:
    """One stored row's totals, money converted with the day's rate."""
    return Totals.day(
        spend=Decimal(values["spend"] or 0) * rate,
        impressions=int(values["impressions"] or 0), clicks=int(values["clicks"] or 0),
        conversions=Decimal(values["conversions"] or 0),
        revenue=Decimal(values["revenue"] or 0) * rate,
        **{n: None if values[n] is None else int(values[n]) for n in SOCIAL},
    )


def account_days(
    session: Session, account_ids: list[int], start: dt.date, end: dt.date
) -> Iterator[tuple[int, dt.date, dict[str, Any]]]:
    """(account id, day, values) of the store's per-account day totals: no sum over
    millions of campaign rows per request."""
    if not account_ids or end < start:
        return
    d = AccountDay
    stmt = select(col(d.account_id), col(d.date), *(getattr(d, v) for v in VALUES)).where(
        col(d.account_id).in_(account_ids), col(d.date) >= start, col(d.date) <= end)
    for acc, day, *rest in session.execute(stmt):
        yield acc, day, dict(zip(VALUES, rest, strict=True))


def campaign_days(
    session: Session, account_ids: list[int], start: dt.date, end: dt.date,
    external_ids: set[str] | None = None,
) -> Iterator[tuple[int, Campaign, dt.date, dict[str, Any]]]:
    """(account id, campaign, day, values) of campaign rows (only ``external_ids``, if
    given)."""
    if not account_ids or end < start or external_ids == set():
        return
    m = DailyMetric
    stmt = (
        select(col(m.account_id), Campaign, col(m.date), *(getattr(m, v) for v in VALUES))
        .join(Campaign, col(Campaign.id) == col(m.campaign_id))
        .where(col(m.account_id).in_(account_ids), col(m.date) >= start, col(m.date) <= end)
    )
    if external_ids is not None:
        stmt = stmt.where(col(Campaign.external_id).in_(sorted(external_ids)))
    for acc, campaign, day, *rest in session.execute(stmt):
        yield acc, campaign, day, dict(zip(VALUES, rest, strict=True))


def account_units(
    session: Session, accounts: dict[int, AdAccount] | dict[int, Any], fx: FxTable,
    periods: list[tuple[dt.date, dt.date]],
    skip: frozenset[tuple[dt.date, int]] = frozenset(),
) -> dict[tuple[int, dt.date], UnitKpis]:
    """(account id, period start) → the account's unit over each of ``periods`` (which do
    not overlap), resolved; none for the (period start, account id) pairs in ``skip``."""
    units = Units()
    if periods:
        lo, hi = min(p[0] for p in periods), max(p[1] for p in periods)
        for acc, day, values in account_days(session, list(accounts), lo, hi):
            period = next((p for p in periods if p[0] <= day <= p[1]), None)
            if period is None or (period[0], acc) in skip:
                continue
            rate = fx.rate(accounts[acc].currency, day)
            units.add((acc, period[0]), account_id=acc, campaign_id=None, period=period,
                      day=day, totals=day_totals(values, rate))
    return cast(dict[tuple[int, dt.date], UnitKpis], units.resolve(session))


@dataclass(frozen=True)
class KpiFields:
    """The KPI columns of the finance and pacing exports, in their order (rates rounded to
    6 places, as the KPI report gives them; None where a denominator is 0 or unknown)."""

    reach: int | None
    reach_estimated: bool | None
    frequency: float | None
    engagement_rate: float | None
    amplification_rate: float | None
    applause_rate: float | None
    conversation_rate: float | None
    follows: int | None
    cpm: float | None
    cpc: float | None
    ctr: float | None
    cpa: float | None
    roas: float | None


KPI_COLUMNS = tuple(f.name for f in dataclasses.fields(KpiFields))


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def kpi_fields(k: ScopeKpis) -> KpiFields:
    r = k.rates
    return KpiFields(
        reach=k.totals.reach, reach_estimated=k.reach_estimated,
        frequency=rounded(r.frequency), engagement_rate=rounded(r.engagement_rate),
        amplification_rate=rounded(r.amplification_rate),
        applause_rate=rounded(r.applause_rate), conversation_rate=rounded(r.conversation_rate),
        follows=k.totals.follows, cpm=rounded(r.cpm), cpc=rounded(r.cpc), ctr=rounded(r.ctr),
        cpa=rounded(r.cpa), roas=rounded(r.roas),
    )


NO_KPIS = kpi_fields(combine([]))  # a scope with no rows: every figure empty (frozen, shared)


def kpi_cells(f: KpiFields | None) -> list[Cell]:
    """The KPI columns of one CSV row: numbers as plain numbers, the estimate flag as
    ``true``/``false``, empty where there is no figure."""
    if f is None:
        return [None] * len(KPI_COLUMNS)
    out: list[Cell] = []
    for name in KPI_COLUMNS:
        value = getattr(f, name)
        if value is None:
            out.append(None)
        elif isinstance(value, bool):
            out.append("true" if value else "false")
        else:
            out.append(Money(str(value)))
    return out
