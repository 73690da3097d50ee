"""The one small protocol every ad platform connection speaks.

Connectors hand back plain records with money already as Decimal in the account currency:
micros and minor units are converted inside each connector and nowhere else.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, Protocol, runtime_checkable

BudgetLevel = Literal["campaign", "adset", "shared"]


@dataclass(frozen=True, slots=True)
class AccountRecord:
    network: str
    external_id: str
    name: str
    currency: str
    timezone: str
    status: str = "active"


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    external_id: str
    name: str
    status: str
    budget_level: BudgetLevel = "campaign"
    daily_budget: Decimal | None = None
    lifetime_budget: Decimal | None = None
    budget_external_id: str | None = None
    budget_shared: bool = False
    objective: str | None = None
    bid_strategy: str | None = None
    effective_status: str | None = None
    # What the campaign buys (connectors/result_kinds.py); None: the platform does not say.
    result_kind: str | None = None


@dataclass(frozen=True, slots=True)
class AdSetRecord:
    campaign_external_id: str
    external_id: str
    name: str
    status: str
    daily_budget: Decimal | None = None
    lifetime_budget: Decimal | None = None
    # Meta's learning stage (LEARNING, SUCCESS, FAIL); None where the platform reports none.
    learning_stage: str | None = None


@dataclass(frozen=True, slots=True)
class MetricRecord:
    """One campaign-day; ``date`` is the day in the account's time zone."""

    campaign_external_id: str
    date: dt.date
    spend: Decimal
    impressions: int = 0
    clicks: int = 0
    conversions: Decimal = Decimal(0)
    revenue: Decimal = Decimal(0)
    # Social counts; None when the platform did not report the figure (kept apart from 0).
    reach: int | None = None
    video_views: int | None = None
    engagements: int | None = None
    reactions: int | None = None
    comments: int | None = None
    shares: int | None = None
    follows: int | None = None


@dataclass(frozen=True, slots=True)
class BudgetTarget:
    """Where a daily budget lives on the platform."""

    account_external_id: str
    level: BudgetLevel
    external_id: str  # campaign id, ad set id, or (Google) campaign budget id
    currency: str


@dataclass(frozen=True, slots=True)
class BudgetResult:
    """What the platform holds after a write, read back from it."""

    target: BudgetTarget
    requested: Decimal
    daily_budget: Decimal  # as read back (rounded to what the platform accepts)
    changed: bool  # False when the platform already held this budget (or dry-run)
    dry_run: bool = False


@runtime_checkable
class Connector(Protocol):
    """An ad platform, as the sync engine and the write-back see it."""

    name: str

    def list_accounts(self) -> list[AccountRecord]: ...

    def list_campaigns(self, account_external_id: str) -> list[CampaignRecord]: ...

    def list_ad_sets(self, account_external_id: str) -> list[AdSetRecord]: ...

    def daily_metrics(
        self, account_external_id: str, start: dt.date, end: dt.date
    ) -> Iterable[MetricRecord]:
        """Campaign-day rows for ``start..end`` inclusive, in the account's time zone."""
        ...

    def read_budget(self, target: BudgetTarget) -> Decimal: ...

    def apply_budget(
        self, target: BudgetTarget, daily_budget: Decimal, *, dry_run: bool = False
    ) -> BudgetResult:
        """Set a daily budget and read it back. Must be safe to call again with the same value."""
        ...


@runtime_checkable
class BudgetListing(Protocol):
    """A connector that reads the budgets of one account in one listing call (Meta: the
    account's campaigns or ad sets edge; Google Ads: one GAQL query over ``campaign_budget``)
    instead of one read each, and then writes them without reading each again.

    ``read_budgets(targets)`` gives one outcome per target, in order: the daily budget, or
    the ConnectorError that says why it cannot be written (not found, a lifetime budget).
    ``apply_budget`` (and ``apply_budgets``, where the connector has it) accept
    ``current=``: the budget(s) just read this way, so the connector does not read them
    again before writing. The read-back after a write stays the connector's own.
    """

    def read_budgets(self, targets: Sequence[BudgetTarget]) -> list[BudgetRead]: ...


@dataclass(frozen=True, slots=True)
class FxRecord:
    """1 unit of ``currency`` is ``rate`` units of ``quote`` on ``date``."""

    date: dt.date
    currency: str
    quote: str
    rate: Decimal


@runtime_checkable
class FxSource(Protocol):
    """A connector that also publishes daily exchange rates (the sandbox does)."""

    def fx_rates(self, start: dt.date, end: dt.date, quote: str) -> list[FxRecord]: ...


@dataclass(frozen=True, slots=True)
class PeriodReachRecord:
    """People reached over ``start..end`` as the platform counts them (each person once).

    ``campaign_external_id`` is None for the account's own figure (people reached by any of
    its campaigns, once). ``impressions`` are the same query's.
    """

    campaign_external_id: str | None
    start: dt.date
    end: dt.date
    reach: int
    impressions: int = 0


