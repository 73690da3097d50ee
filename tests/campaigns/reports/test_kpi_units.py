"""How a scope's reach and rates come from its units: a platform's period figure stands only
for the one unit it counted; everything else is a sum and says so."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from campaigns.reports.kpi_math import Totals, add, rates
from campaigns.reports.kpi_units import KPI_COLUMNS, combine, kpi_cells, kpi_fields


def _day(impressions: int, clicks: int, spend: str, reach: int | None = None) -> Totals:
    return Totals.day(spend=Decimal(spend), impressions=impressions, clicks=clicks,
                      reach=reach, engagements=None if reach is None else clicks)


def test_one_unit_with_a_period_figure_is_not_estimated() -> None:
    k = combine([(_day(1000, 10, "5", reach=400), False)])
    assert k.totals.reach == 400 and k.reach_estimated is False


def test_two_units_are_a_sum_even_of_period_figures() -> None:
    k = combine([(_day(1000, 10, "5", reach=400), False), (_day(500, 5, "2", reach=300), False)])
    assert k.totals.reach == 700 and k.reach_estimated is True


def test_units_without_reach_leave_the_flag_to_those_with_it() -> None:
    k = combine([(_day(1000, 10, "5", reach=400), False), (_day(800, 8, "3"), None)])
    assert k.reach_estimated is False and k.totals.impressions == 1800
    assert combine([(_day(800, 8, "3"), None)]).reach_estimated is None
    assert combine([]).reach_estimated is None


def test_zero_denominators_are_empty_cells() -> None:
    cells = dict(zip(KPI_COLUMNS, kpi_cells(kpi_fields(combine([(_day(0, 0, "5"), None)]))),
                     strict=True))
    assert cells["cpm"] is cells["cpc"] is cells["ctr"] is cells["reach"] is None
    assert cells["reach_estimated"] is None and cells["roas"] == Decimal(0)


units = st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 10**5),
                           st.decimals(0, 10**6, places=2), st.integers(1, 10**6)),
                 min_size=1, max_size=8)


@given(units)
def test_rates_divide_the_sums_never_average_rates(parts) -> None:  # type: ignore[no-untyped-def]
    days = [(_day(i, min(c, i), str(s), reach=r), True) for i, c, s, r in parts]
    k = combine(days)
    total = Totals()
    for t, _ in days:
        total = add(total, t)
    assert k.rates == rates(total)
    assert k.totals.spend == sum(Decimal(str(s)) for _, _, s, _ in parts)
