"""Idempotent writes of synced and imported data.

Everything here adds and flushes; the caller's unit of work commits once. Metric upserts only
touch a row whose values changed, so re-running a sync or an import changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    bindparam,
    insert,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from campaigns.db import table_of
from campaigns.errors import ValidationError
from campaigns.models import AdAccount, AdSet, Campaign, Portfolio, utcnow
from connectors.base import AccountRecord, AdSetRecord, CampaignRecord

T = TypeVar("T")
METRIC_VALUE_COLUMNS = ("spend", "impressions", "clicks", "conversions", "revenue")


def get_or_create_portfolio(
    session: Session, name: str = "default", *, reporting_currency: str = "EUR"
) -> Portfolio:
    def find() -> Portfolio | None:
        return session.scalars(select(Portfolio).where(col(Portfolio.name) == name)).first()

    portfolio = find()
    if portfolio is None:
        portfolio = _insert_or_find(
            session, Portfolio(name=name, reporting_currency=reporting_currency), find
        )
    return portfolio


def _insert_or_find(session: Session, row: T, find: Callable[[], T | None]) -> T:
    """Insert ``row``, or take the one a concurrent unit of work inserted under the same key.

    Workers sync accounts side by side: two of them may each create the same portfolio (or,
    when a task is delivered again while still running, the same account) at once.
    """
    if session.get_bind().dialect.name == "sqlite":
        # pysqlite opens no transaction for a SAVEPOINT, so releasing one would commit the
        # caller's work (a rejected CSV file must write nothing). SQLite has one writer at a
        # time anyway: there the rows are written as before.
        session.add(row)
        session.flush()
        return row
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
        return row
    except IntegrityError:
        found = find()
        if found is None:
            raise
        return found


def upsert_account(
    session: Session, record: AccountRecord, *, source: str, portfolio_id: int
) -> AdAccount:
    """Create or refresh an account. Its currency is fixed at creation, as on the platforms."""
    def find() -> AdAccount | None:
        return session.scalars(
            select(AdAccount).where(
                col(AdAccount.network) == record.network,
                col(AdAccount.external_id) == record.external_id,
            )
        ).first()

    account = find()
    if account is None:
        return _insert_or_find(session, AdAccount(
            portfolio_id=portfolio_id,
            network=record.network,
            external_id=record.external_id,
            name=record.name,
            currency=record.currency,
            timezone=record.timezone,
            source=source,
            status=record.status,
        ), find)
    if account.currency != record.currency:
        raise ValidationError(
            f"account {record.network}:{record.external_id} is in {account.currency}, "
            f"but the platform now reports {record.currency}; an account's currency is fixed "
            "at creation, so this needs a human"
        )
    changed = (account.name, account.timezone, account.status, account.source) != (
        record.name, record.timezone, record.status, source
    )
    if changed:
        account.name, account.timezone, account.status = record.name, record.timezone, record.status
        account.source = source
        account.updated_at = utcnow()
        session.add(account)
    return account


_CAMPAIGN_FIELDS = (
    "name", "status", "effective_status", "objective", "bid_strategy", "budget_level",
    "budget_external_id", "budget_shared", "daily_budget", "lifetime_budget",
)  # fmt: skip


def upsert_campaigns(
    session: Session, account: AdAccount, records: Iterable[CampaignRecord]
) -> dict[str, int]:
    """Create or refresh campaigns; returns campaign ids by external id.

    Core statements, not ORM objects: an account of 5,000 campaigns is synced every night,
    and building and flushing an object per campaign cost more than the database. A
    campaign whose fields did not change keeps its ``updated_at``.
    """
    table = table_of(Campaign)
    fields = [table.c[f] for f in _CAMPAIGN_FIELDS]
    existing = {
        row[0]: row
        for row in session.execute(
            select(table.c.external_id, table.c.id, *fields).where(
                table.c.account_id == account.id
            )
        )
    }
    latest = {rec.external_id: [getattr(rec, f) for f in _CAMPAIGN_FIELDS] for rec in records}
    now = utcnow()
    new, changed = [], []
    for ext, values in latest.items():
        row = existing.get(ext)
        if row is None:
            new.append({"account_id": account.id, "network": account.network,
                        "external_id": ext, **dict(zip(_CAMPAIGN_FIELDS, values, strict=True)),
                        "created_at": now, "updated_at": now})
        elif list(row[2:]) != values:
            changed.append({"cid": row[1], "now": now,
                            **{f"v_{f}": v for f, v in zip(_CAMPAIGN_FIELDS, values, strict=True)}})
    if new:
        session.execute(insert(table), new)
    if changed:
        session.execute(
            update(table).where(table.c.id == bindparam("cid")).values(
                updated_at=bindparam("now"), **{f: bindparam(f"v_{f}") for f in _CAMPAIGN_FIELDS}
            ),
            changed,
        )
    ids = {ext: row[1] for ext, row in existing.items()}
    if new:
        ids.update(session.execute(
            select(table.c.external_id, table.c.id).where(table.c.account_id == account.id)
        ).all())
    return ids


def ensure_campaigns(
    session: Session, account: AdAccount, external_ids: Iterable[str], known: dict[str, int]
) -> dict[str, int]:
    """Make sure metrics never lose spend: a campaign seen only in metrics is created."""
    missing = sorted(set(external_ids) - known.keys())
    assert account.id is not None  # the account row is stored before its campaigns
    for ext in missing:
        campaign = Campaign(
            account_id=account.id, network=account.network, external_id=ext,
            name=ext, status="unknown",
        )
        session.add(campaign)
        session.flush()
        assert campaign.id is not None  # the flush gave it one
        known[ext] = campaign.id
    return known


_AD_SET_FIELDS = ("name", "status", "daily_budget", "lifetime_budget")


def upsert_ad_sets(
    session: Session, campaign_ids: dict[str, int], records: Iterable[AdSetRecord]
) -> int:
    """Create or refresh ad sets (Core statements, as for campaigns)."""
    records = [r for r in records if r.campaign_external_id in campaign_ids]
    table = table_of(AdSet)
    ids = sorted(set(campaign_ids.values()))
    existing: dict[tuple[int, str], Any] = {}
    for i in range(0, len(ids), 5000):
        for found in session.execute(
            select(table.c.campaign_id, table.c.external_id, table.c.id,
                   *(table.c[f] for f in _AD_SET_FIELDS))
            .where(table.c.campaign_id.in_(ids[i : i + 5000]))
        ):
            existing[(found[0], found[1])] = found
    latest = {
        (campaign_ids[r.campaign_external_id], r.external_id):
            [r.name, r.status, r.daily_budget, r.lifetime_budget]
        for r in records
    }
    now = utcnow()
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for (cid, ext), values in latest.items():
        row = existing.get((cid, ext))
        if row is None:
            new.append({"campaign_id": cid, "external_id": ext, "updated_at": now,
                        **dict(zip(_AD_SET_FIELDS, values, strict=True))})
        elif list(row[3:]) != values:
            changed.append({"aid": row[2], "now": now,
                            **{f"v_{f}": v for f, v in zip(_AD_SET_FIELDS, values, strict=True)}})
    if new:
        session.execute(insert(table), new)
    if changed:
        session.execute(
            update(table).where(table.c.id == bindparam("aid")).values(
                updated_at=bindparam("now"), **{f: bindparam(f"v_{f}") for f in _AD_SET_FIELDS}
            ),
            changed,
        )
    return len(records)


_METRIC_COLUMNS = (
    "campaign_id", "account_id", "date", *METRIC_VALUE_COLUMNS, "daily_budget", "updated_at",
)  # fmt: skip


def _metric_columns(with_budget: bool) -> list[str]:
    return [c for c in _METRIC_COLUMNS if with_budget or c != "daily_budget"]


def _upsert_metrics_sql(dialect: str, with_budget: bool, *, source: str | None = None) -> str:
    """The upsert, reading bound parameters, or ``source`` (a table of the same columns)."""
    columns = _metric_columns(with_budget)
    mark = "?" if dialect == "sqlite" else "%s"
    distinct = "IS NOT" if dialect == "sqlite" else "IS DISTINCT FROM"
    compared = [c for c in columns if c not in ("campaign_id", "date", "updated_at")]
    rows = (
        f"SELECT {', '.join(columns)} FROM {source}" if source
        else f"VALUES ({', '.join([mark] * len(columns))})"
    )
    return (
        f"INSERT INTO dailymetric ({', '.join(columns)}) {rows} "
        "ON CONFLICT (campaign_id, date) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in columns if c not in ("campaign_id", "date"))
        + " WHERE "
        + " OR ".join(f"dailymetric.{c} {distinct} excluded.{c}" for c in compared)
    )


def upsert_metrics(session: Session, rows: Sequence[dict[str, Any]]) -> int:
    """Insert or overwrite campaign-days; a row whose values did not change is left alone.

    Each row: campaign_id, account_id, date, spend, impressions, clicks, conversions, revenue
    and optionally daily_budget. This is the import's and the sync's hot path, so it speaks
    the driver's own SQL: the ORM's per-value processing costs more than the database.
    """
    if not rows:
        return 0
    with_budget = any(r.get("daily_budget") is not None for r in rows)
    params = [
        (
            r["campaign_id"], r["account_id"], r["date"], r["spend"], r["impressions"],
            r["clicks"], r["conversions"], r["revenue"],
            *((r.get("daily_budget"),) if with_budget else ()),
        )
        for r in rows
    ]
    return upsert_metric_tuples(session, params, with_budget=with_budget)


def refresh_account_days(
    session: Session | Connection, account_ids: Iterable[int], start: Any, end: Any
) -> None:
    """Recompute the accounts' daily totals (``AccountDay``) for ``start..end`` from their
    campaign rows. Every writer of metrics calls it once before it commits."""
    ids = sorted(set(account_ids))
    if not ids or start is None or end is None:
        return
    conn = session.connection() if isinstance(session, Session) else session
    values = ", ".join(f"{c} = excluded.{c}" for c in _DAY_TOTALS)
    sums = ", ".join(f"sum({c})" for c in _DAY_TOTALS)
    # The WHERE clause also tells SQLite's parser that ON CONFLICT belongs to the INSERT.
    for i in range(0, len(ids), 500):
        conn.execute(
            text(
                f"INSERT INTO accountday (account_id, date, {', '.join(_DAY_TOTALS)}) "
                f"SELECT account_id, date, {sums} FROM dailymetric "
                "WHERE account_id IN :ids AND date >= :start AND date <= :end "
                f"GROUP BY account_id, date ON CONFLICT (account_id, date) DO UPDATE SET {values}"
            ).bindparams(bindparam("ids", expanding=True)),
            # ISO text compares right on both: SQLite keeps dates as text, PostgreSQL casts.
            {"ids": ids[i : i + 500], "start": str(start), "end": str(end)},
        )


_DAY_TOTALS = ("spend", "impressions", "clicks", "conversions", "revenue")


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def upsert_metric_tuples(
    session: Session | Connection, params: Sequence[tuple[Any, ...]], *, with_budget: bool
) -> int:
    """The same upsert for rows already in column order: campaign_id, account_id, date,
    spend, impressions, clicks, conversions, revenue[, daily_budget].

    Money may be a Decimal or an already validated decimal string (the CSV import passes the
    file's own text, which the database reads exactly).
    """
    if not params:
        return 0
    conn = session.connection() if isinstance(session, Session) else session
    dialect = conn.dialect.name
    now = utcnow()
    if dialect == "sqlite":
        # Stored the way SQLAlchemy stores them, so ORM reads see the same values; SQLite
        # cannot bind a Decimal, and its NUMERIC affinity reads decimal text as a number.
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        if isinstance(params[0][2], dt.date) or isinstance(params[0][3], Decimal):
            params = [(*map(_sqlite_value, row), stamp) for row in params]
        else:  # already text and integers, as the CSV import hands them over
            params = [(*row, stamp) for row in params]
    elif dialect == "postgresql" and len(params) >= COPY_THRESHOLD:
        return _copy_upsert(conn, params, with_budget=with_budget, now=now)
    else:
        params = [(*row, now) for row in params]
    conn.exec_driver_sql(_upsert_metrics_sql(dialect, with_budget), params)
    return len(params)


COPY_THRESHOLD = 200
_STAGE = "_metric_stage"


def _copy_upsert(
    conn: Any, params: Sequence[tuple[Any, ...]], *, with_budget: bool, now: Any
) -> int:
    """PostgreSQL's fast path: COPY the batch into a temporary table, then one upsert.

    Row-by-row upserts cost a round trip and a plan each; COPY streams the batch.
    """
    columns = _metric_columns(with_budget)
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ("
        "campaign_id integer, account_id integer, date date, spend numeric, "
        "impressions bigint, clicks bigint, conversions numeric, revenue numeric, "
        "daily_budget numeric, updated_at timestamptz) ON COMMIT DROP"
    )
    conn.exec_driver_sql(f"TRUNCATE {_STAGE}")
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(
        f"COPY {_STAGE} ({', '.join(columns)}) FROM STDIN"
    ) as copy:
        for row in params:
            copy.write_row((*row, now))
    conn.exec_driver_sql(_upsert_metrics_sql("postgresql", with_budget, source=_STAGE))
    return len(params)


def find_or_create_campaigns(
    session: Session, wanted: dict[tuple[int, str], str], campaigns: dict[tuple[int, str], int]
) -> int:
    """Find or create campaigns in bulk: ``wanted`` maps (account id, external id) to a name;
    ``campaigns`` receives their ids. Returns how many were created."""
    keys = list(wanted)
    for i in range(0, len(keys), 500):
        part = keys[i : i + 500]
        found = session.execute(
            select(col(Campaign.account_id), col(Campaign.external_id), col(Campaign.id)).where(
                tuple_(col(Campaign.account_id), col(Campaign.external_id)).in_(part)
            )
        ).all()
        for account_id, ext, cid in found:
            campaigns[(account_id, ext)] = cid
    new = [k for k in keys if k not in campaigns]
    if not new:
        return 0
    networks = dict(session.execute(
        select(col(AdAccount.id), col(AdAccount.network)).where(
            col(AdAccount.id).in_({k[0] for k in new})
        )
    ).all())
    now = utcnow()
    session.execute(insert(table_of(Campaign)), [
        {"account_id": a, "external_id": e, "network": networks[a], "name": wanted[(a, e)],
         "status": "active", "budget_level": "campaign", "budget_shared": False,
         "created_at": now, "updated_at": now}
        for a, e in new
    ])
    for i in range(0, len(new), 500):
        part = new[i : i + 500]
        for account_id, ext, cid in session.execute(
            select(col(Campaign.account_id), col(Campaign.external_id), col(Campaign.id)).where(
                tuple_(col(Campaign.account_id), col(Campaign.external_id)).in_(part)
            )
        ).all():
            campaigns[(account_id, ext)] = cid
    return len(new)


def set_names_and_budgets(
    session: Session, latest: dict[int, tuple[str, Any]]
) -> None:
    """Campaign id -> (name, current daily budget or None: keep the budget), in bulk."""
    table = table_of(Campaign)
    now = utcnow()
    with_budget = [
        {"cid": cid, "name": name, "budget": budget, "now": now}
        for cid, (name, budget) in latest.items() if budget is not None
    ]
    name_only = [
        {"cid": cid, "name": name, "now": now}
        for cid, (name, budget) in latest.items() if budget is None
    ]
    # One statement per kind, executed for many rows; unchanged campaigns keep updated_at.
    if with_budget:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("cid"))
            .where(or_(table.c.name != bindparam("name"),
                       table.c.daily_budget.is_distinct_from(bindparam("budget"))))
            .values(name=bindparam("name"), daily_budget=bindparam("budget"),
                    updated_at=bindparam("now")),
            with_budget,
        )
    if name_only:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("cid"), table.c.name != bindparam("name"))
            .values(name=bindparam("name"), updated_at=bindparam("now")),
            name_only,
        )
