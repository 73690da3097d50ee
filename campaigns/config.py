"""Settings: one TOML file plus the environment, validated once at start-up.

Every section is a typed model that refuses unknown keys, and each ``[[sources]]`` entry is
validated with its kind's options model (owned by the connector, :mod:`connectors.registry`),
so a typo (``max_chnage``, ``lag_days = "seven"``) stops every command with the key's name.
The one :class:`Settings` is then passed down; nothing re-reads the file.

Secrets never live in the file: a config names the environment variable that holds each one
(``access_token_env = "META_ACCESS_TOKEN"``) and :func:`secret` reads it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails

from campaigns.errors import ConfigError
from campaigns.policy import (
    AlertSettings,
    AutomationSettings,
    PacingSettings,
    SchedulerSettings,
    ServicePolicy,
)
from connectors import registry
from connectors.csv_options import CsvOptions
from connectors.settings import ConnectorOptions, SettingsError
from connectors.settings import secret as connector_secret

DEFAULT_CONFIG = Path("configs/demo.toml")
DEFAULT_DATABASE_URL = "sqlite:///budgetpilot.db"
DATABASE_URL_ENV = "BUDGETPILOT_DATABASE_URL"
CONFIG_ENV = "BUDGETPILOT_CONFIG"
# optimizer.exploration.Method, spelled out: importing the optimiser (scipy) to read a config
# would cost every command seconds. tests/campaigns/test_config.py pins that both agree.
ExplorationMethod = Literal["none", "ucb", "thompson", "cautious", "voi"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatabaseSettings(Section):
    url: str | None = None
    echo: bool = False


class SyncSettings(Section):
    lookback_days: int = Field(28, ge=0, le=400)
    history_days: int = Field(90, ge=1, le=1200)


class QueueSettings(Section):
    """``[queue]``: where sync tasks go when they run on Celery workers (``budgetpilot worker``).

    Without ``broker_url`` everything runs in the calling process, as it always has.
    """

    broker_url: str | None = Field(None, description="redis://host:6379/0 or amqp://user@host//")
    result_backend: str | None = Field(
        None, description="where results wait for the submitter; default: a Redis broker's "
        "own URL, else rpc:// (results sent back over the broker)"
    )
    queue: str = Field("budgetpilot", min_length=1, max_length=200)
    max_attempts: int = Field(
        5, ge=1, le=100,
        description="deliveries and retries of one task before it fails by name",
    )
    retry_backoff_max: int = Field(60, ge=1, le=3600, description="seconds")
    visibility_timeout: int = Field(
        3600, ge=1, le=86400,
        description="Redis: seconds before a task a lost worker held is delivered again; "
        "longer than the slowest task",
    )
    wait_timeout: int = Field(
        6 * 3600, ge=1, description="seconds `sync`, `shifts apply` and `nightly` wait for "
        "the workers"
    )
    account_time_limit: int = Field(
        1800, ge=1, le=86400,
        description="seconds one account's sync may take in a nightly run on the workers; "
        "then it is stopped and the account named as failed, and the run goes on without it "
        "(--pool threads: checked by the task between platform calls, write-backs too)",
    )
    account_time_limit_grace: int = Field(
        60, ge=0, le=3600,
        description="seconds a sync past account_time_limit gets to stop by itself before its "
        "worker process ends it (Celery's hard time limit; prefork pool only); 0: ended at "
        "the limit, with no chance to stop by itself",
    )
    worker_db_connections: int | None = Field(
        None, ge=1, le=1000,
        description="database connections one worker process holds at most (PostgreSQL); "
        "a task needing one past it waits for one to come back (up to account_time_limit); "
        "default: half the process's task slots, at least 2 (a task waits on the platforms "
        "far longer than it holds a connection)",
    )
    portfolios_at_once: int = Field(
        10, ge=1, le=200,
        description="portfolios of one nightly run on the workers waited for side by side "
        "(an agency's clients); each holds a few database connections of the submitter "
        "while it waits, and its engine is sized for them",
    )
    limits_url: str | None = Field(
        None, description="a Redis holding the platforms' rate limits for every worker; "
        "default: the Redis broker or result backend, else each process its own"
    )

    @field_validator("broker_url", "result_backend", "limits_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and "://" not in v:
            raise ValueError(f"not a broker URL (scheme://host...): {v!r}")
        return v or None

    @property
    def backend_url(self) -> str | None:
        if self.result_backend:
            return self.result_backend
        if self.broker_url and self.broker_url.startswith(("redis://", "rediss://")):
            return self.broker_url
        return "rpc://" if self.broker_url else None

    @property
    def rate_limits_url(self) -> str | None:
        """Where the platforms' rate limits are shared: a Redis, or None (this process)."""
        if self.limits_url:
            return self.limits_url
        if not self.broker_url:
            return None  # in-process: one process, its own memory
        return next((u for u in (self.broker_url, self.backend_url)
                     if u and u.startswith(("redis://", "rediss://"))), None)


