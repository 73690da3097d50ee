"""Learning after a sync from the kept account-day cells gives the curves that learning from
every observation again gives: to the bit against the cells computed afresh, and within float
rounding against the plain chain ladder over every campaign-day."""

from __future__ import annotations

import json
from dataclasses import fields

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.completion import (
    HORIZON,
    Cells,
    Observations,
    day_cells,
    learn_cells,
    learn_observations,
    update_cells,
)

NAMES = [("google", "g1"), ("meta", "m1"), ("meta", "m2")]
WINDOW = 40  # days learnt from, before the day learnt as of


def _history(seed: int, n_rows: int) -> dict[str, np.ndarray]:
    """Observations of 3 accounts' campaigns in the order they were written: reads at random
    ages (some late, some before the day, several a day, some of days already complete),
    values going up and sometimes down."""
    rng = np.random.default_rng(seed)
    campaign = rng.integers(0, 9, n_rows)
    date = rng.integers(0, 60, n_rows)
    age = np.where(rng.random(n_rows) < 0.05, rng.integers(-1, 40, n_rows),
                   rng.integers(0, 12, n_rows))
    return {"campaign": campaign, "account": campaign % 3, "date": date, "seen": date + age,
            "value": rng.integers(0, 30, n_rows).astype(float)}


def _known(rows: dict[str, np.ndarray], where: np.ndarray) -> dict[str, np.ndarray]:
    """The rows kept, as the store reads them: by campaign, day, when seen, when written."""
    index = np.flatnonzero(where)
    order = np.lexsort((index, rows["seen"][index], rows["date"][index],
                        rows["campaign"][index]))
    return {k: v[index[order]] for k, v in rows.items()}


def _cells(rows: dict[str, np.ndarray]) -> Cells:
    return day_cells(rows["campaign"] * 100_000 + rows["date"], rows["account"], rows["date"],
                     rows["seen"], rows["value"])


def _last_read(cells: Cells, today: int) -> np.ndarray:
    newest = np.full(len(NAMES), np.iinfo(np.int64).min)
    np.maximum.at(newest, cells.account, cells.seen)
    return np.minimum(newest, today)


def _learn(cells: Cells, today: int) -> list[dict[str, object]]:
    return learn_cells(cells, last_read=_last_read(cells, today), group=np.arange(3),
                       names=NAMES, networks=("google", "meta")).to_state()


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 100_000), n_rows=st.integers(1, 600),
       late=st.floats(0.0, 1.0), first=st.integers(40, 55), later=st.integers(0, 6))
def test_cells_kept_and_updated_equal_cells_learnt_again(
    seed: int, n_rows: int, late: float, first: int, later: int
) -> None:
    rows = _history(seed, n_rows)
    # Written by the first learning: the reads made by then, but for a share written later
    # (an import replayed as of an earlier day, a sync that came in late).
    before = (rows["seen"] <= first) & (np.random.default_rng(seed).random(n_rows) >= late)
    today = first + later

    def window(end: int) -> np.ndarray:
        return (rows["date"] >= end - WINDOW) & (rows["date"] < end) & (rows["seen"] <= end)

    kept = _cells(_known(rows, before & window(first)))
    # Learning again `later` days on: the days with rows written since, and the days that
    # came into the window, computed from all their rows; the rest kept.
    restated = sorted(set(rows["date"][~before].tolist()) | set(range(first, today)))
    again = window(today) & np.isin(rows["date"], restated)
    fresh = _cells(_known(rows, again)) if again.any() else None
    updated = update_cells(kept, fresh, restated, today - WINDOW, today)
    full = _cells(_known(rows, window(today)))
    for f in fields(Cells):
        assert np.array_equal(getattr(updated, f.name), getattr(full, f.name)), f.name
    assert json.dumps(_learn(updated, today)) == json.dumps(_learn(full, today))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 100_000), n_rows=st.integers(1, 600))
def test_cells_learn_what_the_chain_ladder_over_every_day_learns(seed: int, n_rows: int) -> None:
    today = 50
    rows = _known(_history(seed, n_rows), (lambda r: (r["date"] >= today - WINDOW) & (
        r["date"] < today) & (r["seen"] <= today))(_history(seed, n_rows)))
    if len(rows["campaign"]) == 0:
        return
    cells = _cells(rows)
    last = _last_read(cells, today)
    plain = learn_observations(Observations(
        rows["campaign"] * 100_000 + rows["date"], rows["account"], rows["seen"] - rows["date"],
        rows["value"], last[rows["account"]] - rows["date"], NAMES), networks=("google", "meta"))
    learnt = learn_cells(cells, last_read=last, group=np.arange(3), names=NAMES,
                         networks=("google", "meta"))
    expected, got = plain.all(), learnt.all()
    assert [(c.network, c.account, c.days, c.observations, c.learnt) for c in got] == [
        (c.network, c.account, c.days, c.observations, c.learnt) for c in expected]
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(g.share, e.share, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(g.share_sd, e.share_sd, rtol=1e-9, atol=1e-12)
        assert len(g.share) == HORIZON + 1
