"""The sandbox's simulated accounts and campaigns, and the constants of their behaviour.

The simulated truth, per campaign: expected conversions at spend ``s`` follow a saturating
curve ``a * s / (s + h)`` (diminishing returns), scaled by a network day-of-week profile and
day-to-day noise; revenue is conversions times an average order value. Platforms overdeliver
on some days (Meta up to 75%, Google up to 2x a daily budget). Conversions are reported with
a lag: a day's count keeps rising for about two weeks (restated by later syncs).

Some campaigns run for awareness, engagement or video views, with the objectives their
platform gives them (a Meta awareness objective, a Google video campaign bidding per
thousand impressions or per view): their result (people reached, engagements, video views)
follows the same saturating curve, scaled to what a day at the base budget buys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from connectors.base import BudgetLevel
from connectors.currencies import decimals
from connectors.sandbox_random import seeded_rng, text_key

# Day-of-week multipliers, Monday first.
DOW_PROFILE = {
    "meta": (0.95, 0.97, 1.0, 1.0, 1.02, 1.08, 1.06),
    "google": (1.06, 1.05, 1.04, 1.02, 0.98, 0.9, 0.92),
    "tiktok": (0.92, 0.95, 0.98, 1.0, 1.05, 1.1, 1.08),
}
MAX_OVERDELIVERY = {"meta": 1.75, "google": 2.0, "tiktok": 1.5}
# Fraction of a day's conversions reported after ``age`` days.
LAG_SCALE_DAYS = 2.5


SETTLED_AFTER_DAYS = 21


def completion(age_days: int) -> float:
    """Share of a day's conversions reported ``age_days`` later; all of them once settled."""
    if age_days < 0:
        return 0.0
    if age_days >= SETTLED_AFTER_DAYS:
        return 1.0
    return 1.0 - math.exp(-(age_days + 0.5) / LAG_SCALE_DAYS)


@dataclass(frozen=True)
class SimAccount:
    network: str
    external_id: str
    name: str
    currency: str
    timezone: str
    fx_to_eur: float  # scales budgets and order values to look natural in the currency


@dataclass(frozen=True)
class SimCampaign:
    account: SimAccount
    index: int
    external_id: str
    name: str
    base_budget: float  # account currency
    half_saturation: float  # h: spend at which half of the ceiling is reached
    ceiling: float  # a: conversions/day at infinite spend
    order_value: float  # account currency per conversion
    varies: bool  # managers changed its budget over history
    change_period: int  # days between historical budget changes
    level: BudgetLevel = "campaign"
    # Where its budget lives: the campaign's own id on Meta (the campaign holds it), an ad
    # set's id, or on Google a campaign budget id, which is never the campaign's own id.
    budget_key: str = ""
    history_key: str = ""  # seeds the simulated budget history (budget_key when empty)
    share: float = 1.0  # share of a shared budget this campaign spends
    status: str = "ACTIVE"
    objective: str = "OUTCOME_SALES"
    bid_strategy: str = "LOWEST_COST"
    result: str = "conversions"  # what its objective buys: conversions, reach, ...

    def expected_conversions(self, spend: float) -> float:
        return self.ceiling * spend / (spend + self.half_saturation) if spend > 0 else 0.0

    def expected_result(self, spend: float) -> float:
        """People reached, engagements or video views a day at ``spend`` (awareness, engagement
        and video campaigns): ``RESULT_AT_BASE`` per euro at the base budget, saturating."""
        at_base = self.expected_conversions(self.base_budget)
        per_euro = RESULT_AT_BASE.get(self.result, 0.0)
        if at_base <= 0 or not per_euro:
            return 0.0
        base_eur = self.base_budget / max(self.account.fx_to_eur, 1e-9)
        return per_euro * base_eur * self.expected_conversions(spend) / at_base


# What one euro buys at a campaign's base budget: 50 people reached (a CPM near 5 EUR at
# a frequency of 4 a week), 20 engagements (0.05 EUR each), 30 video views.
RESULT_AT_BASE = {"reach": 50.0, "engagement": 20.0, "video_views": 30.0}

# A theme's purpose per network: (objective, bidding strategy, result). The rest sells.
PURPOSES: dict[tuple[str, str], tuple[str, str, str]] = {
    ("meta", "Brand"): ("OUTCOME_AWARENESS", "LOWEST_COST", "reach"),
    ("meta", "Lookalike"): ("OUTCOME_ENGAGEMENT", "LOWEST_COST", "engagement"),
    ("meta", "Video"): ("VIDEO_VIEWS", "LOWEST_COST", "video_views"),
    ("google", "Brand"): ("VIDEO", "TARGET_CPM", "reach"),
    ("google", "Video"): ("VIDEO", "MANUAL_CPV", "video_views"),
    ("tiktok", "Brand"): ("REACH", "LOWEST_COST", "reach"),
    ("tiktok", "Video"): ("VIDEO_VIEWS", "LOWEST_COST", "video_views"),
}


DEFAULT_ACCOUNTS = (
    SimAccount("meta", "act_1001", "Meta · Europe", "EUR", "Europe/Berlin", 1.0),
    SimAccount("meta", "act_1002", "Meta · Japan", "JPY", "Asia/Tokyo", 160.0),
    SimAccount("google", "1234567890", "Google Ads · US", "USD", "America/New_York", 1.08),
    SimAccount("google", "2345678901", "Google Ads · UK", "GBP", "Europe/London", 0.85),
    SimAccount("tiktok", "tt_5001", "TikTok · Europe", "EUR", "Europe/Paris", 1.0),
)


