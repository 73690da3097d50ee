"""Completion curves: how much of a day's final conversions is known at each age.

Conversions keep arriving for days after the day they are dated to (Meta counts a 7-day
click window, Google up to 30 days), so each sync restates the recent days upwards. From the
observations kept of each campaign-day (the value a sync or import saw, and how old the day
was then) this learns, per network and per account shrunk to its network, the expected share
``share[a]`` of a day's final value that is known at age ``a`` days (a = 0..HORIZON; age 1 is
yesterday read this morning), with the uncertainty of that share.

The method is the chain ladder of claims reserving: for each step a -> a+1 the development
factor is the ratio of summed values of the days seen at both ages, which handles days whose
development is not finished yet (right-censored) without guessing their final value. Each
factor has a normal posterior: the network's prior (or, for an account, its network's
factor) and the data, whose variance is Mack's (the spread of single days' ratios, weighted
by their value), with a floor from the Poisson noise of counts arriving.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from optimizer.errors import InvalidInputError

HORIZON = 30
REPORT_AGES = (0, 1, 3, 7, 14, 30)
# An account's own curve is shown (and used) once this many of its campaign-days were seen
# developing; below that it reads its network's.
MIN_ACCOUNT_DAYS = 20
# The spread of accounts' factors around their network's, as a share of the step (f - 1).
ACCOUNT_SPREAD = 0.25


@dataclass(frozen=True)
class _PriorShape:
    first: float  # share known at age 1 (the day read the next morning)
    tau: float  # days: how fast the rest arrives
    window: int  # days after which nothing more is counted


# PLATFORMS.md: Meta attributes to the click within 7 days; Google's conversion window is
# up to 30 days (most conversions within two weeks). TikTok and the export-only networks
# count a week as Meta does. Loose priors: a network's own restatements overrule them soon.
_PRIORS = {
    "meta": _PriorShape(0.55, 1.5, 7),
    "google": _PriorShape(0.40, 5.0, 30),
}
_DEFAULT_PRIOR = _PriorShape(0.55, 2.0, 7)


@dataclass(frozen=True)
class CompletionCurve:
    """The expected share of a day's final value known at each age 0..HORIZON."""

    network: str
    account: str | None  # None: the network's curve
    share: np.ndarray
    share_sd: np.ndarray
    days: int = 0  # campaign-days seen developing (at two ages or more)
    observations: int = 0
    learnt: bool = False  # False: the network's prior (no restatement seen)

    def at(self, age: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
        """Share and its sd at each age; a day older than the horizon is complete."""
        a = np.asarray(age, dtype=np.int64)
        inside = (a >= 0) & (a <= HORIZON)
        k = np.clip(a, 0, HORIZON)
        return (np.where(inside, self.share[k], 1.0),
                np.where(inside, self.share_sd[k], 0.0))

    def report(self) -> dict[str, object]:
        """The curve at the ages people ask about, as plain numbers."""
        return {
            "network": self.network,
            "account": self.account,
            "learnt": self.learnt,
            "days": self.days,
            "observations": self.observations,
            "share": {str(a): round(float(self.share[a]), 4) for a in REPORT_AGES},
            "share_sd": {str(a): round(float(self.share_sd[a]), 4) for a in REPORT_AGES},
        }


@dataclass(frozen=True)
class CompletionCurves:
    networks: dict[str, CompletionCurve] = field(default_factory=dict)
    accounts: dict[tuple[str, str], CompletionCurve] = field(default_factory=dict)

    def curve(self, network: str, account: str | None = None) -> CompletionCurve:
        """The account's own curve when it has one, else its network's, else the prior."""
        if account is not None and (network, account) in self.accounts:
            return self.accounts[(network, account)]
        return self.networks.get(network) or prior_curve(network)

    def to_state(self) -> list[dict[str, object]]:
        """Every curve as plain JSON values, exactly (floats round-trip): what a caller keeps
        so as not to learn the same curves again."""
        return [{"network": c.network, "account": c.account, "share": c.share.tolist(),
                 "share_sd": c.share_sd.tolist(), "days": c.days,
                 "observations": c.observations, "learnt": c.learnt} for c in self.all()]

    @classmethod
    def from_state(cls, state: list[dict[str, Any]]) -> CompletionCurves:
        """The curves `to_state` kept."""
        out = cls()
        for item in state:
            curve = CompletionCurve(
                str(item["network"]), item["account"], np.asarray(item["share"], dtype=float),
                np.asarray(item["share_sd"], dtype=float), int(item["days"]),
                int(item["observations"]), bool(item["learnt"]))
            if curve.account is None:
                out.networks[curve.network] = curve
            else:
                out.accounts[(curve.network, curve.account)] = curve
        return out

    def all(self) -> list[CompletionCurve]:
        """Networks, each followed by its accounts, in name order."""
        out: list[CompletionCurve] = []
        for name in sorted(self.networks):
            out.append(self.networks[name])
            out.extend(self.accounts[k] for k in sorted(self.accounts) if k[0] == name)
        return out


def prior_curve(network: str) -> CompletionCurve:
    mean, var = _prior_factors(network)
    share, sd = _shares(mean, var)
    return CompletionCurve(network, None, share, sd)


@dataclass(frozen=True)
class Observations:
    """Observations as arrays, one entry per observation (what `learn_completion` reads from
    a frame): at a million observations, strings per row cost more than the learning."""

    day: np.ndarray  # int64: a key of one campaign-day; a day's rows in the order seen
    group: np.ndarray  # int64: index into ``names``: the day's network and account
    age: np.ndarray  # int64: whole days between the day and when it was seen
    value: np.ndarray  # float: the conversions seen then
    through: np.ndarray  # int64: the age up to which the day was followed
    names: list[tuple[str, str]]  # (network, account) of each group, each pair once


def learn_completion(
    observations: pd.DataFrame, *, networks: tuple[str, ...] = ()
) -> CompletionCurves:
    """Learn the networks' and accounts' curves from observed restatements.

    ``observations`` has one row per observation: ``day`` (any key of one campaign-day, e.g.
    "campaign id:date"), ``network``, ``account``, ``age`` (whole days between the day and
    when it was seen), ``value`` (the conversions seen then) and ``through`` (the age up to
    which the day was followed: its account's last read; a value is taken to hold until the
    next observation of it). Rows of one day come in the order they were seen. ``networks``
    adds prior curves for networks without observations.
    """
    needed = {"day", "network", "account", "age", "value", "through"}
    missing = needed - set(observations.columns)
    if missing:
        raise InvalidInputError(f"observations lack columns: {', '.join(sorted(missing))}")
    pairs = list(zip(observations["network"].astype(str), observations["account"].astype(str),
                     strict=True))
    group, names = pd.factorize(pd.Series(pairs, dtype=object))
    return learn_observations(Observations(
        pd.factorize(observations["day"])[0].astype(np.int64), group.astype(np.int64),
        observations["age"].to_numpy(dtype=np.int64),
        observations["value"].to_numpy(dtype=float),
        observations["through"].to_numpy(dtype=np.int64), [tuple(n) for n in names]),
        networks=networks)


def learn_observations(obs: Observations, *, networks: tuple[str, ...] = ()) -> CompletionCurves:
    """`learn_completion` on observations already in arrays."""
    if len(obs.day) == 0:
        return CompletionCurves({n: prior_curve(n) for n in networks}, {})
    values, day_group, counts = _developments(obs)
    net_names = sorted({network for network, _ in obs.names})
    net_of_group = np.array([net_names.index(network) for network, _ in obs.names],
                            dtype=np.int64)
    day_net = net_of_group[day_group]
    return _curves(
        _step_sums(values, day_net, len(net_names)), np.bincount(day_net, counts, len(net_names)),
        _step_sums(values, day_group, len(obs.names)),
        np.bincount(day_group, counts, len(obs.names)), obs.names, networks)


def _curves(
    net_stats: _Sums, net_counts: np.ndarray, acc_stats: _Sums, acc_counts: np.ndarray,
    names: list[tuple[str, str]], networks: tuple[str, ...],
) -> CompletionCurves:
    """The networks' curves (in name order: ``net_stats``' groups), then the accounts'."""
    curves = CompletionCurves({n: prior_curve(n) for n in networks}, {})
    net_names = sorted({network for network, _ in names})
    present = {network for (network, _), c in zip(names, acc_counts, strict=True) if c > 0}
    for g, name in enumerate(net_names):
        if name not in present:
            continue
        mean, var = _posterior(*_prior_factors(name), net_stats, g)
        share, sd = _shares(mean, var)
        seen = int(net_stats.days[g])
        curves.networks[name] = CompletionCurve(
            name, None, share, sd, seen, int(net_counts[g]), seen > 0)
    for g, (network, account) in enumerate(names):
        if acc_stats.days[g] < MIN_ACCOUNT_DAYS:
            continue
        net_mean, net_var = _factors_of(curves.networks[network])
        spread = (ACCOUNT_SPREAD * np.abs(net_mean - 1.0) + 0.005) ** 2
        mean, var = _posterior(net_mean, net_var + spread, acc_stats, g)
        share, sd = _shares(mean, var)
        curves.accounts[(network, account)] = CompletionCurve(
            network, account, share, sd, int(acc_stats.days[g]), int(acc_counts[g]), True)
    return curves


@dataclass(frozen=True)
class Cells:
    """What the campaign-days of each account and day contribute to the curves, apart from
    how far the account was last read: kept between runs, a day's cell is computed again
    only when an observation of that day arrives, and a day gone out of the learning window
    drops out whole, so learning again after a sync reads the restated days only.

    A campaign-day's value is known from its first observed age to its last (``closed``:
    each step's chain-ladder sums between them); from its last observed age on it holds
    its last value until its account's last read (``tail``, by that last age)."""

    account: np.ndarray  # (n,) int64: the caller's account index
    date: np.ndarray  # (n,) int64: day number
    closed: np.ndarray  # (n, 4, HORIZON): s0, s1, ratio2 and n of each step a -> a+1
    tail: np.ndarray  # (n, 3, HORIZON+1): last values summed, the positive ones, how many
    first: np.ndarray  # (n, HORIZON+1): campaign-days by their first observed age
    count: np.ndarray  # (n,) observations of developing campaign-days
    seen: np.ndarray  # (n,) int64: the newest read among the cell's observations

    @property
    def key(self) -> np.ndarray:
        """One sortable integer per cell: the order cells are kept and summed in."""
        return self.account * (1 << 32) + self.date

    def take(self, rows: np.ndarray) -> Cells:
        return Cells(*(getattr(self, f)[rows] for f in _CELL_FIELDS))

    @classmethod
    def join(cls, parts: list[Cells]) -> Cells:
        """Cells of disjoint account-days, in key order."""
        out = cls(*(np.concatenate([getattr(c, f) for c in parts]) for f in _CELL_FIELDS))
        return out.take(np.argsort(out.key, kind="stable"))


_CELL_FIELDS = ("account", "date", "closed", "tail", "first", "count", "seen")


def day_cells(day: np.ndarray, account: np.ndarray, date: np.ndarray, seen: np.ndarray,
              value: np.ndarray) -> Cells:
    """The cells of observations (one entry per observation: the campaign-day's key, its
    account index (0 or more), its day and read day numbers, the value seen), a
    campaign-day's rows together in the order seen. All of an account-day's observations
    must be there.

    Summed straight from the ages each campaign-day was seen at, in the order the rows come:
    no table of every day by every age, and no sort (at 850,000 observations both cost more
    than the rest of the learning)."""
    n_rows = len(day)
    if n_rows == 0:
        return _no_cells()
    cell, cell_account, cell_date = _account_days(account, date)
    n_cells = len(cell_account)
    newest = np.full(n_cells, np.iinfo(np.int64).min)
    np.maximum.at(newest, cell, seen)
    # The campaign-days, as runs of one key.
    begins = np.ones(n_rows, dtype=bool)
    np.not_equal(day[1:], day[:-1], out=begins[1:])
    starts = np.flatnonzero(begins)
    run = np.cumsum(begins) - 1
    age_all = seen - date
    first_age = np.minimum.reduceat(age_all, starts)
    age = np.clip(age_all, 0, HORIZON)
    if np.any((age[1:] < age[:-1]) & ~begins[1:]):  # not in the order seen: put them so,
        order = np.lexsort((age, run))  # stable: the last row at an age still wins
        value, age, cell = value[order], age[order], cell[order]
    # A day first seen when already complete (a history imported at once) shows no
    # development.
    young_day = first_age < HORIZON
    young = young_day[run]
    day_cell = cell[starts[young_day]]
    # The last observation at each age of a young day: what the day is known at from that
    # age to the next one seen (its last age: the day's last value).
    ends = np.ones(n_rows, dtype=bool)
    ends[:-1] = begins[1:]
    kept = young.copy()
    kept[:-1] &= ends[:-1] | (age[1:] != age[:-1])
    rows = np.flatnonzero(kept)
    kept_age, kept_value = age[rows], value[rows]
    last_of_day = ends[rows]  # every young day keeps its last row
    first_of_day = np.ones(len(rows), dtype=bool)
    first_of_day[1:] = last_of_day[:-1]
    kept_cell = cell[rows]
    # Each step a -> a+1 between a day's first and last age, a day at a time and its steps
    # in order (the order the sums were always taken in, so the same to the bit): the value
    # at a is the kept row's whose age a is at or past, at a+1 the same one step on.
    held = np.where(last_of_day, 0, np.append(kept_age[1:], 0) - kept_age)
    v0 = np.repeat(kept_value, held)
    v1 = np.repeat(kept_value, held - first_of_day + last_of_day)
    step = np.arange(len(v0)) - np.repeat(np.cumsum(held) - held, held)
    at_step = np.repeat(kept_cell * HORIZON + kept_age, held) + step
    size = n_cells * HORIZON

    def total(where: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        return np.bincount(where, weights, size).reshape(n_cells, HORIZON).astype(float)

    positive = v0 > 0
    closed = np.stack([total(at_step, v0), total(at_step, v1),
                       total(at_step[positive], v1[positive] ** 2 / v0[positive]),
                       total(at_step[positive], None)], axis=1)
    last = kept_value[last_of_day]
    at = day_cell * (HORIZON + 1) + kept_age[last_of_day]
    size_ages = n_cells * (HORIZON + 1)

    def by_age(where: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(where, weights, size_ages).reshape(n_cells, HORIZON + 1).astype(float)

    positive = last > 0
    tail = np.stack([by_age(at, last), by_age(at[positive], last[positive]),
                     by_age(at[positive])], axis=1)
    first = by_age(day_cell * (HORIZON + 1) + np.clip(first_age[young_day], 0, HORIZON))
    return Cells(cell_account, cell_date, closed, tail, first,
                 np.bincount(cell[young], minlength=n_cells).astype(float), newest)


def _account_days(account: np.ndarray, date: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each row's account-day as an index into the account-days present (in account, then
    day order), and their accounts and days. A dense table of every account by every day
    between the first and the last when that is small (it is: a few accounts, a window of
    days), which numbers them without a sort."""
    low, high = int(date.min()), int(date.max())
    span = high - low + 1
    size = (int(account.max()) + 1) * span
    if int(account.min()) < 0 or size > max(4 * len(date), 1 << 16):
        keys, cell = np.unique(account * (1 << 32) + date, return_inverse=True)
        return (cell.astype(np.int64), (keys >> 32).astype(np.int64),
                (keys & ((1 << 32) - 1)).astype(np.int64))
    code = account * span + (date - low)
    present = np.zeros(size, dtype=bool)
    present[code] = True
    index = np.cumsum(present) - 1
    codes = np.flatnonzero(present)
    return (index[code].astype(np.int64), (codes // span).astype(np.int64),
            (codes % span + low).astype(np.int64))


def _no_cells() -> Cells:
    return Cells(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
                 np.zeros((0, 4, HORIZON)), np.zeros((0, 3, HORIZON + 1)),
                 np.zeros((0, HORIZON + 1)), np.zeros(0), np.zeros(0, dtype=np.int64))


def update_cells(kept: Cells, fresh: Cells | None, restated: list[int], start: int,
                 end: int) -> Cells:
    """``kept`` with the days in ``restated`` replaced by ``fresh`` (the cells of every
    observation of those days) and the days outside ``start <= day < end`` dropped: the same
    cells as computing them all again from every observation."""
    stay = (kept.date >= start) & (kept.date < end) & ~np.isin(kept.date, restated)
    parts = [kept.take(np.flatnonzero(stay))]
    if fresh is not None:
        inside = (fresh.date >= start) & (fresh.date < end)
        parts.append(fresh.take(np.flatnonzero(inside)))
    return Cells.join(parts)


def learn_cells(cells: Cells, *, last_read: np.ndarray, group: np.ndarray,
                names: list[tuple[str, str]], networks: tuple[str, ...] = ()) -> CompletionCurves:
    """The curves from cells, each account read up to ``last_read[account]`` (a day number);
    ``group[account]`` indexes ``names``, each (network, account) pair once."""
    if len(cells.account) == 0:
        return CompletionCurves({n: prior_curve(n) for n in networks}, {})
    through = np.clip(last_read[cells.account] - cells.date, 0, HORIZON)
    steps = np.arange(HORIZON)[None, :] < through[:, None]
    # A campaign-day last seen at age b holds that value for the steps b..through-1.
    tails = np.cumsum(cells.tail, axis=2)[:, :, :HORIZON] * steps[:, None, :]
    sums = cells.closed + tails[:, [0, 0, 1, 2], :]
    days = np.concatenate([np.zeros((len(through), 1)), np.cumsum(cells.first, axis=1)],
                          axis=1)[np.arange(len(through)), through]
    cell_group = group[cells.account]
    net_names = sorted({network for network, _ in names})
    net_of_group = np.array([net_names.index(network) for network, _ in names], dtype=np.int64)

    def totals(of: np.ndarray, n_groups: int) -> tuple[_Sums, np.ndarray]:
        out = np.zeros((n_groups, 4, HORIZON))
        np.add.at(out, of, sums)
        seen_days = np.zeros(n_groups)
        np.add.at(seen_days, of, days)
        counts = np.zeros(n_groups)
        np.add.at(counts, of, cells.count)
        return _Sums(out[:, 0], out[:, 1], out[:, 2], out[:, 3], seen_days), counts

    net_stats, net_counts = totals(net_of_group[cell_group], len(net_names))
    acc_stats, acc_counts = totals(cell_group, len(names))
    return _curves(net_stats, net_counts, acc_stats, acc_counts, names, networks)


def _developments(obs: Observations) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each day's value known at each age (NaN: not yet seen, or not followed that far), the
    day's group, and its observations counted."""
    # A day first seen when already complete (a history imported at once) shows no development.
    # Days numbered once (in order of first appearance), their first age by a minimum per day.
    all_codes, uniques = pd.factorize(obs.day)
    first_age = np.full(len(uniques), np.iinfo(np.int64).max)
    np.minimum.at(first_age, all_codes, obs.age)
    young_day = first_age < HORIZON
    young = young_day[all_codes]
    # The young days renumbered in the same order: a day's first row comes before the next's.
    codes = (np.cumsum(young_day) - 1)[all_codes[young]]
    n = int(young_day.sum())
    age = np.clip(obs.age[young], 0, HORIZON)
    through = np.full(n, -1)
    np.maximum.at(through, codes, np.maximum(np.clip(obs.through[young], 0, HORIZON), age))
    values = np.full((n, HORIZON + 1), np.nan)
    # The last observation at an age wins: rows come in the order they were seen.
    values[codes, age] = obs.value[young]
    # Carry each value forward to the next observation (a forward fill along the ages).
    seen_at = np.where(np.isnan(values), 0, np.arange(HORIZON + 1)[None, :])
    np.maximum.accumulate(seen_at, axis=1, out=seen_at)
    values = values[np.arange(n)[:, None], seen_at]
    values[np.arange(HORIZON + 1)[None, :] > through[:, None]] = np.nan
    group = np.empty(n, dtype=np.int64)
    group[codes] = obs.group[young]  # one group per day: any of its rows says which
    counts = np.bincount(codes, minlength=n)
    return values, group, counts


@dataclass(frozen=True)
class _Sums:
    s0: np.ndarray  # (groups, HORIZON): summed values at age a of days seen at a and a+1
    s1: np.ndarray  # the same days' values at a+1
    ratio2: np.ndarray  # sum of v(a+1)^2 / v(a) over days with v(a) > 0
    n: np.ndarray  # days with v(a) > 0
    days: np.ndarray  # (groups,) days seen at two ages or more


def _step_sums(values: np.ndarray, codes: np.ndarray, n_groups: int) -> _Sums:
    """Per group and step, in one pass over the days: (group, step) as one bincount index."""
    v0, v1 = values[:, :-1], values[:, 1:]
    both = ~np.isnan(v0) & ~np.isnan(v1)
    cell = (codes[:, None] * HORIZON + np.arange(HORIZON)[None, :])[both]
    a, b = v0[both], v1[both]
    size = n_groups * HORIZON

    def total(weights: np.ndarray | None, where: np.ndarray | None = None) -> np.ndarray:
        at = cell if where is None else cell[where]
        return np.bincount(at, weights, size).reshape(n_groups, HORIZON).astype(float)

    positive = a > 0
    ratio2 = total(b[positive] ** 2 / a[positive], positive)
    days = np.bincount(codes[both.any(axis=1)], minlength=n_groups)
    return _Sums(total(a), total(b), ratio2, total(None, positive), days)


def _prior_factors(network: str) -> tuple[np.ndarray, np.ndarray]:
    p = _PRIORS.get(network.lower(), _DEFAULT_PRIOR)
    ages = np.arange(HORIZON + 1)
    share = 1.0 - (1.0 - p.first) * np.exp(-(ages - 1) / p.tau)
    share[0] = 0.5 * p.first  # the day itself, read before it ended
    share[ages >= p.window] = 1.0
    mean = share[1:] / share[:-1]
    sd = 0.5 * (mean - 1.0) + 0.01
    return mean, sd**2


def _posterior(
    prior_mean: np.ndarray, prior_var: np.ndarray, stats: _Sums, g: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each step's factor: the prior and the data's chain-ladder ratio, precision-weighted."""
    s0, s1 = stats.s0[g], stats.s1[g]
    with np.errstate(invalid="ignore", divide="ignore"):
        f_hat = np.where(s0 > 0, s1 / s0, prior_mean)
        # Mack: sum of v(a) (r - f)^2 = sum v(a+1)^2/v(a) - 2 f s1 + f^2 s0 (days with v(a) > 0).
        spread = np.maximum(stats.ratio2[g] - 2 * f_hat * s1 + f_hat**2 * s0, 0.0)
        sigma2 = spread / np.maximum(stats.n[g] - 1, 1)
    # Counts arriving are at least Poisson-noisy: a day's ratio varies by (f - 1) / v(a).
    sigma2 = np.maximum(sigma2, np.maximum(f_hat - 1.0, 0.0) + 0.002)
    data_precision = np.where(s0 > 0, s0 / sigma2, 0.0)
    precision = 1.0 / prior_var + data_precision
    mean = (prior_mean / prior_var + f_hat * data_precision) / precision
    return np.clip(mean, 0.5, 5.0), 1.0 / precision


def _factors_of(curve: CompletionCurve) -> tuple[np.ndarray, np.ndarray]:
    """A curve's step factors and their variance, back from its shares."""
    mean = curve.share[1:] / curve.share[:-1]
    var_log = np.maximum((curve.share_sd / curve.share) ** 2, 0.0)
    step_var = np.maximum(var_log[:-1] - var_log[1:], 0.0) * mean**2
    return mean, np.maximum(step_var, 1e-8)


def _shares(mean: np.ndarray, var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """share[a] = 1 / (f_a f_a+1 ... f_H-1), with the sd of its log summed over the steps."""
    log_f = np.log(mean)
    tail = np.concatenate([np.cumsum(log_f[::-1])[::-1], [0.0]])
    var_log = np.concatenate([np.cumsum((var / mean**2)[::-1])[::-1], [0.0]])
    share = np.clip(np.exp(-tail), 0.02, 1.5)
    return share, share * np.sqrt(var_log)
