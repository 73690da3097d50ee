"""A simulated ad market with known response curves, for the closed-loop evaluation.

Pure numpy: campaigns on several networks and currencies, each with a concave response of
its own shape (Hill with shape below 1, exponential saturation, logarithmic), day-of-week
factors per network, delivery noise with the platforms' overdelivery ceilings, conversions
that arrive over days after the click (Meta and TikTok within a week, Google up to 30 days)
so that later reads restate them, and optionally a fifth of the campaigns gaining or losing
efficiency part-way. `bench/closed_loop.py` drives it through the production path.

The funnel: each campaign's expected conversions are its clicks times a conversion rate.
Clicks follow a delivery curve (spend -> clicks, concave: rising cost per click as the
budget grows) that carries a share `delivery` of the conversions' saturation, drawn per
campaign; the conversion rate, falling with spend, carries the rest. In elasticities at any
spend: 1 - e_conversions = (1 - e_clicks) / delivery, so a campaign with delivery near 1 has
clicks that saturate like its conversions and one near 0 has clicks rising in proportion to
spend (they say nothing of the conversions' shape). Clicks scatter beyond Poisson (a
lognormal day factor) and are drawn from a generator of their own, so the conversions, and
every score, are those of the market without the funnel.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

# (network, currency, units of the currency per EUR): the reporting currency is EUR; the
# rates are exact in decimal so that the stored FX rates are the market's own.
ACCOUNTS = (("meta", "EUR", 1.0), ("meta", "JPY", 160.0), ("google", "USD", 1.25),
            ("google", "GBP", 0.8), ("tiktok", "EUR", 1.0))
OVERDELIVERY = {"meta": 1.75, "google": 2.0, "tiktok": 1.5}
MAX_LAG = 30
SHAPES = ("hill", "exp", "log")
# How the saturation splits between delivery and conversion rate: "mixed" draws each
# campaign's delivery share uniform 0-1; "conversion-rate" puts all of it in the conversion
# rate (clicks proportional to spend: they tell nothing of the curve's shape); "delivery"
# all of it in delivery (a constant conversion rate: clicks saturate like conversions).
FUNNELS = ("mixed", "conversion-rate", "delivery")
CLICK_NOISE = 0.12  # lognormal sd of a day's clicks beyond Poisson (auction, pacing)


def _lag_pmf(network: str) -> np.ndarray:
    """Share of a day's conversions reported d days after it (d = 0..MAX_LAG)."""
    days = np.arange(MAX_LAG + 1)
    if network == "google":  # dated to the click, a long tail over the 30-day window
        pmf = np.exp(-days / 5.0)
    else:  # a 7-day click window
        pmf = np.where(days <= 7, np.exp(-days / 1.5), 0.0)
    return pmf / pmf.sum()


@dataclass
class Market:
    """True parameters per campaign; spend in the campaign's own currency."""

    start: dt.date  # first day of the history
    days: int  # history plus evaluation days
    network: np.ndarray
    currency: np.ndarray
    account: np.ndarray
    per_eur: np.ndarray  # currency units per EUR
    shape: np.ndarray  # index into SHAPES
    gain: np.ndarray
    half: np.ndarray
    hill: np.ndarray
    value: np.ndarray  # revenue per conversion, EUR
    weekday: dict[str, np.ndarray]
    efficiency: np.ndarray  # campaigns x days multiplier of the gain
    base_budget: np.ndarray
    rng: np.random.Generator
    delivery: np.ndarray | None = None  # share of the saturation in delivery (0-1)
    clicks_at_base: np.ndarray | None = None  # expected clicks a day at the base budget
    ctr: np.ndarray | None = None  # clicks per impression
    click_rng: np.random.Generator | None = None

    @property
    def fx(self) -> np.ndarray:
        """Multiply an amount in the campaign's currency by this to get EUR."""
        return 1.0 / self.per_eur

    def expected(self, budget: np.ndarray, day: int) -> np.ndarray:
        """True expected conversions per campaign on `day` at `budget` (no noise)."""
        dow = self.dow_factor(day)
        return response(self.shape, budget, self.gain, self.half, self.hill) * dow * \
            self.efficiency[:, day]

    def marginal(self, budget: np.ndarray, day: int) -> np.ndarray:
        dow = self.dow_factor(day)
        return marginal(self.shape, budget, self.gain, self.half, self.hill) * dow * \
            self.efficiency[:, day]

    def dow_factor(self, day: int) -> np.ndarray:
        weekday = (self.start + dt.timedelta(days=day)).weekday()
        return np.asarray([self.weekday[n][weekday] for n in self.network])

    def deliver(self, budget: np.ndarray, day: int) -> tuple[np.ndarray, np.ndarray]:
        """Spend and conversions (by report lag) for one day at `budget`."""
        noise = self.rng.lognormal(-0.01, 0.15, budget.size)
        ceiling = np.asarray([OVERDELIVERY[n] for n in self.network])
        spend = budget * np.minimum(noise, ceiling)
        mean = self.expected(spend, day)
        conversions = self.rng.poisson(mean)
        arrivals = np.zeros((budget.size, MAX_LAG + 1), dtype=np.int64)
        for net in np.unique(self.network):
            rows = np.flatnonzero(self.network == net)
            arrivals[rows] = self.rng.multinomial(conversions[rows], _lag_pmf(net))
        return spend, arrivals


    def expected_clicks(self, budget: np.ndarray, day: int) -> np.ndarray:
        """True expected clicks: the delivery curve, (f(s) / f(base))^a (s / base)^(1-a)
        at the base budget's clicks, with the day's weekday factor and the delivery share
        of any efficiency change (a is the campaign's delivery share)."""
        assert self.delivery is not None and self.clicks_at_base is not None
        a = self.delivery
        own = response(self.shape, budget, self.gain, self.half, self.hill)
        base = response(self.shape, self.base_budget, self.gain, self.half, self.hill)
        ratio = np.maximum(budget, 0.0) / self.base_budget
        with np.errstate(divide="ignore", invalid="ignore"):
            curve = np.where(ratio > 0, (own / base) ** a * ratio ** (1 - a), 0.0)
        return self.clicks_at_base * curve * self.dow_factor(day) * \
            self.efficiency[:, day] ** a

    def funnel(self, spend: np.ndarray, day: int) -> tuple[np.ndarray, np.ndarray]:
        """Impressions and clicks for one day's spend (overdispersed counts)."""
        assert self.click_rng is not None and self.ctr is not None
        rng = self.click_rng
        mean = self.expected_clicks(spend, day) * rng.lognormal(
            -CLICK_NOISE**2 / 2, CLICK_NOISE, spend.size)
        clicks = rng.poisson(mean)
        impressions = clicks + rng.poisson(mean * (1 / self.ctr - 1))
        return impressions, clicks