def sandbox_accounts(count: int = len(DEFAULT_ACCOUNTS), start: int = 0
                     ) -> tuple[SimAccount, ...]:
    """``count`` accounts from the ``start``-th on: the five above, then more of the same
    kinds (numbered on), so a benchmark can ask for a larger world (or several sandboxes of
    disjoint accounts) without changing the default one."""
    out = []
    for i in range(start, start + count):
        if i < len(DEFAULT_ACCOUNTS):
            out.append(DEFAULT_ACCOUNTS[i])
            continue
        base = DEFAULT_ACCOUNTS[i % len(DEFAULT_ACCOUNTS)]
        n = i // len(DEFAULT_ACCOUNTS) + 1
        prefix = "act_" if base.external_id.startswith("act_") else (
            "tt_" if base.external_id.startswith("tt_") else "")
        number = int(base.external_id.removeprefix(prefix)) + 10 * i
        out.append(SimAccount(base.network, f"{prefix}{number}", f"{base.name} {n}",
                              base.currency, base.timezone, base.fx_to_eur))
    return tuple(out)


CAMPAIGN_THEMES = (
    "Prospecting", "Retargeting", "Brand", "Generic", "Shopping", "Lookalike", "Video",
    "Catalogue", "Competitor", "Seasonal",
)  # fmt: skip


def build_campaigns(
    seed: int, accounts: tuple[SimAccount, ...], per_account: int
) -> list[SimCampaign]:
    campaigns: list[SimCampaign] = []
    for account in accounts:
        rng = seeded_rng(seed, text_key(account.external_id))
        for i in range(per_account):
            theme = CAMPAIGN_THEMES[i % len(CAMPAIGN_THEMES)]
            base_eur = float(rng.choice([40, 60, 80, 120, 150, 200, 300, 450]))
            cpa_eur = float(rng.uniform(12, 70))
            h_ratio = float(rng.uniform(0.5, 3.0))  # how saturated the campaign already is
            base = round_money(base_eur * account.fx_to_eur, account.currency)
            h = base * h_ratio
            # Choose the ceiling so that the average CPA at the base budget is cpa_eur.
            conv_at_base = base_eur / cpa_eur
            ceiling = conv_at_base * (base + h) / base
            ext = f"{account.external_id.replace('act_', '')}{i + 1:03d}"
            objective, bidding, result = PURPOSES.get(
                (account.network, theme), ("OUTCOME_SALES", "LOWEST_COST", "conversions"))
            campaigns.append(
                SimCampaign(
                    account=account,
                    index=len(campaigns),
                    external_id=ext,
                    name=f"{account.name.split(' · ')[1]} · {theme} {i + 1}",
                    base_budget=base,
                    half_saturation=h,
                    ceiling=ceiling,
                    order_value=float(rng.uniform(35, 160)) * account.fx_to_eur,
                    varies=bool(rng.random() < 0.8),
                    change_period=int(rng.integers(7, 22)),
                    budget_key=_budget_id(account, ext),
                    objective=objective, bid_strategy=bidding, result=result,
                    history_key=ext,  # the same simulated past as before budgets had ids
                    status="PAUSED"
                    if i == per_account - 1 and account.network == "google"
                    else "ACTIVE",
                )
            )
    return _with_structures(campaigns)


def _with_structures(campaigns: list[SimCampaign]) -> list[SimCampaign]:
    """Give the sample the shapes real accounts have: a shared Google budget, ad-set budgets.

    Each lives inside one account: the first Google account with three active campaigns
    shares a budget between two of them; the first Meta account with two campaigns has one
    whose budget lives on its ad set.
    """
    out = list(campaigns)
    by_account: dict[str, list[SimCampaign]] = {}
    for c in out:
        by_account.setdefault(c.account.external_id, []).append(c)
    for group in by_account.values():
        google = [c for c in group if c.account.network == "google" and c.status == "ACTIVE"]
        if len(google) >= 3:
            a, b = google[1], google[2]
            key = f"shared_{a.account.external_id}_1"
            total = a.base_budget + b.base_budget
            for c, share in ((a, a.base_budget / total), (b, b.base_budget / total)):
                out[c.index] = _replace(c, level="shared", budget_key=key, history_key=key,
                                        share=share, base_budget=total)
            break
    for group in by_account.values():
        if group[0].account.network == "meta" and len(group) >= 2:
            c = group[1]
            key = f"{c.external_id}_as1"
            out[c.index] = _replace(c, level="adset", budget_key=key, history_key=key)
            break
    return out


def _budget_id(account: SimAccount, campaign_id: str) -> str:
    """A campaign's own budget: on Google Ads a resource with an id of its own."""
    return f"9{campaign_id}" if account.network == "google" else campaign_id


def _replace(c: SimCampaign, **kw: Any) -> SimCampaign:
    return SimCampaign(**{**c.__dict__, **kw})


def round_money(value: float, currency: str) -> float:
    places = decimals(currency)
    return round(value, places)