@runtime_checkable
class PeriodReachSource(Protocol):
    """A connector whose platform answers one query over a whole period with unique reach
    (Meta's insights without ``time_increment``). Reach of days does not add up to it."""

    def period_reach(
        self, account_external_id: str, start: dt.date, end: dt.date
    ) -> list[PeriodReachRecord]: ...


# What a caller may do about a failure: retry (throttled, transient), fix credentials, or not.
# "deadline": the task's own time limit passed (connectors.deadline): nothing more is sent.
ErrorKind = Literal["auth", "throttled", "transient", "fatal", "invalid", "deadline"]


class ConnectorError(Exception):
    """A platform call failed; ``kind`` says what a caller may do about it."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind = "fatal",
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


BudgetOutcome = BudgetResult | ConnectorError
BudgetRead = Decimal | ConnectorError
# Failures after which nothing more of an account is sent (a revoked token, the platform
# asking to wait, the task past its own deadline): the account's other changes go back
# unattempted.
STOPS_ACCOUNT: frozenset[str] = frozenset({"auth", "throttled", "deadline"})


def read_budgets(
    connector: Connector, targets: Sequence[BudgetTarget], *, stop_on: Collection[str] = (),
) -> list[BudgetRead]:
    """The budgets of one account's targets, one outcome per target, in the same order: in
    one listing where the connector is a :class:`BudgetListing`, otherwise one
    ``read_budget`` call each. After a failure whose kind is in ``stop_on`` nothing more is
    read and the list ends there (a listing's outcomes are cut the same way)."""
    if isinstance(connector, BudgetListing):
        try:
            found = list(connector.read_budgets(targets))
            if len(found) != len(targets):
                raise ConnectorError(f"{len(found)} budgets read for {len(targets)} targets")
        except Exception as exc:
            found = [as_connector_error(exc)] * len(targets)
        return _cut(found, stop_on)
    outcomes: list[BudgetRead] = []
    for target in targets:
        try:
            outcomes.append(connector.read_budget(target))
        except Exception as exc:
            outcomes.append(as_connector_error(exc))
        if stops(outcomes[-1], stop_on):
            break
    return outcomes


def stops(outcome: object, stop_on: Collection[str] = STOPS_ACCOUNT) -> bool:
    """Whether an outcome is a failure of one of the ``stop_on`` kinds."""
    return isinstance(outcome, ConnectorError) and outcome.kind in stop_on


def _cut(outcomes: list[BudgetRead], stop_on: Collection[str]) -> list[BudgetRead]:
    for i, outcome in enumerate(outcomes):
        if stops(outcome, stop_on):
            return outcomes[: i + 1]
    return outcomes


def apply_budgets(
    connector: Connector,
    changes: Sequence[tuple[BudgetTarget, Decimal]],
    *,
    dry_run: bool = False,
    current: Sequence[Decimal] | None = None,
) -> list[BudgetOutcome]:
    """Set several budgets of one account; one outcome per change, in the same order.

    A connector that can send them together (Google Ads: one ``MutateCampaignBudgets`` with
    ``partial_failure``) defines ``apply_budgets(changes, dry_run=...)`` with this contract:
    a rejected change is returned as its ConnectorError while the others stand, and only the
    failed ones are retried; after an auth, throttling or deadline failure a batch may stop
    and end its list there (the changes after it are not attempted). Others get one
    ``apply_budget`` call per change.

    ``current``: the budgets just read with :func:`read_budgets`, one per change; a
    :class:`BudgetListing` connector then writes without reading them again.
    """
    batch = getattr(connector, "apply_budgets", None)
    if batch is not None:
        return list(batch(changes, dry_run=dry_run, **_known(connector, current)))
    return apply_each(connector, changes, dry_run=dry_run, current=current)


def apply_each(
    connector: Connector,
    changes: Sequence[tuple[BudgetTarget, Decimal]],
    *,
    dry_run: bool = False,
    stop_on: Collection[str] = (),
    current: Sequence[Decimal] | None = None,
) -> list[BudgetOutcome]:
    """One ``apply_budget`` call per change, in order, each failure as its outcome.

    After a failure whose kind is in ``stop_on`` (an account whose token was revoked) the
    remaining changes are not attempted, and the list ends there. ``current``: as for
    :func:`apply_budgets`.
    """
    outcomes: list[BudgetOutcome] = []
    for index, (target, budget) in enumerate(changes):
        known = _known(connector, None if current is None else current[index])
        try:
            outcome: BudgetOutcome = connector.apply_budget(
                target, budget, dry_run=dry_run, **known)
        except Exception as exc:
            outcome = as_connector_error(exc)
        outcomes.append(outcome)
        if stops(outcome, stop_on):
            break
    return outcomes


def _known(connector: Connector, current: object) -> dict[str, Any]:
    """``current=`` for a connector that takes it (a :class:`BudgetListing`), else nothing."""
    if current is None or not isinstance(connector, BudgetListing):
        return {}
    return {"current": current}


def as_connector_error(exc: BaseException) -> ConnectorError:
    """A platform failure as the classified error callers record; anything unclassified is
    fatal (a retry would fail the same way)."""
    if isinstance(exc, ConnectorError):
        return exc
    return ConnectorError(f"{type(exc).__name__}: {exc}", kind="fatal")
