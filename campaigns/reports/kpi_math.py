"""The KPI arithmetic: adding campaign-days up and the rates over the sums. Pure.

Counts a platform did not report are None and stay None through sums (None + 5 is 5: a
group's count is the sum of what was reported). A social rate divides by the impressions of
the rows that reported its count, so a network that reports no reactions does not dilute
the applause rate of one that does. A rate whose denominator is 0 or unknown is None, never
a division error or an invented 0.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from decimal import Decimal
from typing import Any

SOCIAL = ("reach", "video_views", "engagements", "reactions", "comments", "shares", "follows")
PER_MILLE = 1000  # the social rates are per 1,000 impressions

REACH_ESTIMATE = (
    "sum of daily reach (an upper bound: people are counted once per day and campaign)"
)


@dataclass(frozen=True, slots=True)
class Totals:
    spend: Decimal = Decimal(0)  # in the reporting currency
    impressions: int = 0
    clicks: int = 0
    conversions: Decimal = Decimal(0)
    revenue: Decimal = Decimal(0)  # in the reporting currency
    reach: int | None = None  # summed daily reach: an estimate, not unique people
    video_views: int | None = None
    engagements: int | None = None
    reactions: int | None = None
    comments: int | None = None
    shares: int | None = None
    follows: int | None = None
    # per SOCIAL count: the impressions of the rows that reported it (the rates' denominator)
    reported_impressions: tuple[int, ...] = (0,) * len(SOCIAL)

    @classmethod
    def day(cls, **values: Any) -> Totals:
        """One row's totals, with the impressions behind each count it reported."""
        t = cls(**values)
        seen = tuple(t.impressions if getattr(t, n) is not None else 0 for n in SOCIAL)
        return replace(t, reported_impressions=seen)


def _plus(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    return a if b is None else a + b


def add(a: Totals, b: Totals) -> Totals:
    return replace(
        a,
        spend=a.spend + b.spend, impressions=a.impressions + b.impressions,
        clicks=a.clicks + b.clicks, conversions=a.conversions + b.conversions,
        revenue=a.revenue + b.revenue,
        **{name: _plus(getattr(a, name), getattr(b, name)) for name in SOCIAL},
        reported_impressions=tuple(
            x + y for x, y in zip(a.reported_impressions, b.reported_impressions, strict=True)
        ),
    )


def ratio(num: Decimal | int | None, den: Decimal | int | None, scale: int = 1) -> float | None:
    """num / den x scale, or None when either is unknown or the denominator is 0."""
    if num is None or den is None or den == 0:
        return None
    return float(Decimal(num) * scale / Decimal(den))


@dataclass(frozen=True, slots=True)
class Rates:
    cpm: float | None  # spend per 1,000 impressions
    cpc: float | None  # spend per click
    ctr: float | None  # clicks / impressions (a fraction, not a percentage)
    cpa: float | None  # spend per conversion
    roas: float | None  # revenue / spend
    frequency: float | None  # impressions / summed reach: a lower bound of true frequency
    # per 1,000 impressions of the rows that reported the count
    engagement_rate: float | None  # engagements per 1,000 impressions
    amplification_rate: float | None  # shares per 1,000 impressions
    applause_rate: float | None  # reactions per 1,000 impressions
    conversation_rate: float | None  # comments per 1,000 impressions


def rates(t: Totals) -> Rates:
    basis = dict(zip(SOCIAL, t.reported_impressions, strict=True))
    per_mille = {
        "engagement_rate": "engagements", "amplification_rate": "shares",
        "applause_rate": "reactions", "conversation_rate": "comments",
    }
    return Rates(
        cpm=ratio(t.spend, t.impressions, PER_MILLE),
        cpc=ratio(t.spend, t.clicks),
        ctr=ratio(t.clicks, t.impressions),
        cpa=ratio(t.spend, t.conversions),
        roas=ratio(t.revenue, t.spend),
        frequency=ratio(basis["reach"], t.reach),
        **{k: ratio(getattr(t, n), basis[n], PER_MILLE) for k, n in per_mille.items()},
    )


RATE_NAMES = tuple(f.name for f in fields(Rates))
