"""Meta insights: campaign-day spend and conversions from asynchronous report runs.

Spend and action values arrive in major units and become Decimal in the account currency.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors import deadline
from connectors.base import ConnectorError, MetricRecord, PeriodReachRecord
from connectors.meta_entities import MetaEntities

log = logging.getLogger("connectors.meta")

INSIGHT_FIELDS = [
    "campaign_id",
    "date_start",
    "date_stop",
    "spend",
    "impressions",
    "clicks",
    "reach",  # people reached that campaign-day; frequency = impressions / reach, derived
    "actions",
    "action_values",
    "attribution_setting",
]


# Graph's action types for the social counts (the Marketing API's insights ``actions``):
# ``post`` is shares, ``like`` new Page likes (fan growth), ``video_view`` 3-second views.
SOCIAL_ACTION_TYPES = {
    "post_engagement": "engagements",
    "post_reaction": "reactions",
    "comment": "comments",
    "post": "shares",
    "video_view": "video_views",
    "like": "follows",
}


def _count(value: Any) -> int | None:
    """A count Graph sent, or None when it sent none (not reported is not zero)."""
    if value in (None, ""):
        return None
    try:
        return int(Decimal(str(value)))
    except (InvalidOperation, ValueError):
        return None


def _social(row: dict[str, Any]) -> dict[str, int | None]:
    """The social counts of an insights row: ``reach`` and the mapped ``actions`` types.

    A type missing from ``actions`` stays None: Graph leaves out types with no events as
    well as types it does not track, and the two cannot be told apart per row.
    """
    counts: dict[str, int | None] = {"reach": _count(row.get("reach"))}
    for action in row.get("actions") or []:
        name = SOCIAL_ACTION_TYPES.get(str(action.get("action_type")))
        value = _count(action.get("value"))
        if name is not None and value is not None:
            counts[name] = (counts.get(name) or 0) + value
    return counts


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


class MetaInsights(MetaEntities):
    """Daily metrics of an account's campaigns, counted by the configured action types."""

    conversion_action_types: list[str]
    attribution_windows: list[str] | None
    insights_async: bool
    insights_chunk_days: int
    report_poll_seconds: float
    report_timeout_seconds: float
    attribution_setting: str | None  # as reported by the last insights rows
    _clock: Callable[[], float]

    def daily_metrics(
        self, account_external_id: str, start: dt.date, end: dt.date
    ) -> Iterator[MetricRecord]:
        """Campaign-day rows, read from asynchronous report runs chunk by chunk of days."""
        account = self._account_record(account_external_id)
        seen: set[tuple[str, dt.date]] = set()
        day = start
        while day <= end:
            chunk_end = min(end, day + dt.timedelta(days=self.insights_chunk_days - 1))
            for row in self._insights(account.external_id, day, chunk_end):
                record = self._metric(row)
                key = (record.campaign_external_id, record.date)
                if key not in seen:  # a split or retried job never yields a day twice
                    seen.add(key)
                    yield record
            day = chunk_end + dt.timedelta(days=1)

    def period_reach(
        self, account_external_id: str, start: dt.date, end: dt.date
    ) -> list[PeriodReachRecord]:
        """Unique reach of ``start..end``: the account's and each campaign's.

        One insights query per level over the whole ``time_range`` and without
        ``time_increment`` (Graph's default, ``all_days``: one row for the whole range), so
        Meta counts each person once; the daily rows' reach cannot be added up to this.
        Small answers (a row per campaign), so read directly rather than as a report run.
        """
        account = self._account_record(account_external_id).external_id
        out: list[PeriodReachRecord] = []
        for level in ("account", "campaign"):
            fields = "reach,impressions" + (",campaign_id" if level == "campaign" else "")
            params: dict[str, Any] = {
                "level": level,
                "time_range": {"since": start.isoformat(), "until": end.isoformat()},
                "fields": fields,
                "limit": self.page_size,
            }
            if level == "campaign":  # the same campaigns as the daily rows
                params["filtering"] = [{"field": "campaign.effective_status",
                                        "operator": "IN", "value": self._statuses()}]
            what = f"Meta period reach {account} {start}..{end} ({level})"
            for row in self._pages((account, "insights"), params, what):
                reach = _count(row.get("reach"))
                if reach is None:  # not reported for this object and range
                    continue
                out.append(PeriodReachRecord(
                    campaign_external_id=str(row["campaign_id"]) if level == "campaign"
                    else None,
                    start=dt.date.fromisoformat(row.get("date_start") or start.isoformat()),
                    end=dt.date.fromisoformat(row.get("date_stop") or end.isoformat()),
                    reach=reach, impressions=_count(row.get("impressions")) or 0,
                ))
        return out

    def _insight_params(self, start: dt.date, end: dt.date) -> dict[str, Any]:
        params: dict[str, Any] = {
            "level": "campaign",
            "time_increment": 1,
            "time_range": {"since": start.isoformat(), "until": end.isoformat()},
            "fields": ",".join(INSIGHT_FIELDS),
            "filtering": [
                {"field": "campaign.effective_status", "operator": "IN", "value": self._statuses()}
            ],
            "limit": self.page_size,
        }
        if self.attribution_windows:
            params["action_attribution_windows"] = self.attribution_windows
        else:
            params["use_unified_attribution_setting"] = True
        return params

    def _insights(self, account: str, start: dt.date, end: dt.date) -> Iterator[dict[str, Any]]:
        """Rows of a completed report run (pages resume on failure), splitting failed jobs."""
        params = self._insight_params(start, end)
        what = f"Meta insights {account} {start}..{end}"
        if not self.insights_async:
            yield from self._pages((account, "insights"), params, what)
            return
        report_id = self._run_report(account, params, what)
        if report_id is None:
            if start == end:
                raise ConnectorError(
                    f"{what}: the report job failed even for one day", kind="transient"
                )
            middle = start + (end - start) // 2
            log.warning("%s: report job failed, splitting the window at %s", what, middle)
            yield from self._insights(account, start, middle)
            yield from self._insights(account, middle + dt.timedelta(days=1), end)
            return
        yield from self._pages((report_id, "insights"), {"limit": self.page_size}, what)

    def _run_report(self, account: str, params: dict[str, Any], what: str) -> str | None:
        """Start an async report run and wait for it; None when the job fails or hangs."""
        body = self._call("POST", (account, "insights"), params, what)
        report_id = str(body["report_run_id"])
        gives_up = self._clock() + self.report_timeout_seconds
        fields = {"fields": "async_status,async_percent_completion"}
        while True:
            status = self._call("GET", (report_id,), fields, f"{what} report {report_id}")
            state = status.get("async_status")
            if state == "Job Completed":
                return report_id
            if state in ("Job Failed", "Job Skipped"):
                return None
            if self._clock() > gives_up:
                log.warning(
                    "%s: report %s still %r after %.0fs",
                    what,
                    report_id,
                    state,
                    self.report_timeout_seconds,
                )
                return None
            deadline.sleep(self.report_poll_seconds, f"{what} report {report_id}",
                           self.policy.sleep)

    def _metric(self, row: dict[str, Any]) -> MetricRecord:
        wanted = self.conversion_action_types
        conversions = sum(
            (
                _dec(a.get("value"))
                for a in row.get("actions") or []
                if a.get("action_type") in wanted
            ),
            Decimal(0),
        )
        revenue = sum(
            (
                _dec(a.get("value"))
                for a in row.get("action_values") or []
                if a.get("action_type") in wanted
            ),
            Decimal(0),
        )
        if row.get("attribution_setting"):
            self.attribution_setting = row["attribution_setting"]
        return MetricRecord(
            campaign_external_id=str(row["campaign_id"]),
            date=dt.date.fromisoformat(row["date_start"]),
            spend=_dec(row.get("spend")),
            impressions=int(row.get("impressions") or 0),
            clicks=int(row.get("clicks") or 0),
            conversions=conversions,
            revenue=revenue,
            **_social(row),
        )