class SourceSettings(registry.SourceSettings):
    """One ``[[sources]]``: a connector kind, or ``csv`` (accounts of CSV imports)."""

    kinds: ClassVar[Mapping[str, type[ConnectorOptions]]] = {
        **registry.SourceSettings.kinds, "csv": CsvOptions,
    }


class ResultValues(Section):
    """``[optimizer.values]`` (and a portfolio's ``values``): what one result is worth in
    the reporting currency, for the ``value`` objective."""

    conversions: float | None = Field(None, ge=0, description="per conversion")
    revenue: float | None = Field(
        None, ge=0, description="per unit of revenue (none: 1, revenue is money already)")
    reach: float | None = Field(None, ge=0, description="per 1,000 people reached")
    engagement: float | None = Field(None, ge=0, description="per engagement")
    video_views: float | None = Field(None, ge=0, description="per video view")

    def over(self, base: ResultValues) -> ResultValues:
        """These values, each unset one taken from ``base``."""
        mine = self.model_dump(exclude_none=True)
        return ResultValues(**{**base.model_dump(exclude_none=True), **mine})


class PortfolioSettings(Section):
    name: str
    reporting_currency: str = "EUR"
    daily_total: float | None = None
    schedule: str = "0 2 * * *"
    accounts: list[str] = Field(
        default_factory=list, description="'network:external_id' of the accounts it holds"
    )
    values: ResultValues | None = Field(
        None, description="what one result is worth here, over [optimizer.values]"
    )

    @field_validator("reporting_currency")
    @classmethod
    def _iso(cls, v: str) -> str:
        if len(v) != 3 or not v.isalpha():
            raise ValueError(f"not an ISO 4217 currency code: {v!r}")
        return v.upper()


class ImportColumns(Section):
    """Our columns -> the title (or titles) another network's export gives each."""

    date: str | list[str]
    spend: str | list[str]
    campaign_id: str | list[str] | None = None
    campaign_name: str | list[str] | None = None
    account_id: str | list[str] | None = None
    currency: str | list[str] | None = None
    impressions: str | list[str] | None = None
    clicks: str | list[str] | None = None
    conversions: str | list[str] | None = None
    revenue: str | list[str] | None = None
    daily_budget: str | list[str] | None = None
    # the social counts (README: Social and performance KPIs)
    reach: str | list[str] | None = None
    video_views: str | list[str] | None = None
    engagements: str | list[str] | None = None
    reactions: str | list[str] | None = None
    comments: str | list[str] | None = None
    shares: str | list[str] | None = None
    follows: str | list[str] | None = None

    @model_validator(mode="after")
    def _names_campaigns(self) -> ImportColumns:
        if self.campaign_id is None and self.campaign_name is None:
            raise ValueError("give campaign_id or campaign_name (or both)")
        return self