def response(shape: np.ndarray, s: np.ndarray, gain: np.ndarray, half: np.ndarray,
             hill: np.ndarray) -> np.ndarray:
    s = np.maximum(s, 0.0)
    x = s / half
    return np.select(
        [shape == 0, shape == 1],
        [gain * x**hill / (1 + x**hill), gain * (1 - np.exp(-x))],
        gain * np.log1p(x) / np.log(4.0),
    )


def marginal(shape: np.ndarray, s: np.ndarray, gain: np.ndarray, half: np.ndarray,
             hill: np.ndarray) -> np.ndarray:
    x = np.maximum(s, 1e-12) / half
    return np.select(
        [shape == 0, shape == 1],
        [gain * hill * x ** (hill - 1) / (1 + x**hill) ** 2, gain * np.exp(-x)],
        gain / (1 + x) / np.log(4.0),
    ) / half


def make_market(n: int, *, seed: int, start: dt.date, days: int,
                shift_day: int | None = None, funnel: str = "mixed") -> Market:
    """`n` campaigns over the five accounts. With `shift_day`, a fifth of the campaigns
    gain or lose 35-50% of their efficiency from that day on. `funnel` (FUNNELS) splits
    their saturation between delivery and conversion rate; its draws come from a generator
    of their own, so the conversions are the same whichever is chosen."""
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, len(ACCOUNTS), n)
    network = np.asarray([ACCOUNTS[k][0] for k in pick])
    currency = np.asarray([ACCOUNTS[k][1] for k in pick])
    per_eur = np.asarray([ACCOUNTS[k][2] for k in pick])
    base_eur = rng.lognormal(np.log(120.0), 0.6, n)
    base = base_eur * per_eur
    # Half-saturation around the budget, so the budget range matters; CPA 15-60 EUR.
    half = base * rng.uniform(0.4, 3.0, n)
    shape = rng.integers(0, len(SHAPES), n)
    hill = np.where(shape == 0, rng.uniform(0.6, 1.0, n), 1.0)
    level = response(shape, base, np.ones(n), half, hill)
    gain = base_eur / rng.uniform(15.0, 60.0, n) / level
    value = rng.lognormal(np.log(60.0), 0.5, n)
    weekday = {net: 1.0 + 0.15 * np.sin(np.arange(7) * 2 * np.pi / 7 + rng.uniform(0, 6))
               for net in OVERDELIVERY}
    efficiency = np.ones((n, days))
    if shift_day is not None:
        changed = rng.random(n) < 0.2
        factor = np.where(rng.random(n) < 0.5, rng.uniform(0.5, 0.65, n),
                          rng.uniform(1.35, 1.5, n))
        efficiency[changed, shift_day:] = factor[changed, None]
    account = np.asarray([f"{ACCOUNTS[k][0]}_{ACCOUNTS[k][1].lower()}" for k in pick])
    extra = np.random.default_rng([seed, 1])
    if funnel == "mixed":
        delivery = extra.uniform(0.0, 1.0, n)
    elif funnel == "conversion-rate":
        delivery = np.zeros(n)
    elif funnel == "delivery":
        delivery = np.ones(n)
    else:
        raise ValueError(f"funnel must be one of {FUNNELS}")
    cpc = extra.uniform(0.3, 1.5, n)  # EUR a click at the base budget: 80-400 clicks a day
    ctr = extra.uniform(0.005, 0.03, n)
    return Market(start, days, network, currency, account, per_eur, shape, gain, half, hill,
                  value, weekday, efficiency, base, rng, delivery, base_eur / cpc, ctr,
                  np.random.default_rng([seed, 2]))


def history_budgets(market: Market, days: int) -> np.ndarray:
    """Budgets before the evaluation: 80% of campaigns varied 0.6-1.5x around their base
    (a manager's edits every week or so), the rest never changed."""
    n = market.base_budget.size
    steps = np.repeat(market.rng.uniform(0.6, 1.5, (n, days // 7 + 1)), 7, axis=1)[:, :days]
    flat = market.rng.random(n) < 0.2
    steps[flat] = 1.0
    steps[:, -1] = 1.0  # the evaluation starts from the base budgets
    return market.base_budget[:, None] * steps
