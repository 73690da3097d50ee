"""Period reach: the platform's own count of people reached over a whole period.

Daily reach does not add up (a person reached on Monday and Tuesday is one person of the
week), so where a connector answers a query over a whole period (:class:`PeriodReachSource`,
Meta) the sync stores that figure for the periods reports ask for most: the month to date,
the month before while the lookback still restates it, and the 30 days the KPI report shows
by default. Reports use a stored figure when it covers every day they report and label
summed daily reach as an estimate otherwise.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import delete, select
from sqlmodel import Session, col

from campaigns.models import AdAccount, Campaign, PeriodReach
from connectors.base import Connector, ConnectorError, PeriodReachSource

log = logging.getLogger(__name__)

KPI_DEFAULT_DAYS = 30  # the `budgetpilot kpis` default period: the 30 days to yesterday


def month_end(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)


def reach_periods(window_start: dt.date, window_end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The periods to ask for after syncing ``window_start..window_end`` (the last day is
    the last complete one): the month to date, the previous whole month if the window
    restated some of it, and the KPI report's default 30 days."""
    month = window_end.replace(day=1)
    periods = [(month, window_end)]
    if window_start < month:
        prev = (month - dt.timedelta(days=1)).replace(day=1)
        periods.append((max(prev, window_start.replace(day=1)), month - dt.timedelta(days=1)))
    periods.append((window_end - dt.timedelta(days=KPI_DEFAULT_DAYS - 1), window_end))
    return list(dict.fromkeys(periods))


Fetched = list[tuple[dt.date, dt.date, Any]]


def fetch_period_reach(
    connector: Connector, acc: AdAccount, window_start: dt.date, window_end: dt.date,
) -> Fetched | None:
    """The account's period reach from the platform (no database involved); None for a
    connector without period queries, or when the query failed (logged: reports then show
    summed daily reach, labelled as an estimate)."""
    if not isinstance(connector, PeriodReachSource) or window_end < window_start:
        return None
    fetched = []
    try:
        for start, end in reach_periods(window_start, window_end):
            fetched.append((start, end, connector.period_reach(acc.external_id, start, end)))
    except ConnectorError as exc:
        log.warning("%s:%s: period reach not read (%s); reports show summed daily reach, "
                    "labelled as an estimate", acc.network, acc.external_id, exc)
        return None
    return fetched


def load_period_reach(
    session: Session, connector: Connector, acc: AdAccount, window_start: dt.date,
    window_end: dt.date, fetched: Fetched | None = None,
) -> int:
    """Store the account's period reach (``fetched``, else fetched now); the rows written
    (0 for a connector without period queries). A failed query leaves reports on the
    estimate: the day's metrics are not lost for it."""
    if fetched is None:
        fetched = fetch_period_reach(connector, acc, window_start, window_end)
    if not fetched:
        return 0
    assert acc.id is not None  # read from the table
    campaigns = dict(session.execute(
        select(col(Campaign.external_id), col(Campaign.id)).where(
            col(Campaign.account_id) == acc.id)).all())
    # Whole calendar months are kept; a month-to-date or trailing window is replaced by the
    # newer one (a row per campaign and day would pile up otherwise).
    fresh = {(s, e) for s, e, _ in fetched}
    stale = [pid for pid, s, e in session.execute(
        select(col(PeriodReach.id), col(PeriodReach.start), col(PeriodReach.end)).where(
            col(PeriodReach.account_id) == acc.id))
        if (s, e) in fresh or not (s.day == 1 and e == month_end(s))]
    if stale:
        session.execute(delete(PeriodReach).where(col(PeriodReach.id).in_(stale)))
    n = 0
    for _start, _end, records in fetched:
        for r in records:
            cid = None
            if r.campaign_external_id is not None:
                cid = campaigns.get(r.campaign_external_id)
                if cid is None:  # a campaign the sync does not know: nothing reports it
                    continue
            session.add(PeriodReach(account_id=acc.id, campaign_id=cid, start=r.start,
                                    end=r.end, reach=r.reach, impressions=r.impressions))
            n += 1
    session.flush()
    return n
