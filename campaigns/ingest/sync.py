"""The sync engine: accounts, then per account its entities and its daily metrics.

Each account and stream is its own unit of work with a SyncRun record, so one failing account
never stops the others and a failure leaves what was there before. Metrics re-read a lookback
window (conversions restate for days after the click) and upsert, so nothing duplicates.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col

from campaigns.columns import utcnow
from campaigns.config import Settings, SourceSettings
from campaigns.db import database_busy, is_locked, session_scope
from campaigns.ingest.period_reach import fetch_period_reach, load_period_reach
from campaigns.ingest.store import (
    get_or_create_portfolio,
    upsert_account,
    upsert_ad_sets,
    upsert_campaigns,
)
from campaigns.ingest.sync_metrics import load_metrics, local_today, metrics_window
from campaigns.models import AdAccount, Portfolio, SyncRun
from connectors.base import AccountRecord, Connector, ConnectorError, FxSource, MetricRecord
from connectors.errors import PartialAccountList
from connectors.redact import redact

log = logging.getLogger(__name__)


@dataclass
class StreamOutcome:
    account: str  # "network:external_id", or the source name for the accounts stream
    stream: str
    status: str  # succeeded | failed
    rows: int = 0
    window: tuple[dt.date, dt.date] | None = None
    error: str | None = None
    seconds: float | None = None  # the account's wall time, where the runner measured it
    attempt: int = 1  # on workers: this delivery's number (more than 1: a worker was lost)


@dataclass
class SyncReport:
    source: str
    outcomes: list[StreamOutcome] = field(default_factory=list)

    @property
    def failed(self) -> list[StreamOutcome]:
        return [o for o in self.outcomes if o.status != "succeeded"]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def metric_rows(self) -> int:
        return sum(o.rows for o in self.outcomes if o.stream == "metrics")


# (source, accounts, now) -> each account's outcomes, in the order of ``accounts``
AccountsRunner = Callable[
    [SourceSettings, list[AccountRecord], dt.datetime], Iterable[list[StreamOutcome]]
]


def portfolio_name_for(settings: Settings, source: SourceSettings, network: str, ext: str) -> str:
    key = f"{network}:{ext}"
    for p in settings.portfolios:
        if key in p.accounts or ext in p.accounts:
            return p.name
    return source.portfolio


def resolve_portfolio(session: Session, settings: Settings, name: str) -> Portfolio:
    currency = next((p.reporting_currency for p in settings.portfolios if p.name == name), "EUR")
    return get_or_create_portfolio(session, name, reporting_currency=currency)


def _error_text(exc: BaseException) -> str:
    kind = getattr(exc, "kind", None)
    text = str(exc) or type(exc).__name__
    if isinstance(exc, DBAPIError):  # the driver's words, not the statement and its rows
        text = str(exc.orig)
    text = redact(text)  # stored, listed by the API, sent in alerts: never a secret
    return f"[{kind}] {text}" if kind else f"{type(exc).__name__}: {text}"


def _record_failure(
    engine: Engine, run: SyncRun, exc: BaseException, label: str | None = None
) -> None:
    if is_locked(exc):
        # Recording it would wait for the same lock; the whole sync stops with a reason.
        what = f"account {label}" if label else f"source {run.source}"
        raise database_busy(f"sync of {what} ({run.stream})") from None
    with session_scope(engine) as session:
        run.id = None
        run.status = "failed"
        run.error = _error_text(exc)[:4000]
        run.finished_at = utcnow()
        session.add(run)


def sync_source(
    engine: Engine,
    settings: Settings,
    source: SourceSettings,
    connector: Connector,
    *,
    now: dt.datetime | None = None,
    account: str | None = None,
    on_account: Callable[[str], None] | None = None,
    run_accounts: AccountsRunner | None = None,
) -> SyncReport:
    """Sync every account a source reaches (or the one named ``account``).

    ``run_accounts`` syncs the listed accounts elsewhere (Celery workers) and yields each
    one's outcomes in the order given; by default they are synced here, one after another.
    """
    now = now or dt.datetime.now(dt.UTC)
    report = SyncReport(source=source.name)
    listing = _list_accounts(engine, source, connector, report)
    if listing is None:
        return report
    accounts, unreachable = listing
    network = getattr(connector, "name", source.kind)
    if account is not None:
        accounts, unreachable = _only_account(accounts, unreachable, account, network)
    for ext, err in unreachable.items():
        report.outcomes.append(account_failure(engine, source, network, ext, err))
    report.outcomes.extend(_sync_accounts(
        engine, settings, source, connector, accounts,
        now=now, on_account=on_account, run_accounts=run_accounts,
    ))
    if not unreachable and account is None:
        with session_scope(engine) as session:  # every account answered: clears old failures
            session.add(SyncRun(
                source=source.name, stream="accounts", rows=len(accounts), status="succeeded",
                finished_at=utcnow(),
            ))
    if isinstance(connector, FxSource) and accounts:
        report.outcomes.append(sync_fx(engine, settings, source, connector, accounts, now=now))
    return report


def _list_accounts(
    engine: Engine, source: SourceSettings, connector: Connector, report: SyncReport
) -> tuple[list[AccountRecord], dict[str, ConnectorError]] | None:
    """The accounts the source reaches and those that would not answer; None (the failure
    recorded and reported) when even the listing failed."""
    try:
        return connector.list_accounts(), {}
    except PartialAccountList as partial:  # the accounts that answered still sync
        return list(partial.accounts), dict(partial.failures)
    except Exception as exc:  # reported, never raised: the other sources still sync
        log.error("source %s: listing accounts failed: %s", source.name, _error_text(exc))
        _record_failure(engine, SyncRun(source=source.name, stream="accounts"), exc)
        report.outcomes.append(
            StreamOutcome(source.name, "accounts", "failed", error=_error_text(exc))
        )
        return None


def _only_account(
    accounts: list[AccountRecord], unreachable: dict[str, ConnectorError], account: str,
    network: str,
) -> tuple[list[AccountRecord], dict[str, ConnectorError]]:
    """The listing narrowed to the one account asked for, by external id or network:id."""
    return (
        [a for a in accounts if account in (a.external_id, f"{a.network}:{a.external_id}")],
        {ext: err for ext, err in unreachable.items() if account in (ext, f"{network}:{ext}")},
    )


def _sync_accounts(
    engine: Engine,
    settings: Settings,
    source: SourceSettings,
    connector: Connector,
    accounts: list[AccountRecord],
    *,
    now: dt.datetime,
    on_account: Callable[[str], None] | None,
    run_accounts: AccountsRunner | None,
) -> list[StreamOutcome]:
    """Each account's outcomes in the listing's order, synced here or on the workers."""
    outcomes: list[StreamOutcome] = []
    if run_accounts is None:
        for record in accounts:
            outcomes.extend(sync_account(engine, settings, source, connector, record, now=now))
            if on_account:
                on_account(f"{record.network}:{record.external_id}")
    else:  # on workers: the same per-account unit of work, its outcomes in the same order
        for account_outcomes in run_accounts(source, accounts, now):
            outcomes.extend(account_outcomes)
            if on_account and account_outcomes:
                on_account(account_outcomes[0].account)
    return outcomes


def account_failure(
    engine: Engine, source: SourceSettings, network: str, ext: str, err: BaseException
) -> StreamOutcome:
    """An account the platform would not let us read (or whose task on the workers gave
    up): named in the output and in a SyncRun.

    An account synced before fails its ``entities`` stream (a later success clears it, as
    for any stream); one never synced has no row yet and fails the source's ``accounts``.
    """
    label = f"{network}:{ext}"
    log.error("%s: account could not be read: %s", label, err)
    with session_scope(engine) as session:
        account_id = session.scalars(
            select(col(AdAccount.id)).where(col(AdAccount.network) == network,
                                            col(AdAccount.external_id) == ext)
        ).first()
        stream = "entities" if account_id is not None else "accounts"
        session.add(SyncRun(
            account_id=account_id, source=source.name, stream=stream, status="failed",
            error=f"{label}: {_error_text(err)}"[:4000], finished_at=utcnow(),
        ))
    return StreamOutcome(label, stream, "failed", error=_error_text(err))


def sync_fx(
    engine: Engine,
    settings: Settings,
    source: SourceSettings,
    connector: FxSource,
    accounts: list[AccountRecord],
    *,
    now: dt.datetime,
) -> StreamOutcome:
    """Daily rates into each reporting currency the synced accounts' portfolios use."""
    from campaigns.admin.fx import RateIn, upsert_rates

    end = now.date() + dt.timedelta(days=1)
    start = now.date() - dt.timedelta(days=settings.sync.history_days + 1)
    run = SyncRun(source=source.name, stream="fx", window_start=start, window_end=end)
    try:
        with session_scope(engine) as session:
            quotes = {
                resolve_portfolio(
                    session, settings,
                    portfolio_name_for(settings, source, a.network, a.external_id),
                ).reporting_currency
                for a in accounts
            }
            rates = [
                RateIn(r.date, r.currency, r.quote, r.rate)
                for quote in sorted(quotes)
                for r in connector.fx_rates(start, end, quote)
            ]
            changed = upsert_rates(session, rates, actor=f"sync:{source.name}")
            run.rows, run.status, run.finished_at = changed, "succeeded", utcnow()
            session.add(run)
        return StreamOutcome(source.name, "fx", "succeeded", rows=changed, window=(start, end))
    except Exception as exc:
        log.error("source %s: exchange rates failed: %s", source.name, _error_text(exc))
        _record_failure(engine, run, exc)
        return StreamOutcome(source.name, "fx", "failed", error=_error_text(exc))


