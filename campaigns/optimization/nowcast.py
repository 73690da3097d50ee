"""Nowcasting: learn how fast each network's (and account's) conversions arrive from the
observations the store kept, and tell the fit how complete each recent day is.

A day's observations are the values each sync or import saw of it, at the age it had then;
a day counts as followed until its account's last read (a read that found nothing new writes
no observation). Read as of `today`: an observation made later is not known yet.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Float, Integer, String, cast, func, select, type_coerce
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from campaigns.columns import utcnow
from campaigns.db import among, driver_rows, table_of
from campaigns.lookup import get_portfolio
from campaigns.models import (
    AdAccount,
    Campaign,
    CompletionState,
    MetricObservation,
    OptimizationRun,
)
from campaigns.optimization.inputs import Unit
from optimizer.completion import (
    HORIZON,
    Cells,
    CompletionCurves,
    Observations,
    day_cells,
    learn_cells,
    learn_observations,
    update_cells,
)

# The days whose development is read: the horizon, and a month of days gone through it.
LEARN_DAYS = 2 * HORIZON
CHUNK = 100_000  # observations read per round trip
KEPT_RUNS = 5  # the newest runs whose kept curves may be reused (a what-if run in between)


@dataclass(frozen=True)
class LagState:
    """The learnt completion curves and each account's last read."""

    curves: CompletionCurves
    last_read: dict[int, dt.date] = field(default_factory=dict)  # account id -> day
    account_names: dict[int, tuple[str, str]] = field(default_factory=dict)  # network, ext id
    key: str | None = None  # what the curves were learnt from (see `_stamp`)
    reused: bool = False  # True: taken from the last run, which learnt them from the same
    # What `keep_cells` writes for the next learning (None: nothing new, or not to be kept).
    pending: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    def kept(self) -> dict[str, Any] | None:
        """What a run keeps (in its inputs) so that the next one need not learn again."""
        if self.key is None:
            return None
        return {"key": self.key, "curves": self.curves.to_state(),
                "last_read": {str(k): v.isoformat() for k, v in self.last_read.items()}}

    def keep_cells(self, session: Session) -> None:
        """Write what this learning kept of each account-day (`CompletionState`), for the
        next learning to read only what a sync restates. Called where the run is recorded,
        so that the write lock is taken at the end of the run, as before; a page that shows
        the curves writes nothing. One statement that inserts or replaces: two runs at once
        do not collide."""
        if self.pending is None:
            return
        values = {**self.pending, "updated_at": utcnow()}
        table = table_of(CompletionState)
        insert = (sqlite_insert if session.get_bind().dialect.name == "sqlite"
                  else postgresql_insert)(table).values(**values)
        session.execute(insert.on_conflict_do_update(
            index_elements=[table.c.portfolio_id],
            set_={k: insert.excluded[k] for k in values if k != "portfolio_id"}))

    def completion(self, account_id: int, dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expected share reported (and its sd) of the account's days, as last read; an
        account never observed reads as complete."""
        last = self.last_read.get(account_id)
        if last is None:
            return np.ones(len(dates)), np.zeros(len(dates))
        network, external = self.account_names[account_id]
        age = (np.datetime64(last, "D") - dates.astype("datetime64[D]")).astype(np.int64)
        return self.curves.curve(network, external).at(age)

    def to_json(self) -> dict[str, Any]:
        """``optimize --json``'s and the API's ``lag`` section."""
        return {"horizon_days": HORIZON,
                "curves": [c.report() for c in self.curves.all()]}


def load_lag(session: Session, accounts: Iterable[AdAccount], today: dt.date) -> LagState:
    """Learn the accounts' completion curves from the observations of recent days, or take
    them from the portfolio's last run when it learnt them from the same observations: at
    10,000 campaigns reading and learning from the observations costs seconds a run, and
    between two syncs nothing in them changes. After a sync only the days it restated are
    read again (`CompletionState`)."""
    by_id = {a.id: a for a in accounts if a.id is not None}
    networks = tuple(sorted({a.network for a in by_id.values()}))
    names = {i: (a.network, a.external_id) for i, a in by_id.items()}
    if not by_id:
        return LagState(learn_observations(_NONE, networks=networks))
    # The accounts' campaigns (id, account id), in id order.
    owners = np.array([row for part in driver_rows(
        session, select(col(Campaign.id), col(Campaign.account_id))
        .where(among(col(Campaign.account_id), by_id)).order_by(col(Campaign.id)), CHUNK)
        for row in part], dtype=np.int64).reshape(-1, 2)
    sqlite = session.get_bind().dialect.name == "sqlite"
    newest = int(session.scalar(select(func.max(col(MetricObservation.id)))) or 0)
    # SQLite has one writer at a time and never hands an id out again (AUTOINCREMENT), so
    # rows with ids up to the newest are all there is; on PostgreSQL a transaction may commit
    # a smaller id after a larger one, which the row count tells.
    total = 0 if sqlite else int(session.scalar(
        select(func.count()).select_from(MetricObservation)) or 0)
    of = _structure(by_id, owners)
    key = f"{today.isoformat()}|{newest}|{total}|{of}"
    kept = _last_kept(session, by_id, key)
    if kept is not None:
        return LagState(CompletionCurves.from_state(kept["curves"]),
                        {int(k): dt.date.fromisoformat(v) for k, v in kept["last_read"].items()},
                        names, key, reused=True)
    learner = _Learner(session, by_id, owners, today, sqlite)
    portfolios = {a.portfolio_id for a in by_id.values()}
    portfolio = portfolios.pop() if len(portfolios) == 1 else None
    state = session.get(CompletionState, portfolio) if portfolio is not None else None
    cells = learner.update(state, of, newest, total) if state is not None else None
    if cells is None:
        cells = learner.cells(learner.rows())
    pending = None
    if portfolio is not None and not learner.future:  # a later read would be missed
        pending = {"portfolio_id": portfolio, "key": of, "as_of": today, "watermark": newest,
                   "rows": total, "cells": _pack(cells, learner.account_ids)}
    return replace(learner.learn(cells, networks, names), key=key, pending=pending)


def _structure(accounts: dict[int, AdAccount], owners: np.ndarray) -> str:
    """What curves are of: the accounts, their campaigns, and the horizon (a campaign
    removed takes its observations with it)."""
    names = ",".join(f"{i}:{a.network}:{a.external_id}" for i, a in sorted(accounts.items()))
    digest = hashlib.sha256(names.encode())
    digest.update(np.ascontiguousarray(owners, dtype="<i8").tobytes())
    return f"{digest.hexdigest()[:24]}|{HORIZON}"


def _last_kept(
    session: Session, accounts: dict[int, AdAccount], key: str
) -> dict[str, Any] | None:
    """The curves one of the portfolio's newest runs kept, if it learnt them under ``key``
    (a run's id is no order: runs come newest first by their time)."""
    portfolios = {a.portfolio_id for a in accounts.values()}
    if len(portfolios) != 1:
        return None
    for inputs in session.scalars(
        select(col(OptimizationRun.inputs))
        .where(col(OptimizationRun.portfolio_id) == portfolios.pop())
        .order_by(col(OptimizationRun.created_at).desc()).limit(KEPT_RUNS)
    ):
        kept = inputs.get("completion") if isinstance(inputs, dict) else None
        if isinstance(kept, dict) and kept.get("key") == key:
            return kept
    return None


class _Learner:
    """Reads the observations of the learning window and turns them into cells (what each
    account-day contributes) and the cells into curves."""

    def __init__(self, session: Session, by_id: dict[int, AdAccount], owners: np.ndarray,
                 today: dt.date, sqlite: bool) -> None:
        self.session, self.by_id, self.owners, self.today = session, by_id, owners, today
        self.sqlite = sqlite
        self.account_ids = np.array(sorted(by_id), dtype=np.int64)
        self.today_n = (today - _EPOCH).days
        self.start_n = self.today_n - LEARN_DAYS
        self.future = False  # an observation made after `today` was seen (an --as-of run)

    def rows(self, dates: list[int] | None = None) -> dict[str, np.ndarray]:
        """The window's observations (or those of some of its days), in the order of the
        index: campaign, day, when seen."""
        o = MetricObservation
        # The campaigns by a subquery, not a join: SQLite then walks the observations' index
        # in the order asked for instead of sorting 800,000 rows by campaign.
        campaigns = select(col(Campaign.id)).where(among(col(Campaign.account_id), self.by_id))
        within = (col(o.date).in_([_EPOCH + dt.timedelta(days=d) for d in dates])
                  if dates is not None else
                  (col(o.date) >= self.today - dt.timedelta(days=LEARN_DAYS)) & (
                      col(o.date) < self.today))
        packed = self.sqlite and (len(self.owners) == 0 or int(self.owners[:, 0].max()) < _IDS)
        if packed:
            columns = [_packed_key(self.start_n), col(o.conversions)]
            layout = np.dtype([("key", np.int64), ("value", float)])
        elif self.sqlite:  # campaign ids too large to share an integer
            columns = [col(o.campaign_id), _sqlite_day(col(o.date)),
                       _sqlite_day(func.substr(col(o.observed_at), 1, 10)), col(o.conversions)]
            layout = np.dtype([("campaign", np.int64), ("date", np.int64),
                               ("seen", np.int64), ("value", float)])
        else:
            columns = [col(o.campaign_id), type_coerce(col(o.date), String),
                       type_coerce(col(o.observed_at), String), cast(col(o.conversions), Float)]
            layout = np.dtype([("campaign", np.int64), ("date", object), ("seen", object),
                               ("value", float)])
        statement = (
            select(*columns).where(col(o.campaign_id).in_(campaigns), within)
            .order_by(col(o.campaign_id), col(o.date), col(o.observed_at), col(o.id))
        )
        # The driver's own rows into typed columns a chunk at a time: Row objects, and a frame
        # built from them, cost seconds at a million observations.
        chunks = [np.array(part, dtype=layout)
                  for part in driver_rows(self.session, statement, CHUNK)]
        table = np.concatenate(chunks) if chunks else np.zeros(0, dtype=layout)
        del chunks
        if len(table) == 0:
            none = np.zeros(0, dtype=np.int64)
            return {"campaign": none, "date": none, "seen": none, "value": none.astype(float)}
        if packed:
            campaign, day, seen = _unpack_key(table["key"], self.start_n)
        elif self.sqlite:
            campaign, day, seen = table["campaign"], table["date"], table["seen"]
        else:
            campaign = table["campaign"]
            day = _day_numbers(pd.Series(table["date"]))
            seen = _day_numbers(pd.Series(table["seen"]))
        known = seen <= self.today_n  # read as of `today`: a later observation is not known
        if not known.all():
            self.future = True
        return {"campaign": np.asarray(campaign, dtype=np.int64)[known],
                "date": np.asarray(day, dtype=np.int64)[known],
                "seen": np.asarray(seen, dtype=np.int64)[known],
                "value": table["value"][known].astype(float)}

    def cells(self, rows: dict[str, np.ndarray]) -> Cells:
        # Each row's account as an index into the accounts, in numbers only: a frame of
        # strings per observation cost a second at 800,000 rows.
        owner = self.owners[np.searchsorted(self.owners[:, 0], rows["campaign"]), 1]
        account = np.searchsorted(self.account_ids, owner).astype(np.int64)
        # One integer per campaign-day (campaign id and day number): cheap to group by.
        return day_cells(rows["campaign"] * 100_000 + rows["date"], account, rows["date"],
                         rows["seen"], rows["value"])

    def update(self, state: CompletionState, of: str, newest: int, total: int) -> Cells | None:
        """The kept cells brought up to date, or None when they cannot be: of other accounts
        or campaigns, learnt as of a later day, or (PostgreSQL) an observation committed
        since with an id below the newest then."""
        if state.key != of or state.as_of > self.today or newest < state.watermark:
            return None
        o = MetricObservation
        if not self.sqlite:
            added = self.session.scalar(select(func.count()).select_from(o).where(
                col(o.id) > state.watermark))
            if total != state.rows + int(added or 0):
                return None
        kept = _unpack(state.cells)
        if kept is None or not np.array_equal(kept[1], self.account_ids):
            return None
        cells = kept[0]
        # The days restated since (or first seen), and the days the window took in since.
        # By the ids alone, which SQLite then reads as a range of its table (asked for the
        # accounts' campaigns too, or for distinct rows, it walks the whole campaign index
        # instead); the campaigns and the window sorted out here.
        added_rows = np.array([row for part in driver_rows(
            self.session, select(col(o.campaign_id), cast(
                func.julianday(col(o.date)) - _UNIX_JULIAN, Integer) if self.sqlite
                else col(o.date)).where(col(o.id) > state.watermark), CHUNK)
            for row in part], dtype=object).reshape(-1, 2)
        ours = np.isin(added_rows[:, 0].astype(np.int64), self.owners[:, 0])
        added_days = (added_rows[ours, 1].astype(np.int64) if self.sqlite
                      else _day_numbers(pd.Series(added_rows[ours, 1])))
        restated = {int(d) for d in added_days if self.start_n <= d < self.today_n}
        restated |= set(range(max((state.as_of - _EPOCH).days, self.start_n), self.today_n))
        days = sorted(restated)
        fresh = self.cells(self.rows(days)) if days else None
        return update_cells(cells, fresh, days, self.start_n, self.today_n)

    def learn(self, cells: Cells, networks: tuple[str, ...],
              names: dict[int, tuple[str, str]]) -> LagState:
        newest = np.full(len(self.account_ids), np.iinfo(np.int64).min)
        np.maximum.at(newest, cells.account, cells.seen)
        read = newest > np.iinfo(np.int64).min
        last = np.minimum(newest, self.today_n)
        last_read = {int(self.account_ids[i]): _EPOCH + dt.timedelta(days=int(last[i]))
                     for i in np.flatnonzero(read)}
        # The accounts' (network, external id) pairs, each once: the groups the curves are of.
        pairs = [names[int(i)] for i in self.account_ids]
        group_names = sorted(set(pairs))
        group_of = np.array([group_names.index(p) for p in pairs], dtype=np.int64)
        curves = learn_cells(cells, last_read=last, group=group_of, names=group_names,
                             networks=networks)
        return LagState(curves, last_read, names)


_CELL_FIELDS = tuple(f.name for f in fields(Cells))


def _pack(cells: Cells, account_ids: np.ndarray) -> bytes:
    """The cells and the accounts their indices are of, as one blob."""
    out = io.BytesIO()
    np.savez_compressed(out, account_ids=account_ids,
                        **{f: getattr(cells, f) for f in _CELL_FIELDS})
    return out.getvalue()


def _unpack(blob: bytes) -> tuple[Cells, np.ndarray] | None:
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            return Cells(*(data[f] for f in _CELL_FIELDS)), data["account_ids"]
    except (OSError, ValueError, KeyError):  # written by another version: learn again
        return None


_EPOCH = dt.date(1970, 1, 1)
_NONE = Observations(*(np.zeros(0, dtype=np.int64),) * 5, names=[])
_UNIX_JULIAN = 2440587.5  # the Julian day of 1970-01-01 (its midnight, as SQLite counts)

# SQLite's observations read as one integer and a value a row: each value the driver hands
# over is a Python object, and at 850,000 rows four of them cost more than the query. The
# campaign id in the high 32 bits, the day's place in the window in the next 8, and its age
# when read, offset by 2**23, in the low 24 (any two days SQLite can name are fewer than
# 2**22 apart).
_IDS = 1 << 31  # campaign ids below this share the integer (its sign bit stays clear)
_AGE_BITS, _AGE_OFFSET = 24, 1 << 23
assert LEARN_DAYS < 1 << (32 - _AGE_BITS)


def _sqlite_day(text: Any) -> Any:
    """Days since 1970 of a date's text in SQLite (a timestamp's first ten characters)."""
    return cast(func.julianday(text) - _UNIX_JULIAN, Integer)


def _packed_key(start: int) -> Any:
    """(campaign << 32) + ((day - start) << 24) + (read day - day + 2**23), written so that
    SQLite works out each day number once: read + day * (2**24 - 1) + a constant."""
    o = MetricObservation
    day = _sqlite_day(col(o.date))
    read = _sqlite_day(func.substr(col(o.observed_at), 1, 10))
    return (col(o.campaign_id) * (1 << 32) + read + day * ((1 << _AGE_BITS) - 1)
            + (_AGE_OFFSET - start * (1 << _AGE_BITS)))


def _unpack_key(key: np.ndarray, start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Campaign ids, day numbers and read day numbers of `_packed_key`s."""
    low = key & ((1 << 32) - 1)
    day = start + (low >> _AGE_BITS)
    return key >> 32, day, day + (low & ((1 << _AGE_BITS) - 1)) - _AGE_OFFSET


def _day_numbers(values: pd.Series) -> np.ndarray:
    """Days since 1970 of dates or timestamps as the driver hands them back: SQLite as text
    (timestamps naive UTC: their first ten characters are the UTC day), PostgreSQL as dates
    and aware datetimes."""
    if values.empty:
        return np.zeros(0, dtype=np.int64)
    # Few distinct days (and read times) among a million rows: convert each once.
    codes, uniques = pd.factorize(values)
    return _distinct_day_numbers(pd.Series(uniques, dtype=object))[codes]


def _distinct_day_numbers(values: pd.Series) -> np.ndarray:
    first = values.iloc[0]
    if isinstance(first, str):
        days = pd.to_datetime(values.str.slice(0, 10), format="%Y-%m-%d")
    elif isinstance(first, dt.datetime):
        days = pd.to_datetime(values, utc=True).dt.tz_convert(None)
    else:
        days = pd.to_datetime(values)
    return days.to_numpy().astype("datetime64[D]").astype(np.int64)


def portfolio_lag(session: Session, portfolio: str, today: dt.date) -> LagState:
    """The completion curves of a portfolio's accounts (`budgetpilot curves lag`, the API)."""
    owner = get_portfolio(session, portfolio)
    accounts = session.scalars(
        select(AdAccount).where(col(AdAccount.portfolio_id) == owner.id)).all()
    return load_lag(session, accounts, today)


def completion_frame(
    history: pd.DataFrame, units: list[Unit], lag: LagState, today: dt.date
) -> pd.DataFrame:
    """Each unit's recent days with the share of their final results reported so far, as
    the fit reads it (unit_id, date, share, share_sd); days complete by then are left out."""
    columns = ["unit_id", "date", "share", "share_sd"]
    if history.empty or not lag.last_read:
        return pd.DataFrame(columns=columns)
    dates = pd.to_datetime(history["date"])
    recent = (dates >= pd.Timestamp(today - dt.timedelta(days=HORIZON + 1))).to_numpy()
    unit_ids = history["unit_id"].to_numpy()[recent]
    days = dates.to_numpy()[recent]
    account_of = {u.unit_id: u.account.id for u in units}
    # Each unit looked up once, not each of its days (300,000 at 10,000 campaigns).
    codes, uniques = pd.factorize(unit_ids)
    accounts = np.array([account_of.get(u, -1) for u in uniques], dtype=np.int64)[codes]
    share = np.ones(len(unit_ids))
    sd = np.zeros(len(unit_ids))
    for account_id in np.unique(accounts):
        rows = accounts == account_id
        share[rows], sd[rows] = lag.completion(int(account_id), days[rows])
    arriving = share < 1.0
    return pd.DataFrame({"unit_id": unit_ids[arriving], "date": days[arriving],
                         "share": share[arriving], "share_sd": sd[arriving]}, columns=columns)
