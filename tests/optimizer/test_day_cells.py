"""`day_cells` sums each campaign-day straight from the ages it was seen at, numbering
account-days without a sort: the same cells, to the bit, as the table of every day by every
age it replaced (kept below as the reference), so the curves learnt do not move."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

# The old code's step sums, which the completion curves' other learning still uses.
from optimizer.completion import HORIZON, Cells, _step_sums, day_cells


def reference_day_cells(day: np.ndarray, account: np.ndarray, date: np.ndarray,
                        seen: np.ndarray, value: np.ndarray) -> Cells:
    """`day_cells` as it was: account-days by np.unique, campaign-days by factorize, each
    campaign-day's value at every age in a (days, HORIZON + 1) table filled forward."""
    keys = account * (1 << 32) + date
    cell_keys, cell = np.unique(keys, return_inverse=True)
    n_cells = len(cell_keys)
    newest = np.full(n_cells, np.iinfo(np.int64).min)
    np.maximum.at(newest, cell, seen)
    all_codes, uniques = pd.factorize(day)
    age_all = seen - date
    first_age = np.full(len(uniques), np.iinfo(np.int64).max)
    np.minimum.at(first_age, all_codes, age_all)
    young_day = first_age < HORIZON
    young = young_day[all_codes]
    codes = (np.cumsum(young_day) - 1)[all_codes[young]]
    n = int(young_day.sum())
    age = np.clip(age_all[young], 0, HORIZON)
    last_age = np.full(n, -1)
    np.maximum.at(last_age, codes, age)
    values = np.full((n, HORIZON + 1), np.nan)
    values[codes, age] = value[young]
    seen_at = np.where(np.isnan(values), 0, np.arange(HORIZON + 1)[None, :])
    np.maximum.accumulate(seen_at, axis=1, out=seen_at)
    values = values[np.arange(n)[:, None], seen_at]
    values[np.arange(HORIZON + 1)[None, :] > last_age[:, None]] = np.nan
    day_cell = np.empty(n, dtype=np.int64)
    day_cell[codes] = cell[young]
    sums = _step_sums(values, day_cell, n_cells)
    last = values[np.arange(n), last_age]
    at = day_cell * (HORIZON + 1) + last_age
    size = n_cells * (HORIZON + 1)

    def by_age(where: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(where, weights, size).reshape(n_cells, HORIZON + 1).astype(float)

    positive = last > 0
    tail = np.stack([by_age(at, last), by_age(at[positive], last[positive]),
                     by_age(at[positive])], axis=1)
    first = by_age(day_cell * (HORIZON + 1) + np.clip(first_age[young_day], 0, HORIZON))
    return Cells(
        (cell_keys >> 32).astype(np.int64), (cell_keys & ((1 << 32) - 1)).astype(np.int64),
        np.stack([sums.s0, sums.s1, sums.ratio2, sums.n], axis=1), tail, first,
        np.bincount(cell[young], minlength=n_cells).astype(float), newest)


@st.composite
def observations(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """Campaign-days in any order, each one's reads together, mostly in the order seen: reads
    at ages before the day, within the horizon and past it, several a day, values of
    fractional conversions going up and sometimes down (or below zero)."""
    n_accounts = draw(st.integers(1, 4))
    spread = draw(st.sampled_from([1, 1, 1_000_000]))  # accounts far apart: no dense table
    first_day = draw(st.integers(0, 20_000))
    n_days = draw(st.integers(1, 50))
    pairs = draw(st.lists(st.tuples(st.integers(0, 11), st.integers(0, n_days - 1)),
                          min_size=1, max_size=40, unique=True))
    ordered = draw(st.booleans())
    value = st.one_of(st.integers(0, 40).map(float), st.floats(-2.0, 80.0, width=32),
                      st.just(0.0))
    rows: list[tuple[int, int, int, int, float]] = []
    for campaign, offset in pairs:
        date = first_day + offset
        reads = draw(st.lists(st.tuples(st.integers(-2, HORIZON + 12), value), min_size=1,
                              max_size=9))
        if ordered:
            reads.sort(key=lambda read: read[0])  # stable: one age's reads keep their order
        rows += [(campaign, (campaign % n_accounts) * spread, date, date + age, v)
                 for age, v in reads]
    campaign, account, date, seen, values = (np.array(c) for c in zip(*rows, strict=True))
    return (campaign.astype(np.int64) * 100_000 + date, account.astype(np.int64),
            date.astype(np.int64), seen.astype(np.int64), values.astype(float))


@settings(max_examples=400, deadline=None)
@given(rows=observations())
def test_cells_are_the_same_to_the_bit_as_the_table_of_every_age(
    rows: tuple[np.ndarray, ...]
) -> None:
    ours, reference = day_cells(*rows), reference_day_cells(*rows)
    for f in fields(Cells):
        mine, theirs = getattr(ours, f.name), getattr(reference, f.name)
        assert mine.dtype == theirs.dtype and mine.shape == theirs.shape, f.name
        assert mine.tobytes() == theirs.tobytes(), f.name


def test_no_observations_give_no_cells() -> None:
    none = np.zeros(0, dtype=np.int64)
    ours = day_cells(none, none, none, none, none.astype(float))
    reference = reference_day_cells(none, none, none, none, none.astype(float))
    for f in fields(Cells):
        mine, theirs = getattr(ours, f.name), getattr(reference, f.name)
        assert (mine.dtype, mine.shape) == (theirs.dtype, theirs.shape), f.name
