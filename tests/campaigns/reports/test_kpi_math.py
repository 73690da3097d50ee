"""The KPI rates never divide by zero and agree with the sums they are made of."""

from __future__ import annotations

from decimal import Decimal
from functools import reduce

from hypothesis import given
from hypothesis import strategies as st

from campaigns.reports.kpi_math import SOCIAL, Totals, add, rates, ratio

counts = st.one_of(st.none(), st.integers(0, 10**9))
money = st.decimals(0, 10**7, places=2, allow_nan=False, allow_infinity=False)
totals = st.builds(
    Totals.day, spend=money, impressions=st.integers(0, 10**10), clicks=st.integers(0, 10**8),
    conversions=money, revenue=money,
    **{name: counts for name in SOCIAL},
)


@given(st.lists(totals, max_size=8))
def test_rates_of_any_sum_are_defined_or_null(days: list[Totals]) -> None:
    t = reduce(add, days, Totals())
    r = rates(t)
    assert (r.cpm is None) == (t.impressions == 0)
    assert (r.ctr is None) == (t.impressions == 0)
    assert (r.cpc is None) == (t.clicks == 0)
    assert (r.roas is None) == (t.spend == 0)
    assert (r.frequency is None) == (not t.reach)
    basis = sum(d.impressions for d in days if d.engagements is not None)
    assert (r.engagement_rate is None) == (t.engagements is None or basis == 0)
    if r.cpm is not None:
        assert abs(r.cpm * t.impressions / 1000 - float(t.spend)) <= 1e-6 * (1 + float(t.spend))
    if r.engagement_rate is not None and t.engagements is not None:
        back = r.engagement_rate * basis / 1000
        assert abs(back - t.engagements) <= 1e-6 * (1 + t.engagements)


@given(st.lists(totals, max_size=8))
def test_sums_keep_unreported_apart_from_zero(days: list[Totals]) -> None:
    t = reduce(add, days, Totals())
    assert t.impressions == sum(d.impressions for d in days)
    for name in SOCIAL:
        reported = [getattr(d, name) for d in days if getattr(d, name) is not None]
        assert getattr(t, name) == (sum(reported) if reported else None)


def test_a_network_without_a_count_does_not_dilute_its_rate() -> None:
    meta = Totals.day(impressions=1000, reactions=10, reach=500)
    google = Totals.day(impressions=9000)
    r = rates(add(meta, google))
    assert r.applause_rate == 10.0 and r.frequency == 2.0 and r.cpm == 0.0


def test_ratio_edges() -> None:
    assert ratio(5, 0) is None and ratio(None, 3) is None and ratio(3, None) is None
    assert ratio(Decimal("1.5"), 3, 1000) == 500.0
