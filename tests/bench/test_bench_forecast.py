"""The forecast replay on past sandbox months: with budgets held by the service (a weekly
shift moving each budget by up to 10%), the worst scope is within 5% of the month's actual
spend by day 15, better than the run rate, and the 80% range holds most actual totals."""

from __future__ import annotations

from bench.bench_forecast import replay, summary


def test_worst_scope_within_5_percent_by_day_15() -> None:
    table = summary(replay(worlds=("held 0.1",), forecast_days=(15, 20)))
    for day in (15, 20):
        worst, median, inside = table[("held 0.1", "budgets", day)]
        before_worst, before_median, _ = table[("held 0.1", "run_rate", day)]
        assert worst < 5.0, (day, worst)
        assert worst <= before_worst and median < before_median
        assert inside >= 0.7  # an 80% range: not a point, not the whole axis
