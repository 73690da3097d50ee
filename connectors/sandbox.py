"""The sandbox ad platform: a seeded, deterministic simulation of three networks.

It is what the demo, the backtest and the tests run against when there are no credentials.
Every number is a pure function of (seed, campaign, day) and the budgets in force, so two runs
agree to the cent, and budgets written through :meth:`SandboxConnector.apply_budget` change
what the following days deliver — the loop closes.

The simulated truth, per campaign: expected conversions at spend ``s`` follow a saturating
curve ``a * s / (s + h)`` (diminishing returns), scaled by a network day-of-week profile and
day-to-day noise; revenue is conversions times an average order value. Platforms overdeliver
on some days (Meta up to 75%, Google up to 2x a daily budget). Conversions are reported with
a lag: a day's count keeps rising for about two weeks (restated by later syncs).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from connectors.base import (
    AccountRecord,
    AdSetRecord,
    BudgetLevel,
    BudgetResult,
    BudgetTarget,
    CampaignRecord,
    ConnectorError,
    FxRecord,
    MetricRecord,
)
from connectors.currencies import decimals
from connectors.sandbox_options import SandboxOptions

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

    def expected_conversions(self, spend: float) -> float:
        return self.ceiling * spend / (spend + self.half_saturation) if spend > 0 else 0.0


DEFAULT_ACCOUNTS = (
    SimAccount("meta", "act_1001", "Meta · Europe", "EUR", "Europe/Berlin", 1.0),
    SimAccount("meta", "act_1002", "Meta · Japan", "JPY", "Asia/Tokyo", 160.0),
    SimAccount("google", "1234567890", "Google Ads · US", "USD", "America/New_York", 1.08),
    SimAccount("google", "2345678901", "Google Ads · UK", "GBP", "Europe/London", 0.85),
    SimAccount("tiktok", "tt_5001", "TikTok · Europe", "EUR", "Europe/Paris", 1.0),
)


def sandbox_accounts(count: int = len(DEFAULT_ACCOUNTS)) -> tuple[SimAccount, ...]:
    """The first ``count`` accounts: the five above, then more of the same kinds (numbered
    on), so a benchmark can ask for a larger world without changing the default one."""
    out = list(DEFAULT_ACCOUNTS[:count])
    for i in range(len(DEFAULT_ACCOUNTS), count):
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


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng([k & 0xFFFFFFFF for k in keys])


# NumPy's SeedSequence and PCG64 seeding, written out so that the streams of a whole day's
# campaigns are seeded in one vectorised pass: ``np.random.default_rng(keys)`` costs ~50 µs a
# call, which made generating a large sandbox's history take longer than syncing it. The
# states are the very ones ``_rng`` produces (pinned by a test), so every number is unchanged.
_M32 = 0xFFFFFFFF
_INIT_A, _MULT_A, _INIT_B, _MULT_B = 0x43B0D7E5, 0x931E8875, 0x8B51F9DD, 0x58F38DED
_MIX_L, _MIX_R = np.uint32(0xCA01F9DD), np.uint32(0x4973F715)
_PCG_MULT = 0x2360ED051FC65DA44385DF649FCCF645
_M128 = (1 << 128) - 1


def _hashmix(value: np.ndarray, h: int) -> tuple[np.ndarray, int]:
    value = value ^ np.uint32(h)
    h = (h * _MULT_A) & _M32
    value = value * np.uint32(h)
    return value ^ (value >> np.uint32(16)), h


def _mix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    r = _MIX_L * x - _MIX_R * y
    return r ^ (r >> np.uint32(16))


def pcg_states(columns: list[np.ndarray]) -> list[tuple[int, int]]:
    """PCG64 (state, inc) of ``np.random.default_rng([k1, k2, ...])`` for many key rows at
    once; ``columns[j]`` holds the j-th key of every row (each below 2**32)."""
    n = len(columns[0])
    words = [np.asarray(c, dtype=np.uint32) for c in columns]
    words += [np.zeros(n, dtype=np.uint32)] * (4 - len(words))
    with np.errstate(over="ignore"):
        h = _INIT_A
        pool = []
        for w in words[:4]:
            v, h = _hashmix(w, h)
            pool.append(v)
        for src in range(4):
            for dst in range(4):
                if src != dst:
                    v, h = _hashmix(pool[src], h)
                    pool[dst] = _mix(pool[dst], v)
        for w in words[4:]:
            for dst in range(4):
                v, h = _hashmix(w, h)
                pool[dst] = _mix(pool[dst], v)
        h = _INIT_B
        out = []
        for i in range(8):
            v = pool[i % 4] ^ np.uint32(h)
            h = (h * _MULT_B) & _M32
            v = v * np.uint32(h)
            out.append((v ^ (v >> np.uint32(16))).astype(np.uint64))
    v64 = [(out[i] | (out[i + 1] << np.uint64(32))).tolist() for i in range(0, 8, 2)]
    states = []
    for s_hi, s_lo, i_hi, i_lo in zip(*v64, strict=True):
        inc = (((i_hi << 64) | i_lo) << 1 | 1) & _M128
        state = (((inc + ((s_hi << 64) | s_lo)) & _M128) * _PCG_MULT + inc) & _M128
        states.append((state, inc))
    return states


class _Streams:
    """Generators whose state is set from :func:`pcg_states` (one object, reseeded)."""

    def __init__(self) -> None:
        self.gen = np.random.Generator(np.random.PCG64(0))

    def at(self, state: tuple[int, int]) -> np.random.Generator:
        self.gen.bit_generator.state = {
            "bit_generator": "PCG64", "state": {"state": state[0], "inc": state[1]},
            "has_uint32": 0, "uinteger": 0,
        }
        return self.gen


def _key(text: str) -> int:
    return zlib.crc32(text.encode())


def build_campaigns(
    seed: int, accounts: tuple[SimAccount, ...], per_account: int
) -> list[SimCampaign]:
    campaigns: list[SimCampaign] = []
    for account in accounts:
        rng = _rng(seed, _key(account.external_id))
        for i in range(per_account):
            theme = CAMPAIGN_THEMES[i % len(CAMPAIGN_THEMES)]
            base_eur = float(rng.choice([40, 60, 80, 120, 150, 200, 300, 450]))
            cpa_eur = float(rng.uniform(12, 70))
            h_ratio = float(rng.uniform(0.5, 3.0))  # how saturated the campaign already is
            base = _round_money(base_eur * account.fx_to_eur, account.currency)
            h = base * h_ratio
            # Choose the ceiling so that the average CPA at the base budget is cpa_eur.
            conv_at_base = base_eur / cpa_eur
            ceiling = conv_at_base * (base + h) / base
            ext = f"{account.external_id.replace('act_', '')}{i + 1:03d}"
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


def _round_money(value: float, currency: str) -> float:
    places = decimals(currency)
    return round(value, places)


class SandboxConnector:
    """A simulated ad platform speaking the :class:`connectors.base.Connector` protocol.

    ``now`` fixes the platform's clock (tests and the backtest move it); budgets set through
    :meth:`apply_budget` are kept in ``state_path`` when given, so separate runs of the CLI see
    the same platform.
    """

    network = "sandbox"

    def __init__(
        self,
        *,
        name: str = "sandbox",
        seed: int = 7,
        campaigns_per_account: int = 6,
        accounts: tuple[SimAccount, ...] = DEFAULT_ACCOUNTS,
        state_path: str | Path | None = None,
        now: dt.datetime | None = None,
        fail_accounts: tuple[str, ...] = (),
        latency_ms: float = 0,
    ) -> None:
        self.name = name
        # Seconds each platform call waits: a real platform's network and report time, for
        # benchmarks of work spread over several processes.
        self.latency = max(0.0, float(latency_ms)) / 1000
        self.seed = seed
        self.accounts = {a.external_id: a for a in accounts}
        self.campaigns = build_campaigns(seed, accounts, campaigns_per_account)
        self.by_key: dict[str, list[SimCampaign]] = {}
        for c in self.campaigns:
            self.by_key.setdefault(c.budget_key, []).append(c)
        self.state_path = Path(state_path) if state_path else None
        self._now = now
        self.fail_accounts = set(fail_accounts)
        # budget_key -> sorted [(effective local date, budget)] set through apply_budget
        self.overrides: dict[str, list[tuple[dt.date, float]]] = {}
        self._factors: dict[str, tuple[int, float]] = {}
        self._load_state()
        self.calls = 0

    @classmethod
    def from_options(
        cls, name: str, options: SandboxOptions | dict[str, Any]
    ) -> SandboxConnector:
        o = SandboxOptions.model_validate(options)
        return cls(
            name=name,
            seed=o.seed,
            campaigns_per_account=o.campaigns_per_account,
            accounts=sandbox_accounts(o.accounts or len(DEFAULT_ACCOUNTS)),
            state_path=o.state_path,
            now=o.now.replace(tzinfo=dt.UTC) if o.now else None,
            fail_accounts=tuple(o.fail_accounts),
            latency_ms=o.latency_ms,
        )

    # -- the clock -----------------------------------------------------------------------
    @property
    def now(self) -> dt.datetime:
        return self._now or dt.datetime.now(dt.UTC)

    def set_now(self, now: dt.datetime) -> None:
        self._now = now

    def local_today(self, account: SimAccount) -> dt.date:
        return self.now.astimezone(ZoneInfo(account.timezone)).date()

    # -- state -----------------------------------------------------------------------------
    # Budgets live in ``state_path`` (a snapshot) plus a journal beside it, one JSON line per
    # write: a write appends a line instead of rewriting every budget ever set, which made
    # applying N items cost N snapshots. Loading folds a large journal into the snapshot.
    JOURNAL_COMPACT_BYTES = 1 << 20

    @property
    def _journal(self) -> Path | None:
        return self.state_path.with_name(self.state_path.name + ".log") if self.state_path else None

    def _load_state(self) -> None:
        if not self.state_path:
            return
        if self.state_path.exists():
            raw = json.loads(self.state_path.read_text())
            if raw.get("seed") == self.seed:
                # State written before Google budgets had ids of their own is keyed by the
                # campaign's id: it belongs to that campaign's budget.
                renamed = {
                    c.history_key: c.budget_key for c in self.campaigns
                    if c.history_key and c.history_key != c.budget_key
                }
                self.overrides = {
                    renamed.get(k, k): [(dt.date.fromisoformat(d), float(b)) for d, b in v]
                    for k, v in raw.get("overrides", {}).items()
                }
        journal = self._journal
        assert journal is not None
        if not journal.exists():
            return
        compact = journal.stat().st_size > self.JOURNAL_COMPACT_BYTES
        if compact:  # take the journal away first: writers that come later start a new one
            taken = journal.with_name(f"{journal.name}.{os.getpid()}")
            try:
                journal.replace(taken)
            except OSError:
                compact, taken = False, journal
            journal = taken
        try:
            lines = journal.read_text().splitlines()
        except OSError:
            return
        for line in lines:
            entry = json.loads(line) if line.strip() else None
            if entry and entry.get("seed") == self.seed:
                self._set_override(entry["key"], dt.date.fromisoformat(entry["day"]),
                                   float(entry["budget"]))
        if compact:
            self._save_state()
            journal.unlink(missing_ok=True)

    def _set_override(self, key: str, day: dt.date, amount: float) -> None:
        history = [(d, b) for d, b in self.overrides.get(key, []) if d < day]
        history.append((day, amount))
        self.overrides[key] = history

    def _save_state(self) -> None:
        if not self.state_path:
            return
        raw = {
            "seed": self.seed,
            "overrides": {k: [(d.isoformat(), b) for d, b in v] for k, v in self.overrides.items()},
        }
        tmp = self.state_path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(raw))
        tmp.replace(self.state_path)

    def _record(self, key: str, day: dt.date, amount: float) -> None:
        self._set_override(key, day, amount)
        journal = self._journal
        if journal is not None:
            line = json.dumps({"seed": self.seed, "key": key, "day": day.isoformat(),
                               "budget": amount})
            with journal.open("a", encoding="utf-8") as f:
                f.write(line + "\n")

    # -- the simulated world ---------------------------------------------------------------
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
            factor = float(_rng(self.seed, _key(key), period).uniform(0.6, 1.5))
            self._factors[key] = cached = (period, factor)
        return _round_money(c.base_budget * cached[1], c.account.currency)

    def true_day(
        self, c: SimCampaign, day: dt.date, rng: np.random.Generator | None = None
    ) -> tuple[float, float, float]:
        """(spend, expected conversions, expected revenue) before noise and lag."""
        budget = self.budget_on(c, day) * c.share
        rng = rng or _rng(self.seed, c.index, day.toordinal())
        # min/max, not np.clip: the same float, without NumPy's per-call overhead.
        delivery = min(max(float(rng.lognormal(-0.02, 0.07)), 0.5),
                       MAX_OVERDELIVERY.get(c.account.network, 1.5))
        if rng.random() < 0.04:  # now and then a platform overdelivers hard
            delivery = float(rng.uniform(1.2, MAX_OVERDELIVERY.get(c.account.network, 1.5)))
        spend = _round_money(budget * delivery, c.account.currency)
        dow = DOW_PROFILE.get(c.account.network, DOW_PROFILE["meta"])[day.weekday()]
        conv = c.expected_conversions(spend) * dow
        return spend, conv, conv * c.order_value

    def day_metrics(
        self, c: SimCampaign, day: dt.date, observed: dt.date,
        rngs: tuple[np.random.Generator, np.random.Generator] | None = None,
    ) -> MetricRecord:
        spend, conv_mean, _ = self.true_day(c, day, rngs[0] if rngs else None)
        rng = rngs[1] if rngs else _rng(self.seed, c.index, day.toordinal(), 1)
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
        q = Decimal(1).scaleb(-decimals(c.account.currency))
        return MetricRecord(
            campaign_external_id=c.external_id,
            date=day,
            spend=Decimal(repr(spend)).quantize(q, ROUND_HALF_UP),
            impressions=impressions,
            clicks=clicks,
            conversions=Decimal(reported),
            revenue=Decimal(repr(revenue)).quantize(q, ROUND_HALF_UP),
        )

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
                wobble = 1 + 0.015 * math.sin(d.toordinal() / 11 + _key(code) % 7)
                return wobble / per_eur[code]

            for code in sorted(per_eur):
                if code != quote:
                    rate = in_eur(code) / in_eur(quote)
                    out.append(FxRecord(day, code, quote,
                                        Decimal(repr(rate)).quantize(Decimal("1e-10"))))
            day += dt.timedelta(days=1)
        return out

    # -- Connector protocol ----------------------------------------------------------------
    def _account(self, external_id: str) -> SimAccount:
        self.calls += 1
        if self.latency:
            time.sleep(self.latency)
        if external_id in self.fail_accounts:
            raise ConnectorError(
                f"sandbox: access to account {external_id} was revoked", kind="auth"
            )
        try:
            return self.accounts[external_id]
        except KeyError:
            raise ConnectorError(f"sandbox: no account {external_id}", kind="invalid") from None

    def list_accounts(self) -> list[AccountRecord]:
        self.calls += 1
        return [
            AccountRecord(a.network, a.external_id, a.name, a.currency, a.timezone)
            for a in self.accounts.values()
        ]

    def _campaigns_of(self, account: SimAccount) -> list[SimCampaign]:
        return [c for c in self.campaigns if c.account.external_id == account.external_id]

    def _money(self, value: float, currency: str) -> Decimal:
        return Decimal(repr(value)).quantize(Decimal(1).scaleb(-decimals(currency)))

    def list_campaigns(self, account_external_id: str) -> list[CampaignRecord]:
        account = self._account(account_external_id)
        today = self.local_today(account)
        out = []
        for c in self._campaigns_of(account):
            budget = self._money(self.budget_on(c, today), account.currency)
            out.append(
                CampaignRecord(
                    external_id=c.external_id,
                    name=c.name,
                    status=c.status.lower(),
                    budget_level=c.level,
                    daily_budget=None if c.level == "adset" else budget,
                    budget_external_id=c.budget_key,
                    budget_shared=c.level == "shared",
                    objective=c.objective,
                    bid_strategy="LOWEST_COST",
                )
            )
        return out

    def list_ad_sets(self, account_external_id: str) -> list[AdSetRecord]:
        account = self._account(account_external_id)
        today = self.local_today(account)
        out = []
        for c in self._campaigns_of(account):
            budget = (
                self._money(self.budget_on(c, today), account.currency)
                if c.level == "adset"
                else None
            )
            out.append(
                AdSetRecord(
                    campaign_external_id=c.external_id,
                    external_id=c.budget_key if c.level == "adset" else f"{c.external_id}_as",
                    name=f"{c.name} · ad set",
                    status=c.status.lower(),
                    daily_budget=budget,
                )
            )
        return out

    def daily_metrics(
        self, account_external_id: str, start: dt.date, end: dt.date
    ) -> Iterator[MetricRecord]:
        account = self._account(account_external_id)
        observed = self.local_today(account)
        end = min(end, observed - dt.timedelta(days=1))  # no data for days not yet over
        day = start
        campaigns = [c for c in self._campaigns_of(account) if c.status == "ACTIVE"]
        indexes = np.array([c.index & _M32 for c in campaigns], dtype=np.uint32)
        seed = np.full(len(campaigns), self.seed & _M32, dtype=np.uint32)
        one = np.ones(len(campaigns), dtype=np.uint32)
        delivery, noise = _Streams(), _Streams()
        while day <= end and campaigns:
            ordinal = np.full(len(campaigns), day.toordinal() & _M32, dtype=np.uint32)
            # The streams _rng(seed, index, day) and _rng(seed, index, day, 1) of every campaign.
            firsts = pcg_states([seed, indexes, ordinal])
            seconds = pcg_states([seed, indexes, ordinal, one])
            for c, a, b in zip(campaigns, firsts, seconds, strict=True):
                yield self.day_metrics(c, day, observed, (delivery.at(a), noise.at(b)))
            day += dt.timedelta(days=1)

    def _target_campaigns(self, target: BudgetTarget) -> list[SimCampaign]:
        account = self._account(target.account_external_id)
        found = [
            c
            for c in self.by_key.get(target.external_id, [])
            if c.account.external_id == account.external_id
        ]
        if not found:
            raise ConnectorError(
                f"sandbox: no {target.level} budget {target.external_id} in "
                f"{target.account_external_id}",
                kind="invalid",
            )
        if target.level != found[0].level:
            raise ConnectorError(
                f"sandbox: budget {target.external_id} lives at the {found[0].level} level, "
                f"not {target.level}",
                kind="invalid",
            )
        return found

    def read_budget(self, target: BudgetTarget) -> Decimal:
        c = self._target_campaigns(target)[0]
        return self._money(self.budget_on(c, self.local_today(c.account)), c.account.currency)

    def apply_budget(
        self, target: BudgetTarget, daily_budget: Decimal, *, dry_run: bool = False
    ) -> BudgetResult:
        c = self._target_campaigns(target)[0]
        currency = c.account.currency
        if daily_budget <= 0:
            raise ConnectorError(
                f"sandbox: budget must be positive, got {daily_budget}", kind="invalid"
            )
        amount = daily_budget.quantize(Decimal(1).scaleb(-decimals(currency)), ROUND_HALF_UP)
        if dry_run:  # what the platform would hold, as a validate-only call answers
            return BudgetResult(target, daily_budget, amount, changed=False, dry_run=True)
        current = self.read_budget(target)
        if amount == current:
            return BudgetResult(target, daily_budget, current, changed=False)
        self._record(c.budget_key, self.local_today(c.account), float(amount))
        return BudgetResult(target, daily_budget, self.read_budget(target), changed=True)
