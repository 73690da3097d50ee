"""The data model (DESIGN.md): SQLModel tables.

Money is ``Numeric(18, 6)`` holding a Decimal in the account's currency (or the reporting
currency where a table says so); six places hold micros exactly. Dates of metrics are days in
the account's own time zone. Every table exists from the first migration so that later work
adds behaviour, not schema.
"""

from __future__ import annotations

import datetime as dt
from datetime import datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    UniqueConstraint,
)
from sqlalchemy import false as sa_false
from sqlmodel import Field, SQLModel

from campaigns.columns import RATE, json_field, money_field, new_id, social_field, ts_field


class Portfolio(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=100)
    reporting_currency: str = Field(default="EUR", max_length=3)
    daily_total: Decimal | None = money_field(nullable=True)
    schedule: str = Field(default="0 2 * * *", max_length=100)
    created_at: datetime = ts_field()


class AdAccount(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("network", "external_id", name="uq_account_network_ext"),)

    id: int | None = Field(default=None, primary_key=True)
    portfolio_id: int = Field(foreign_key="portfolio.id", index=True)
    network: str = Field(max_length=40, index=True)
    external_id: str = Field(max_length=100)
    name: str = Field(default="", max_length=300)
    currency: str = Field(max_length=3)
    timezone: str = Field(default="UTC", max_length=64)
    source: str = Field(default="", max_length=100, description="config source it syncs from")
    status: str = Field(default="active", max_length=40)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class Campaign(SQLModel, table=True):
    __table_args__ = (
        UniqueConstraint("account_id", "external_id", name="uq_campaign_account_ext"),
        Index("ix_campaign_network_status", "network", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="adaccount.id", index=True)
    network: str = Field(max_length=40)
    external_id: str = Field(max_length=100)
    name: str = Field(default="", max_length=500)
    status: str = Field(default="active", max_length=40)
    effective_status: str | None = Field(default=None, max_length=40)
    objective: str | None = Field(default=None, max_length=80)
    bid_strategy: str | None = Field(default=None, max_length=80)
    # Where the daily budget lives: "campaign" (own budget), "adset" (Meta ad-set budgets)
    # or "shared" (a Google budget that feeds several campaigns).
    budget_level: str = Field(default="campaign", max_length=20)
    budget_external_id: str | None = Field(default=None, max_length=100)
    budget_shared: bool = False
    daily_budget: Decimal | None = money_field(nullable=True)
    lifetime_budget: Decimal | None = money_field(nullable=True)
    # What the campaign buys (conversions, revenue, reach, engagement, video_views): synced
    # from the platform's objective, and a manager's setting, which sync never touches, wins.
    result_kind: str | None = Field(default=None, max_length=20)
    result_kind_user: str | None = Field(default=None, max_length=20)
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class AdSet(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("campaign_id", "external_id", name="uq_adset_campaign_ext"),)

    id: int | None = Field(default=None, primary_key=True)
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    external_id: str = Field(max_length=100)
    name: str = Field(default="", max_length=500)
    status: str = Field(default="active", max_length=40)
    daily_budget: Decimal | None = money_field(nullable=True)
    lifetime_budget: Decimal | None = money_field(nullable=True)
    # Meta's learning_stage_info.status (LEARNING, SUCCESS, FAIL); None: not reported.
    learning_stage: str | None = Field(default=None, max_length=20)
    updated_at: datetime = ts_field()


class DailyMetric(SQLModel, table=True):
    """One campaign-day; ``date`` is the day in the account's time zone."""

    __table_args__ = (
        UniqueConstraint("campaign_id", "date", name="uq_metric_campaign_date"),
        Index("ix_metric_account_date", "account_id", "date"),
    )

    # BIGINT on PostgreSQL; SQLite only autoincrements a column declared INTEGER.
    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    campaign_id: int = Field(foreign_key="campaign.id")
    account_id: int = Field(foreign_key="adaccount.id")
    date: dt.date
    spend: Decimal = money_field()
    impressions: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    clicks: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    conversions: Decimal = money_field()
    revenue: Decimal = money_field()
    # Social counts: NULL means the platform did not report the figure (not that it was 0).
    # Frequency is impressions / reach and is derived, never stored.
    reach: int | None = social_field()
    video_views: int | None = social_field()
    engagements: int | None = social_field()
    reactions: int | None = social_field()
    comments: int | None = social_field()
    shares: int | None = social_field()
    follows: int | None = social_field()
    daily_budget: Decimal | None = money_field(nullable=True)
    updated_at: datetime = ts_field()


class MetricObservation(SQLModel, table=True):
    """What one sync or import saw of a campaign-day's results, and when.

    Conversions keep arriving for days after a day (Meta's 7-day click, Google's up to 30
    days), so each later read may restate them. The store writes a row only when the
    conversions or revenue differ from the stored day (re-reading the same file writes
    nothing); the sequence of rows of a day is how far it had come at each age, which is
    what the completion curves are learnt from.
    """

    # AUTOINCREMENT: SQLite never hands out an id again (without it, a row added after the
    # newest was deleted takes that id back), so the newest id marks what was learnt from.
    __table_args__ = (
        Index("ix_observation_campaign_date", "campaign_id", "date", "observed_at"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    campaign_id: int = Field(foreign_key="campaign.id")
    date: dt.date
    observed_at: datetime = ts_field()
    conversions: Decimal = money_field()
    revenue: Decimal = money_field()
    source: str = Field(default="sync", max_length=20)  # "sync", "import", "store", "backfill"


class CompletionState(SQLModel, table=True):
    """What a portfolio's completion curves were last learnt from, per account-day
    (campaigns/optimization/nowcast.py): the next `optimize` after a sync reads only the
    days restated since, not every observation again."""

    portfolio_id: int = Field(foreign_key="portfolio.id", primary_key=True)
    key: str = Field(max_length=200)  # the accounts and campaigns it is of, and the horizon
    as_of: dt.date  # the day it was learnt as of
    watermark: int = Field(sa_column=Column(BigInteger(), nullable=False))  # newest id read
    rows: int = Field(sa_column=Column(BigInteger(), nullable=False))  # observations then
    cells: bytes = Field(sa_column=Column(LargeBinary(), nullable=False))
    updated_at: datetime = ts_field()


class AccountDay(SQLModel, table=True):
    """An account's totals for one local day, kept by the store whenever metrics are written.

    Finance and pacing read months of spend per account; summing campaign rows for that
    (millions of them) on every report made the first request after new data slow.
    """

    account_id: int = Field(foreign_key="adaccount.id", primary_key=True)
    date: dt.date = Field(primary_key=True)
    spend: Decimal = money_field()
    impressions: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    clicks: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    conversions: Decimal = money_field()
    revenue: Decimal = money_field()
    # Sums of the campaign rows' social counts; NULL when no campaign that day reported one.
    reach: int | None = social_field()
    video_views: int | None = social_field()
    engagements: int | None = social_field()
    reactions: int | None = social_field()
    comments: int | None = social_field()
    shares: int | None = social_field()
    follows: int | None = social_field()


class PeriodReach(SQLModel, table=True):
    """People reached over a whole period, as the platform's own period query counts them.

    Reach is not additive: a person reached on two days (or by two campaigns) is one person
    of the period, and only the platform can tell. ``campaign_id`` is NULL for the account's
    own figure. ``impressions`` are the same query's, so frequency is over the same people.
    """

    __table_args__ = (Index("ix_period_reach_account", "account_id", "start", "end"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="adaccount.id")
    campaign_id: int | None = Field(default=None, foreign_key="campaign.id")
    start: dt.date
    end: dt.date
    reach: int = Field(sa_column=Column(BigInteger, nullable=False))
    impressions: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    fetched_at: datetime = ts_field()


class BudgetPlan(SQLModel, table=True):
    """Planned spend for one month and scope, in the portfolio's reporting currency."""

    __table_args__ = (
        UniqueConstraint("portfolio_id", "month", "scope", "scope_key", name="uq_plan_scope"),
    )

    id: int | None = Field(default=None, primary_key=True)
    portfolio_id: int = Field(foreign_key="portfolio.id", index=True)
    month: dt.date = Field(description="first day of the month")
    scope: str = Field(max_length=20, description="total | network | account | campaign")
    scope_key: str = Field(default="", max_length=200)
    currency: str = Field(max_length=3)
    planned_spend: Decimal = money_field()
    # A hard plan is a cap: the nightly run keeps month-to-date spend plus the committed rest
    # of the month (at the platforms' allowed overdelivery) within it (optimization.hard_stop).
    hard: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    version: int = 1
    created_at: datetime = ts_field()
    updated_at: datetime = ts_field()


class SpendCap(SQLModel, table=True):
    """Limits the optimiser respects for a scope (in the reporting currency)."""

    __table_args__ = (
        UniqueConstraint("portfolio_id", "scope", "scope_key", name="uq_cap_scope"),
    )

    id: int | None = Field(default=None, primary_key=True)
    portfolio_id: int = Field(foreign_key="portfolio.id", index=True)
    scope: str = Field(max_length=20, description="network | account | campaign")
    scope_key: str = Field(max_length=200)
    min_daily: Decimal | None = money_field(nullable=True)
    max_daily: Decimal | None = money_field(nullable=True)
    max_change: float | None = None
    locked: bool = False
    version: int = 1
    updated_at: datetime = ts_field()


class FxRate(SQLModel, table=True):
    """1 unit of ``currency`` = ``rate`` units of ``quote`` on ``date``."""

    __table_args__ = (UniqueConstraint("date", "currency", "quote", name="uq_fx_day"),)

    id: int | None = Field(default=None, primary_key=True)
    date: dt.date = Field(index=True)
    currency: str = Field(max_length=3)
    quote: str = Field(max_length=3)
    rate: Decimal = Field(sa_column=Column(RATE, nullable=False))


class OptimizationRun(SQLModel, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    portfolio_id: int = Field(foreign_key="portfolio.id", index=True)
    created_at: datetime = ts_field(index=True)
    created_by: str = Field(default="cli", max_length=100)
    objective: str = Field(max_length=20)
    currency: str = Field(max_length=3)
    total_budget: Decimal = money_field()
    status: str = Field(default="succeeded", max_length=20)
    inputs: dict | None = json_field()
    outputs: dict | None = json_field()
    # Each budget's amount without the max-change limit (campaigns/optimization/targets.py):
    # where the runs are taking it, which pacing's forecast follows.
    targets: dict | None = json_field()
    expected_conversions: float | None = None
    expected_revenue: float | None = None
    expected_spend: float | None = None
    baseline_conversions: float | None = None
    baseline_revenue: float | None = None
    duality_gap: float | None = None
    timings: dict | None = json_field()
    data_fingerprint: str | None = Field(default=None, max_length=64)


class BudgetShift(SQLModel, table=True):
    """A proposal; status: proposed → approved | rejected | expired,
    approved → applying → applied | partially_applied | failed (the full table:
    campaigns.shifts.states)."""

    __table_args__ = (Index("ix_shift_portfolio_status", "portfolio_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    run_id: str | None = Field(default=None, foreign_key="optimizationrun.id", index=True)
    portfolio_id: int = Field(foreign_key="portfolio.id")
    status: str = Field(default="proposed", max_length=20)
    version: int = 1
    currency: str = Field(max_length=3)
    total_before: Decimal = money_field()
    total_after: Decimal = money_field()
    expected_conversions_delta: float | None = None
    expected_revenue_delta: float | None = None
    created_by: str = Field(default="cli", max_length=100)
    created_at: datetime = ts_field(index=True)
    updated_at: datetime = ts_field()
    expires_at: datetime | None = ts_field(nullable=True)
    decided_by: str | None = Field(default=None, max_length=100)
    decided_at: datetime | None = ts_field(nullable=True)
    comment: str | None = None
    data_fingerprint: str | None = Field(default=None, max_length=64)
    # The applied shift this one undoes (its items set each budget back to its old value).
    rollback_of: int | None = Field(default=None, foreign_key="budgetshift.id", index=True)


class ShiftItem(SQLModel, table=True):
    """One decision unit's move. Budgets are in the account currency."""

    __table_args__ = (Index("ix_item_shift", "shift_id"),)

    id: int | None = Field(default=None, primary_key=True)
    shift_id: int = Field(foreign_key="budgetshift.id")
    campaign_id: int = Field(foreign_key="campaign.id", index=True)
    adset_id: int | None = Field(default=None, foreign_key="adset.id")
    level: str = Field(default="campaign", max_length=20)
    target_external_id: str = Field(max_length=100, description="campaign, ad set or budget id")
    currency: str = Field(max_length=3)
    old_budget: Decimal = money_field()
    new_budget: Decimal = money_field()
    expected_conversions_old: float | None = None
    expected_conversions_new: float | None = None
    expected_revenue_old: float | None = None
    expected_revenue_new: float | None = None
    marginal_roi: float | None = None
    # How sure the move is: probability it gains against the money's use elsewhere, and
    # the 80% interval of that effect in the objective's units (optimizer/confidence.py).
    prob_gain: float | None = None
    effect: float | None = None
    effect_low: float | None = None
    effect_high: float | None = None
    # Moved to learn the campaign's curve (the "voi" exploration), not for today's results.
    exploration: bool = Field(default=False, sa_column_kwargs={"server_default": sa_false()})
    binding_limit: str | None = Field(default=None, max_length=200)
    reason: str = ""
    # pending → approved | rejected → applying → applied | failed | skipped;
    # approved → exported → applied | confirmed (campaigns/shifts/states.py)
    status: str = Field(default="pending", max_length=20)
    applied_budget: Decimal | None = money_field(nullable=True)
    applied_at: datetime | None = ts_field(nullable=True)
    attempts: int = 0
    error: str | None = None
    # Who is applying the item right now (a conditional update claims it; a stale claim is
    # recovered by reading the platform first) and when a failed item may be tried again.
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = ts_field(nullable=True)
    next_attempt_at: datetime | None = ts_field(nullable=True)
    comment: str | None = None  # the approver's, per item
    # Apply by file (networks without a write connector): when the item was first written
    # to a bulk-edit file, and who confirmed the platform took it (when no import showed it).
    exported_at: datetime | None = ts_field(nullable=True)
    confirmed_by: str | None = Field(default=None, max_length=200)
    confirmed_at: datetime | None = ts_field(nullable=True)


class AuditEvent(SQLModel, table=True):
    """Append-only record of every state change."""

    __table_args__ = (Index("ix_audit_entity", "entity_type", "entity_id"),)

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = ts_field(index=True)
    actor: str = Field(max_length=100)
    action: str = Field(max_length=80, index=True)
    entity_type: str = Field(max_length=40)
    entity_id: str = Field(max_length=100)
    before: dict | None = json_field()
    after: dict | None = json_field()


class SyncRun(SQLModel, table=True):
    __table_args__ = (Index("ix_sync_account_stream", "account_id", "stream", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    account_id: int | None = Field(default=None, foreign_key="adaccount.id")
    source: str = Field(default="", max_length=100)
    stream: str = Field(max_length=40, description="accounts | entities | metrics | csv")
    window_start: dt.date | None = None
    window_end: dt.date | None = None
    started_at: datetime = ts_field()
    finished_at: datetime | None = ts_field(nullable=True)
    rows: int = 0
    status: str = Field(default="running", max_length=20)
    error: str | None = None


class ApiToken(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100, index=True)
    role: str = Field(max_length=20)
    token_hash: str = Field(max_length=128, unique=True)
    prefix: str = Field(default="", max_length=16)
    created_at: datetime = ts_field()
    last_used_at: datetime | None = ts_field(nullable=True)
    revoked_at: datetime | None = ts_field(nullable=True)


class Alert(SQLModel, table=True):
    """A condition worth a human's attention; ``condition_key`` makes it fire once."""

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=40, index=True)
    severity: str = Field(default="warning", max_length=20)
    scope: str = Field(default="", max_length=20)
    scope_key: str = Field(default="", max_length=200)
    condition_key: str = Field(max_length=300, unique=True)
    portfolio_id: int | None = Field(default=None, foreign_key="portfolio.id", index=True)
    message: str = ""
    details: dict | None = json_field()
    created_at: datetime = ts_field(index=True)
    acknowledged_at: datetime | None = ts_field(nullable=True)
    acknowledged_by: str | None = Field(default=None, max_length=100)
    delivered_at: datetime | None = ts_field(nullable=True)
    delivery_attempts: int = 0
    last_delivery_error: str | None = None


class AutomationPause(SQLModel, table=True):
    """The kill switch: while a row exists, automation leaves its scope alone.

    ``scope`` is ``global`` (key ``""``), ``portfolio`` (its name) or ``account``
    (``network:external_id``). Resuming deletes the row; the audit log keeps the history.
    """

    __table_args__ = (UniqueConstraint("scope", "scope_key", name="uq_pause_scope"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(max_length=20)
    scope_key: str = Field(default="", max_length=200)
    reason: str = Field(max_length=1000)
    paused_by: str = Field(max_length=100)
    paused_at: datetime = ts_field()


class ApiTokenPortfolio(SQLModel, table=True):
    """A token limited to some portfolios: one row per portfolio. A token without rows is
    global (every token made before scopes existed, and every admin token)."""

    token_id: int = Field(foreign_key="apitoken.id", primary_key=True)
    portfolio_id: int = Field(foreign_key="portfolio.id", primary_key=True, index=True)


class NightlyProgress(SQLModel, table=True):
    """Where a nightly run is now: its step and how many of its accounts are in. One row per
    run key, written as the run goes (in-process or by the workers of its workflow), so the
    API can show a run in progress; ``finished_at`` closes it, once."""

    key: str = Field(primary_key=True, max_length=100)  # the run's key (portfolio@slot)
    portfolio: str = Field(max_length=100, index=True)
    holder: str = Field(default="", max_length=300)
    on_workers: bool = False
    step: str = Field(default="start", max_length=40)
    stage: int = 0  # the workflow's last task to start: each runs once, never on redelivery
    accounts_total: int = 0
    accounts_synced: int = 0
    accounts_failed: int = 0
    started_at: datetime = ts_field()
    updated_at: datetime = ts_field()
    finished_at: datetime | None = ts_field(nullable=True)
    outcome: dict | None = json_field()  # the finished run's report, for its submitter
