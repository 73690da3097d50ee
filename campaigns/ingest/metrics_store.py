"""Idempotent writes of daily metrics, synced or imported, and the per-account day totals.

Everything here flushes; the caller's unit of work commits once. An upsert only touches a row
whose values changed, so re-running a sync or an import changes nothing. Large batches go
through a staging table with COPY on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, text
from sqlmodel import Session

from campaigns.columns import utcnow
from optimizer.completion import HORIZON

# Days this old or younger on the day they are read are still restating: their reads are
# what the completion curves learn from. An older day counts as complete, so rewriting it
# (a backfill, a re-imported history) keeps no observation, which would only grow the table.
OBSERVED_DAYS = HORIZON

METRIC_VALUE_COLUMNS = ("spend", "impressions", "clicks", "conversions", "revenue")
# Counts a platform may leave out (None, stored as NULL). A writer that carries none of them
# (with_social=False) leaves whatever the rows already hold.
SOCIAL_COLUMNS = (
    "reach", "video_views", "engagements", "reactions", "comments", "shares", "follows",
)  # fmt: skip

_METRIC_COLUMNS = (
    "campaign_id", "account_id", "date", *METRIC_VALUE_COLUMNS, *SOCIAL_COLUMNS,
    "daily_budget", "updated_at",
)  # fmt: skip


def _metric_columns(with_budget: bool, with_social: bool = False) -> list[str]:
    return [
        c for c in _METRIC_COLUMNS
        if (with_budget or c != "daily_budget") and (with_social or c not in SOCIAL_COLUMNS)
    ]


def _upsert_metrics_sql(
    dialect: str, with_budget: bool, *, with_social: bool = False, source: str | None = None
) -> str:
    """The upsert, reading bound parameters, or ``source`` (a table of the same columns)."""
    columns = _metric_columns(with_budget, with_social)
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


def upsert_metrics(
    session: Session, rows: Sequence[dict[str, Any]], *, observed_at: dt.datetime | None = None
) -> int:
    """Insert or overwrite campaign-days; a row whose values did not change is left alone.

    Each row: campaign_id, account_id, date, spend, impressions, clicks, conversions, revenue
    and optionally the social counts and daily_budget. This is the import's and the sync's
    hot path, so it speaks the driver's own SQL: the ORM's per-value processing costs more
    than the database.
    """
    if not rows:
        return 0
    with_budget = any(r.get("daily_budget") is not None for r in rows)
    with_social = any(c in r for r in rows for c in SOCIAL_COLUMNS)
    params = [
        (
            r["campaign_id"], r["account_id"], r["date"], r["spend"], r["impressions"],
            r["clicks"], r["conversions"], r["revenue"],
            *((r.get(c) for c in SOCIAL_COLUMNS) if with_social else ()),
            *((r.get("daily_budget"),) if with_budget else ()),
        )
        for r in rows
    ]
    return upsert_metric_tuples(
        session, params, with_budget=with_budget, with_social=with_social,
        observed_at=observed_at,
    )


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


# sum() of only NULLs is NULL, so a day no campaign reported a count for stays "unreported".
_DAY_TOTALS = ("spend", "impressions", "clicks", "conversions", "revenue", *SOCIAL_COLUMNS)


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, Decimal):
        return str(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def upsert_metric_tuples(
    session: Session | Connection,
    params: Sequence[tuple[Any, ...]],
    *,
    with_budget: bool,
    with_social: bool = False,
    source: str = "store",
    observed_at: dt.datetime | None = None,
) -> int:
    """The same upsert for rows already in column order: campaign_id, account_id, date,
    spend, impressions, clicks, conversions, revenue[, the SOCIAL_COLUMNS][, daily_budget].

    Money may be a Decimal or an already validated decimal string (the CSV import passes the
    file's own text, which the database reads exactly). A row whose conversions or revenue
    differ from the stored day (or a new day) is also kept as a ``MetricObservation`` by
    ``source`` at ``observed_at`` (default now): the restatements nowcasting learns from,
    for the days at most ``OBSERVED_DAYS`` old then (older days no longer restate).
    """
    if not params:
        return 0
    conn = session.connection() if isinstance(session, Session) else session
    dialect = conn.dialect.name
    now = utcnow()
    seen = observed_at or now
    if dialect == "sqlite":
        # Stored the way SQLAlchemy stores them, so ORM reads see the same values; SQLite
        # cannot bind a Decimal, and its NUMERIC affinity reads decimal text as a number.
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        if isinstance(params[0][2], dt.date) or isinstance(params[0][3], Decimal):
            params = [tuple(map(_sqlite_value, row)) for row in params]
        _observe_rows(conn, params, source, seen.strftime("%Y-%m-%d %H:%M:%S.%f"),
                      _young_from(seen))
        params = [(*row, stamp) for row in params]
    elif dialect == "postgresql" and len(params) >= COPY_THRESHOLD:
        return _copy_upsert(
            conn, params, with_budget=with_budget, with_social=with_social, now=now,
            source=source, observed_at=seen,
        )
    else:
        _observe_rows(conn, params, source, seen, _young_from(seen))
        params = [(*row, now) for row in params]
    conn.exec_driver_sql(_upsert_metrics_sql(dialect, with_budget, with_social=with_social), params)
    return len(params)


def _observe_sql(dialect: str) -> str:
    """Keep a row's conversions and revenue unless the stored day already holds them.

    Run before the upsert, so "stored" is the previous read. PostgreSQL types the bound
    values itself (the import binds decimal text); SQLite's column affinity does that.
    """
    if dialect == "sqlite":
        values = "?, ?, ?, ?, ?, ?"
        match = "campaign_id = ? AND date = ? AND conversions = ? AND revenue = ?"
    else:
        values = ("CAST(%s AS integer), CAST(%s AS date), CAST(%s AS timestamptz), "
                  "CAST(%s AS numeric), CAST(%s AS numeric), CAST(%s AS varchar)")
        match = ("campaign_id = CAST(%s AS integer) AND date = CAST(%s AS date) "
                 "AND conversions = CAST(%s AS numeric) AND revenue = CAST(%s AS numeric)")
    return (
        f"INSERT INTO {_OBSERVATIONS} SELECT {values} "
        f"WHERE NOT EXISTS (SELECT 1 FROM dailymetric WHERE {match})"
    )


_OBSERVATIONS = "metricobservation (campaign_id, date, observed_at, conversions, revenue, source)"


def _young_from(seen: dt.datetime) -> dt.date:
    """The oldest day still restating when read at ``seen`` (its UTC day)."""
    day = seen.astimezone(dt.UTC).date() if seen.tzinfo else seen.date()
    return day - dt.timedelta(days=OBSERVED_DAYS)


def _observe_rows(
    conn: Any, params: Sequence[tuple[Any, ...]], source: str, seen: Any, young_from: dt.date
) -> None:
    # Columns 0, 2, 6 and 7 of a row: campaign_id, date, conversions, revenue. A date is a
    # date or its ISO text (the import's, SQLite's): ISO days compare as text.
    first = young_from.isoformat()
    rows = [(r[0], r[2], seen, r[6], r[7], source, r[0], r[2], r[6], r[7]) for r in params
            if (r[2].isoformat() if isinstance(r[2], dt.date) else str(r[2])[:10]) >= first]
    if rows:
        conn.exec_driver_sql(_observe_sql(conn.dialect.name), rows)


COPY_THRESHOLD = 200
_STAGE = "_metric_stage"


def _copy_upsert(
    conn: Any, params: Sequence[tuple[Any, ...]], *, with_budget: bool, with_social: bool,
    now: Any, source: str, observed_at: Any,
) -> int:
    """PostgreSQL's fast path: COPY the batch into a temporary table, then one upsert.

    Row-by-row upserts cost a round trip and a plan each; COPY streams the batch.
    """
    columns = _metric_columns(with_budget, with_social)
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {_STAGE} ("
        "campaign_id integer, account_id integer, date date, spend numeric, "
        "impressions bigint, clicks bigint, conversions numeric, revenue numeric, "
        + "".join(f"{c} bigint, " for c in SOCIAL_COLUMNS)
        + "daily_budget numeric, updated_at timestamptz) ON COMMIT DROP"
    )
    conn.exec_driver_sql(f"TRUNCATE {_STAGE}")
    raw = conn.connection.driver_connection
    with raw.cursor() as cur, cur.copy(
        f"COPY {_STAGE} ({', '.join(columns)}) FROM STDIN"
    ) as copy:
        for row in params:
            copy.write_row((*row, now))
    # The batch's restated or new days, read against the stored ones before the upsert.
    conn.exec_driver_sql(
        f"INSERT INTO {_OBSERVATIONS} SELECT s.campaign_id, s.date, %s, s.conversions, "
        f"s.revenue, %s FROM {_STAGE} s LEFT JOIN dailymetric d "
        "ON d.campaign_id = s.campaign_id AND d.date = s.date "
        "WHERE s.date >= %s AND (d.id IS NULL OR d.conversions <> s.conversions "
        "OR d.revenue <> s.revenue)",
        (observed_at, source, _young_from(observed_at)),
    )
    conn.exec_driver_sql(
        _upsert_metrics_sql("postgresql", with_budget, with_social=with_social, source=_STAGE)
    )
    return len(params)
