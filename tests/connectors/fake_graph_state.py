"""What the fake Graph API holds (tokens, accounts, campaigns, ad sets, metrics, report runs)
and the faults a test makes it answer with."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

MetricFn = Callable[[str, dt.date], dict[str, Any] | None]
# (campaign id, day) for a daily row; (level, object id, since, until) for a whole-range row
InsightKey = tuple[Any, ...]


@dataclass
class Fault:
    """Fail the next ``times`` requests whose path contains ``match`` (and method, if given)."""

    match: str
    status: int = 400
    code: int | None = 17
    subcode: int | None = None
    message: str = "User request limit reached"
    transient: bool = False
    times: int = 1
    method: str | None = None
    skip: int = 0  # let this many matching requests through first
    headers: dict[str, str] = field(default_factory=dict)
    raw_body: str | None = None  # e.g. an HTML 502 page from a proxy
    # The request is carried out first and only its answer fails: a write the platform
    # applied whose response is lost (a 500, or with ``drop`` a connection closed unanswered).
    after_apply: bool = False
    drop: bool = False


@dataclass
class Report:
    id: str
    account: str
    keys: list[InsightKey]
    polls_left: int
    failed: bool
    fields: str | None = None  # the report run's requested fields, as Graph honours them


class GraphState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tokens: set[str] = {"good-token"}
        self.accounts: dict[str, dict[str, Any]] = {}
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.adsets: dict[str, dict[str, Any]] = {}
        self.metrics: dict[tuple[str, dt.date], dict[str, Any]] = {}
        # unique people of an account or campaign over since..until, as Meta counts them
        self.period_reach: dict[tuple[str, dt.date, dt.date], int] = {}
        self.metric_fn: MetricFn | None = None  # the benchmark computes rows instead of storing
        self.reports: dict[str, Report] = {}
        self.faults: list[Fault] = []
        self.account_errors: dict[str, tuple[int, int, int | None, str]] = {}
        self.usage_headers: dict[str, str] = {}
        self.report_polls = 1  # "Job Running" answers before "Job Completed"
        self.report_max_days: int | None = None  # jobs over more days fail, like big accounts
        self.requests: Counter[str] = Counter()
        self.budget_posts: list[tuple[str, int]] = []
        self._ids = itertools.count(10_000_000)

    # -- building a world ------------------------------------------------------------------

    def add_account(
        self,
        act: str,
        *,
        currency: str = "EUR",
        timezone: str = "Europe/Berlin",
        name: str | None = None,
        min_daily_budget: int | None = None,
    ) -> str:
        self.accounts[act] = {
            "id": act,
            "account_id": act.removeprefix("act_"),
            "name": name or act,
            "currency": currency,
            "timezone_name": timezone,
            "account_status": 1,
            **({"min_daily_budget": min_daily_budget} if min_daily_budget else {}),
        }
        return act

    def add_campaign(
        self,
        act: str,
        cid: str,
        *,
        daily_budget: int | None = None,
        lifetime_budget: int | None = None,
        status: str = "ACTIVE",
        effective_status: str | None = None,
        objective: str = "OUTCOME_SALES",
        name: str | None = None,
    ) -> str:
        row: dict[str, Any] = {
            "id": cid,
            "account_id": act,
            "name": name or f"Campaign {cid}",
            "status": status,
            "effective_status": effective_status or status,
            "objective": objective,
            "bid_strategy": "LOWEST_COST_WITHOUT_CAP",
        }
        if daily_budget is not None:
            row["daily_budget"] = str(daily_budget)
        if lifetime_budget is not None:
            row["lifetime_budget"] = str(lifetime_budget)
        self.campaigns[cid] = row
        return cid

    def add_adset(
        self, cid: str, sid: str, *, daily_budget: int | None = None, status: str = "ACTIVE",
        learning: str | None = None, learning_conversions: int = 0,
        last_significant_edit: int = 1_764_000_000,
    ) -> str:
        """``learning``: the ad set's learning stage (LEARNING, SUCCESS, FAIL), answered as
        Meta's AdCampaignLearningStageInfo object; Meta returns one only for active ad sets,
        so an inactive one has none, as has one given no stage."""
        row: dict[str, Any] = {
            "id": sid,
            "campaign_id": cid,
            "account_id": self.campaigns[cid]["account_id"],
            "name": f"Ad set {sid}",
            "status": status,
            "effective_status": status,
        }
        if daily_budget is not None:
            row["daily_budget"] = str(daily_budget)
        if learning is not None and status == "ACTIVE":
            row["learning_stage_info"] = {
                "status": learning,
                "conversions": learning_conversions,
                "last_sig_edit_ts": last_significant_edit,
            }
        self.adsets[sid] = row
        return sid

    def set_metric(
        self,
        cid: str,
        day: dt.date,
        *,
        spend: str,
        impressions: int = 0,
        clicks: int = 0,
        purchases: str | None = None,
        purchase_value: str | None = None,
        reach: int | None = None,
        social: dict[str, int] | None = None,
    ) -> None:
        """``social`` maps Graph action types (post_engagement, post_reaction, comment, post,
        video_view, like) to counts; they arrive in ``actions`` like conversions do."""
        row: dict[str, Any] = {
            "spend": spend,
            "impressions": str(impressions),
            "clicks": str(clicks),
        }
        if reach is not None:
            row["reach"] = str(reach)
            # Graph reports frequency beside reach, as impressions per person.
            row["frequency"] = str(impressions / reach) if reach else "0"
        actions = [{"action_type": k, "value": str(v)} for k, v in (social or {}).items()]
        if purchases is not None:
            actions = [
                {"action_type": "link_click", "value": str(clicks)},
                {"action_type": "purchase", "value": purchases},
                *actions,
            ]
        if actions:
            row["actions"] = actions
        if purchase_value is not None:
            row["action_values"] = [{"action_type": "purchase", "value": purchase_value}]
        self.metrics[(cid, day)] = row

    def set_period_reach(self, obj: str, since: dt.date, until: dt.date, reach: int) -> None:
        """The people an account (``act_...``) or campaign reached over ``since..until``,
        each counted once: what Graph answers for that range without ``time_increment``."""
        self.period_reach[(obj, since, until)] = reach

    def fail(self, match: str, **kw: Any) -> Fault:
        fault = Fault(match=match, **kw)
        with self.lock:
            self.faults.append(fault)
        return fault

    def total_requests(self) -> int:
        return sum(self.requests.values())

    # -- answering -------------------------------------------------------------------------

    def metric(self, cid: str, day: dt.date) -> dict[str, Any] | None:
        if self.metric_fn is not None:
            return self.metric_fn(cid, day)
        return self.metrics.get((cid, day))

    def insight_keys(self, act: str, params: dict[str, str]) -> list[InsightKey]:
        """The rows an insights query answers, as Graph documents them: with
        ``time_increment=1`` one row per object and day; without it (the default,
        ``all_days``) one row per object for the whole ``time_range``. ``level`` is the
        object (``account`` or ``campaign``; the default is the queried node's own level,
        here the account). Objects without delivery in the range have no row."""
        tr = json.loads(params["time_range"])
        since, until = dt.date.fromisoformat(tr["since"]), dt.date.fromisoformat(tr["until"])
        statuses = None
        for f in json.loads(params.get("filtering", "[]")):
            if f["field"] == "campaign.effective_status":
                statuses = set(f["value"])
        cids = [
            c
            for c, row in self.campaigns.items()
            if row["account_id"] == act
            and (statuses is None or row["effective_status"] in statuses)
        ]
        days = [since + dt.timedelta(days=i) for i in range((until - since).days + 1)]
        increment = params.get("time_increment", "all_days")
        level = params.get("level", "account")
        if increment == "all_days":
            if level == "account":
                delivered = any(self.metric(c, d) is not None for c in cids for d in days)
                return [("account", act, since, until)] if delivered else []
            return [("campaign", c, since, until) for c in cids
                    if any(self.metric(c, d) is not None for d in days)]
        if str(increment) != "1":
            raise ValueError(f"the fake answers time_increment 1 or all_days, not {increment}")
        return [(c, day) for day in days for c in cids if self.metric(c, day) is not None]

    def insight_row(self, key: InsightKey, fields: str | None = None) -> dict[str, Any]:
        if len(key) == 4:
            return self._range_row(key, fields)
        cid, day = key
        row = dict(self.metric(cid, day) or {})
        if fields:  # Graph answers only the fields asked for
            wanted = set(fields.split(","))
            row = {k: v for k, v in row.items() if k in wanted}
        row.update(
            campaign_id=cid,
            date_start=day.isoformat(),
            date_stop=day.isoformat(),
            attribution_setting="7d_click_1d_view",
        )
        return row

    def _range_row(self, key: InsightKey, fields: str | None) -> dict[str, Any]:
        """One object's row over a whole range: counts summed over its days, reach the
        period's unique people (never the sum of daily reach). Without a figure set by the
        test, the largest day's reach stands in: a period reaches at least that many."""
        level, obj, since, until = key
        cids = [c for c, r in self.campaigns.items() if r["account_id"] == obj] \
            if level == "account" else [obj]
        rows = [r for c in cids for i in range((until - since).days + 1)
                if (r := self.metric(c, since + dt.timedelta(days=i))) is not None]
        out: dict[str, Any] = {
            "impressions": str(sum(int(r.get("impressions") or 0) for r in rows)),
            "clicks": str(sum(int(r.get("clicks") or 0) for r in rows)),
            "spend": str(sum(float(r.get("spend") or 0) for r in rows)),
        }
        daily = [int(r["reach"]) for r in rows if "reach" in r]
        reach = self.period_reach.get((obj, since, until), max(daily) if daily else None)
        if reach is not None:
            out["reach"] = str(reach)
            out["frequency"] = str(int(out["impressions"]) / reach) if reach else "0"
        if fields:
            wanted = set(fields.split(","))
            out = {k: v for k, v in out.items() if k in wanted}
        ident = {"account_id": obj.removeprefix("act_")} if level == "account" else {
            "campaign_id": obj}
        return {**out, **ident, "date_start": since.isoformat(), "date_stop": until.isoformat()}