class ImportSettings(Section):
    """One ``[[imports]]`` mapping: a CSV layout for a network without a built-in format."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$")
    network: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,39}$")
    columns: ImportColumns
    date_formats: list[str] = Field(default_factory=lambda: ["%Y-%m-%d"], min_length=1)
    decimal: Literal[".", ","] = "."
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$")
    account_id: str | None = None

    @field_validator("date_formats")
    @classmethod
    def _strptime_forms(cls, forms: list[str]) -> list[str]:
        for form in forms:
            month = any(code in form for code in ("%m", "%b", "%B"))
            if not (month and "%Y" in form and "%d" in form):
                raise ValueError(f"{form!r} needs %Y, %m (or %b) and %d, e.g. '%m/%d/%Y'")
        return forms


# Off by default: on a young portfolio (a few weeks of history) most moves are coin flips
# and a cost would stop every one; README recommends 1.0 and 0.5 once history is varied.
DEFAULT_EDIT_COST = 0.0
DEFAULT_MIN_PROB_GAIN = 0.0


class OptimizerSettings(Section):
    """``[optimizer]``: what a run maximises and how far it may move each budget."""

    objective: Literal["conversions", "revenue", "value"] = "conversions"
    values: ResultValues = ResultValues()
    sales_result: Literal["conversions", "revenue"] = Field(
        "conversions", description="what a campaign the platform runs for sales, leads or "
        "traffic (no awareness, engagement or video objective) counts under the value "
        "objective, unless a manager set its result",
    )
    max_change: float = Field(0.2, gt=0, le=10, description="largest move per run (0.2 = 20%)")
    min_change: float = Field(
        0.01, ge=0, lt=1,
        description="a smaller move is not worth a platform edit (each can restart Meta's "
        "learning phase, and edits per hour are limited): the budget stays",
    )
    lag_days: int = Field(
        0, ge=0, le=60, description="recent days left out of curve fitting altogether; with "
        "nowcast the days still collecting conversions are fitted, scaled by their expected "
        "completion, so none need be left out",
    )
    nowcast: bool = Field(
        True, description="fit recent days scaled by the share of their conversions reported "
        "so far (learnt per network and account from restatements); false: they are fitted "
        "as they stand, so set lag_days (e.g. 7) to leave them out",
    )
    half_life_days: float | None = Field(
        None, gt=0, description="days of history weigh half as much every this many days; "
        "none: every day counts fully",
    )
    edit_cost: float = Field(
        DEFAULT_EDIT_COST, ge=0, description="what one budget edit costs, in the portfolio's "
        "reporting currency (a learning phase restarted, an edit of the hour's few): a move "
        "whose expected gain for a day does not exceed it is not made; 0: edits are free",
    )
    min_prob_gain: float = Field(
        DEFAULT_MIN_PROB_GAIN, ge=0, lt=1, description="a move less likely than this to gain "
        "(its prob_gain) is not made",
    )
    max_edits_per_week: int | None = Field(
        None, ge=1, description="a budget edited this many times in the last 7 days is held; "
        "none: no limit",
    )
    hold_learning: bool = Field(
        True, description="leave alone the budgets of Meta ad sets in their learning phase "
        "(and campaign budgets over one)",
    )
    move_in_learning: list[str] = Field(
        default_factory=list, description="campaign keys (network:account:campaign) whose "
        "budgets may move during Meta's learning phase all the same",
    )
    follow_plans: bool = Field(
        False, description="keep each network's and account's budgets on course to its "
        "monthly plan: the plan left over the days left, divided by the delivery ratio, "
        "+- plan_band; money moves between those scopes only within that",
    )
    plan_band: float = Field(
        0.05, ge=0.005, le=1, description="follow_plans: how far a scope's daily budgets may stray "
        "from its plan's pace (0.05 = 5%)",
    )
    target_cpa: float | None = Field(None, gt=0)
    min_roas: float | None = Field(None, gt=0)
    exploration: ExplorationMethod = "ucb"
    cautious_quantile: float = Field(
        0.2, ge=0.01, le=0.5, description='"cautious": the low quantile of each campaign\'s '
        "expected results that is optimised (0.2: the 20th percentile)",
    )
    exploration_max_share: float = Field(
        0.05, ge=0, le=0.5, description='"voi": the most money moved for exploration in one '
        "run (increases and decreases together), as a share of the daily total",
    )
    exploration_horizon_days: float = Field(
        14.0, gt=0, description='"voi": the days over which what a probe teaches is worth '
        "something",
    )
    seed: int = Field(0, description="the seed of Thompson draws")

    def values_for(self, portfolio: str, portfolios: list[PortfolioSettings]) -> ResultValues:
        """The result values of ``portfolio``: its own ``values`` over ``[optimizer.values]``."""
        for p in portfolios:
            if p.name == portfolio and p.values is not None:
                return p.values.over(self.values)
        return self.values


class Settings(Section):
    database: DatabaseSettings = DatabaseSettings()
    sync: SyncSettings = SyncSettings()
    sources: list[SourceSettings] = Field(default_factory=list)
    portfolios: list[PortfolioSettings] = Field(default_factory=list)
    imports: list[ImportSettings] = Field(default_factory=list)
    optimizer: OptimizerSettings = OptimizerSettings()
    queue: QueueSettings = QueueSettings()
    # The service's sections (campaigns.policy): typed here too, so that every command, not
    # only `serve` and `nightly`, refuses a typo in them.
    service: ServicePolicy = ServicePolicy()
    pacing: PacingSettings = PacingSettings()
    alerts: AlertSettings = AlertSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    automation: AutomationSettings = AutomationSettings()
    path: Path | None = None

    # Read from the environment once, when the settings are built, like everything else.
    _database_url: str = PrivateAttr(DEFAULT_DATABASE_URL)

    @model_validator(mode="after")
    def _resolve_database_url(self) -> Settings:
        self._database_url = (
            os.environ.get(DATABASE_URL_ENV) or self.database.url or DEFAULT_DATABASE_URL
        )
        return self

    @property
    def database_url(self) -> str:
        """``$BUDGETPILOT_DATABASE_URL``, else ``[database] url``, else a local SQLite file."""
        return self._database_url

    def source(self, name: str) -> SourceSettings:
        for s in self.sources:
            if s.name == name:
                return s
        raise ConfigError(f"no source named {name!r} in the config")


def load_settings(path: str | Path | None = None) -> Settings:
    """Read and validate a config; errors name the file and the offending key.

    Without a path: ``$BUDGETPILOT_CONFIG``, else the checkout's ``configs/demo.toml`` when
    run from the checkout, else the built-in defaults (a SQLite database in the current
    folder, no sources), so an installed command works from any folder: CSV imports and
    optimising need no config file at all.
    """
    if path is None:
        path = os.environ.get(CONFIG_ENV)
        if path is None:
            if not DEFAULT_CONFIG.exists():
                return settings_from_dict({})
            path = DEFAULT_CONFIG
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"config file not found: {p}")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from e
    return settings_from_dict(raw, path=p)


def settings_from_dict(raw: dict[str, Any], path: Path | None = None) -> Settings:
    try:
        settings = Settings.model_validate({**raw, "path": path})
    except ValidationError as e:
        problems = "; ".join(f"{_where(err, raw)}: {_what(err)}" for err in e.errors())
        raise ConfigError(f"{path or 'config'}: {problems}") from e
    names = [s.name for s in settings.sources]
    if len(names) != len(set(names)):
        raise ConfigError(f"{path or 'config'}: source names must be unique, got {names}")
    _check_imports(settings, path)
    return settings


def _what(err: ErrorDetails) -> str:
    if err["type"] != "extra_forbidden":
        return err["msg"]
    if err["loc"][0] == "sources" and err["loc"][-1] == "dry_run":  # a key once read nowhere
        return "not a source option; use [automation] dry_run = true or nightly --dry-run"
    return "unknown key (misspelt, or not one this section takes)"  # not pydantic's "Extra ..."


def _where(err: ErrorDetails, raw: dict[str, Any]) -> str:
    """The key a problem is at, as the file spells it: a source's options sit beside its
    ``name`` (``sources.meta.page_size``), not under an ``options`` table."""
    loc = list(err["loc"])
    if len(loc) > 2 and loc[0] == "sources" and isinstance(loc[1], int):
        entries = raw.get("sources")
        entry = entries[loc[1]] if isinstance(entries, list) and loc[1] < len(entries) else {}
        name = entry.get("name") if isinstance(entry, dict) else None
        rest = loc[3:] if loc[2] == "options" else loc[2:]
        loc = ["sources", name if isinstance(name, str) else loc[1], *rest]
    return ".".join(str(x) for x in loc)


def _check_imports(settings: Settings, path: Path | None) -> None:
    from connectors.exports.platforms import PLATFORMS

    names = [m.name for m in settings.imports]
    for name in names:
        if name in PLATFORMS or name in ("auto", "budgetpilot") or names.count(name) > 1:
            raise ConfigError(f"{path or 'config'}: imports.name: {name!r} is taken "
                              "(a built-in format or another [[imports]] entry)")


def secret(env_name: str | None, what: str) -> str:
    """The value of a secret's environment variable; refuses a missing or placeholder one."""
    try:
        return connector_secret(env_name, what)
    except SettingsError as e:
        raise ConfigError(e.message) from e