def sync_account(
    engine: Engine,
    settings: Settings,
    source: SourceSettings,
    connector: Connector,
    record: AccountRecord,
    *,
    now: dt.datetime,
) -> list[StreamOutcome]:
    """Sync one account: store it, then its entities, then (if those worked) its metrics."""
    label = f"{record.network}:{record.external_id}"
    # The account first, on its own: a later failure is then recorded against it.
    run = SyncRun(source=source.name, stream="entities")
    try:
        run.account_id = _store_account(engine, settings, source, record)
        n = _sync_entities(engine, source, connector, record, run)
    except Exception as exc:
        log.error("%s: entities failed: %s", label, _error_text(exc))
        _record_failure(engine, run, exc, label)
        return [StreamOutcome(label, "entities", "failed", error=_error_text(exc))]
    entities = StreamOutcome(label, "entities", "succeeded", rows=n)
    return [entities, _sync_metrics(engine, settings, source, connector, label,
                                    run.account_id, now=now)]


def _store_account(
    engine: Engine, settings: Settings, source: SourceSettings, record: AccountRecord
) -> int | None:
    """Upsert the account into its portfolio; its id."""
    with session_scope(engine) as session:
        portfolio = resolve_portfolio(
            session, settings,
            portfolio_name_for(settings, source, record.network, record.external_id),
        )
        assert portfolio.id is not None
        stored = upsert_account(session, record, source=source.name, portfolio_id=portfolio.id)
        return stored.id


