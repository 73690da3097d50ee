"""What the sandbox platform delivers: budgets in force, spend, conversions and FX rates.

Every number is a pure function of (seed, campaign, day) and the budgets in force, so two runs
agree to the cent, and budgets written back change what the following days deliver.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import numpy as np

from connectors.base import FxRecord, MetricRecord
from connectors.currencies import minor_unit
from connectors.sandbox_random import seeded_rng, text_key
from connectors.sandbox_state import SandboxBudgetStore
from connectors.sandbox_world import (
    DOW_PROFILE,
    MAX_OVERDELIVERY,
    SimAccount,
    SimCampaign,
    completion,
    round_money,
)


def social_counts(index: int, day: dt.date, impressions: int, clicks: int) -> dict[str, int]:
    """Plausible social counts from the day's impressions and clicks.

    Integer arithmetic on a hash of campaign and day, not the seeded generators: drawing
    from those would change every figure the sandbox already reports.
    """
    h = (index * 2654435761 + day.toordinal() * 40503) % 2**32
    engagements = clicks + impressions * (2 + h % 13) // 1000
    return {
        "reach": impressions * 1000 // (1600 + h % 900),  # frequency 1.6 to 2.5
        "video_views": impressions * (10 + h % 30) // 100,
        "engagements": engagements,
        "reactions": engagements * (30 + h % 20) // 100,
        "comments": engagements * (2 + h % 5) // 100,
        "shares": engagements * (3 + (h >> 8) % 4) // 100,
        "follows": engagements // (40 + (h >> 4) % 40),
    }


AUDIENCE_DAYS = 12  # a campaign's audience: this many average days of reach


def unique_reach(daily: list[int], audience: float) -> int:
    """People reached over several days when each day reaches ``daily[i]`` people drawn at
    random from an audience of ``audience``: at least the largest day, at most the sum."""
    if not daily:
        return 0
    if audience <= 0:
        return max(daily)
    missed = 1.0
    for r in daily:
        missed *= max(0.0, 1.0 - r / audience)
    return max(max(daily), min(sum(daily), round(audience * (1.0 - missed))))


class SandboxSimulation(SandboxBudgetStore):
    """The simulated platform's clock and the numbers it reports for each campaign-day."""

    accounts: dict[str, SimAccount]
    _now: dt.datetime | None
    _factors: dict[str, tuple[int, float]]

    @property
    def now(self) -> dt.datetime:
        return self._now or dt.datetime.now(dt.UTC)

    def set_now(self, now: dt.datetime) -> None:
        self._now = now

    def local_today(self, account: SimAccount) -> dt.date:
        return self.now.astimezone(ZoneInfo(account.timezone)).date()

    def budget_on(self, c: SimCampaign, day: dt.date) -> float:
        """The budget of the unit a campaign belongs to, in force on a local day."""
        override = None
        for eff, amount in self.overrides.get(c.budget_key, ()):
            if eff <= day:
                override = amount
        if override is not None:
            return override
        if not c.varies:
            return c.base_budget
        period = day.toordinal() // c.change_period
        # One draw per budget and period, not per day (the last period's is kept). The draw
        # is keyed as before Google budgets had ids of their own: the same simulated history.
        key = c.history_key or c.budget_key
        cached = self._factors.get(key)
        if cached is None or cached[0] != period:
            factor = float(seeded_rng(self.seed, text_key(key), period).uniform(0.6, 1.5))
            self._factors[key] = cached = (period, factor)
        return round_money(c.base_budget * cached[1], c.account.currency)

    def true_day(
        self, c: SimCampaign, day: dt.date, rng: np.random.Generator | None = None
    ) -> tuple[float, float, float]:
        """(spend, expected conversions, expected revenue) before noise and lag."""
        budget = self.budget_on(c, day) * c.share
        rng = rng or seeded_rng(self.seed, c.index, day.toordinal())
        # min/max, not np.clip: the same float, without NumPy's per-call overhead.
        delivery = min(max(float(rng.lognormal(-0.02, 0.07)), 0.5),
                       MAX_OVERDELIVERY.get(c.account.network, 1.5))
        if rng.random() < 0.04:  # now and then a platform overdelivers hard
            delivery = float(rng.uniform(1.2, MAX_OVERDELIVERY.get(c.account.network, 1.5)))
        spend = round_money(budget * delivery, c.account.currency)
        dow = DOW_PROFILE.get(c.account.network, DOW_PROFILE["meta"])[day.weekday()]
        conv = c.expected_conversions(spend) * dow
        return spend, conv, conv * c.order_value

    def day_metrics(
        self, c: SimCampaign, day: dt.date, observed: dt.date,
        rngs: tuple[np.random.Generator, np.random.Generator] | None = None,
    ) -> MetricRecord:
        spend, conv_mean, _ = self.true_day(c, day, rngs[0] if rngs else None)
        rng = rngs[1] if rngs else seeded_rng(self.seed, c.index, day.toordinal(), 1)
        noise = float(rng.lognormal(0, 0.1))
        conversions = int(rng.poisson(conv_mean * noise))
        order_values = rng.lognormal(0, 0.25, size=conversions) * c.order_value
        # Reported counts grow with the day's age: a later sync restates them upward.
        # Rounded, not floored: a settled day reports every conversion, and the count still
        # only grows with age since completion() does.
        reported = math.floor(conversions * completion((observed - day).days) + 0.5)
        revenue = float(order_values[:reported].sum())
        impressions = int(spend / max(c.account.fx_to_eur, 1e-9) * rng.uniform(80, 160))
        clicks = int(impressions * rng.uniform(0.008, 0.03))
        q = minor_unit(c.account.currency)
        return MetricRecord(
            campaign_external_id=c.external_id,
            date=day,
            spend=Decimal(repr(spend)).quantize(q, ROUND_HALF_UP),
            impressions=impressions,
            clicks=clicks,
            conversions=Decimal(reported),
            revenue=Decimal(repr(revenue)).quantize(q, ROUND_HALF_UP),
            **self._social(c, day, spend, noise, impressions, clicks),
        )

    @staticmethod
    def _social(c: SimCampaign, day: dt.date, spend: float, noise: float, impressions: int,
                clicks: int) -> dict[str, int]:
        """The day's social counts; the result an awareness, engagement or video campaign
        buys follows its curve (never more people reached than impressions allow)."""
        counts = social_counts(c.index, day, impressions, clicks)
        if c.result == "conversions":
            return counts
        dow = DOW_PROFILE.get(c.account.network, DOW_PROFILE["meta"])[day.weekday()]
        bought = int(c.expected_result(spend) * dow * noise)
        key = {"reach": "reach", "engagement": "engagements",
               "video_views": "video_views"}[c.result]
        if key == "reach":
            bought = min(bought, impressions * 1000 // 1200)  # a frequency of at least 1.2
        return {**counts, key: bought}

    # -- exchange rates (the demo's finance and optimiser need them) -----------------------
    def fx_rates(self, start: dt.date, end: dt.date, quote: str) -> list[FxRecord]:
        """Daily rates of the sandbox's currencies into ``quote``: smooth, seeded drift."""
        per_eur = {a.currency: a.fx_to_eur for a in self.accounts.values()} | {"EUR": 1.0}
        if quote not in per_eur:
            return []
        out: list[FxRecord] = []
        day = start
        while day <= end:
            def in_eur(code: str, d: dt.date = day) -> float:
                if code == "EUR":
                    return 1.0
                wobble = 1 + 0.015 * math.sin(d.toordinal() / 11 + text_key(code) % 7)
                return wobble / per_eur[code]

            for code in sorted(per_eur):
                if code != quote:
                    rate = in_eur(code) / in_eur(quote)
                    out.append(FxRecord(day, code, quote,
                                        Decimal(repr(rate)).quantize(Decimal("1e-10"))))
            day += dt.timedelta(days=1)
        return out