def _sync_entities(
    engine: Engine, source: SourceSettings, connector: Connector, record: AccountRecord,
    run: SyncRun,
) -> int:
    """Entities: campaigns and ad sets in one unit of work; the rows upserted. Read from the
    platform first, so no database connection waits on its calls."""
    campaigns = list(connector.list_campaigns(record.external_id))
    ad_sets = list(connector.list_ad_sets(record.external_id))
    with session_scope(engine) as session:
        acc = session.get(AdAccount, run.account_id)
        assert acc is not None
        campaign_ids = upsert_campaigns(session, acc, campaigns)
        n = len(campaign_ids) + upsert_ad_sets(session, campaign_ids, ad_sets)
        session.add(SyncRun(
            account_id=acc.id, source=source.name, stream="entities", rows=n,
            status="succeeded", finished_at=utcnow(), started_at=run.started_at,
        ))
    return n


def _sync_metrics(
    engine: Engine, settings: Settings, source: SourceSettings, connector: Connector,
    label: str, account_id: int | None, *, now: dt.datetime,
) -> StreamOutcome:
    """Metrics: the whole window in one unit of work, so a failure half-way keeps the old rows."""
    run = SyncRun(source=source.name, stream="metrics", account_id=account_id)
    try:
        # A session per phase: no database connection is held while the platform prepares
        # its report (Meta's async insights take seconds to minutes), so a worker's task
        # slots wait on the platform without using up PostgreSQL's connections.
        with session_scope(engine) as session:
            acc = session.get(AdAccount, account_id)
            assert acc is not None
            start, end = metrics_window(
                session, acc, today=local_today(now, acc.timezone),
                lookback_days=settings.sync.lookback_days,
                history_days=settings.sync.history_days,
            )
            session.expunge(acc)
        run.window_start, run.window_end = start, end
        records: list[MetricRecord] = []
        reach = None
        if start <= end:  # the platform's part: the report waited for, its rows read
            records = list(connector.daily_metrics(acc.external_id, start, end))
            reach = fetch_period_reach(connector, acc, start, end)
        with session_scope(engine) as session:  # the window's rows: one unit of work
            acc = session.merge(acc, load=False)
            rows = 0
            if start <= end:
                rows = load_metrics(session, connector, acc, start, end, records,
                                    observed_at=now)
                load_period_reach(session, connector, acc, start, end, reach or [])
            session.add(SyncRun(
                account_id=acc.id, source=source.name, stream="metrics", rows=rows,
                window_start=start, window_end=end, status="succeeded",
                started_at=run.started_at, finished_at=utcnow(),
            ))
        return StreamOutcome(label, "metrics", "succeeded", rows, (start, end))
    except Exception as exc:
        log.error("%s: metrics failed: %s", label, _error_text(exc))
        _record_failure(engine, run, exc, label)
        return StreamOutcome(label, "metrics", "failed", error=_error_text(exc))
