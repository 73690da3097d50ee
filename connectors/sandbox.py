"""The sandbox ad platform: a seeded, deterministic simulation of three networks.

It is what the demo, the backtest and the tests run against when there are no credentials.
Every number is a pure function of (seed, campaign, day) and the budgets in force, so two runs
agree to the cent, and budgets written through :meth:`SandboxConnector.apply_budget` change
what the following days deliver — the loop closes.

The simulated world (accounts, campaigns, their response curves) is in ``sandbox_world``, what
it delivers day by day in ``sandbox_simulation``, the budgets written to it in
``sandbox_state``; this module is the platform's face, the Connector protocol.
"""

from __future__ import annotations

import datetime as dt
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import numpy as np

from connectors import deadline
from connectors.base import (
    AccountRecord,
    AdSetRecord,
    BudgetOutcome,
    BudgetResult,
    BudgetTarget,
    CampaignRecord,
    ConnectorError,
    MetricRecord,
    PeriodReachRecord,
    stops,
)
from connectors.currencies import minor_unit
from connectors.rate_limits import PlatformLimits, rule
from connectors.sandbox_options import SandboxOptions
from connectors.sandbox_random import KEY_MASK, SeededStreams, pcg_states, seeded_rng
from connectors.sandbox_simulation import AUDIENCE_DAYS, SandboxSimulation, unique_reach
from connectors.sandbox_world import (
    DEFAULT_ACCOUNTS,
    SimAccount,
    SimCampaign,
    build_campaigns,
    sandbox_accounts,
)


class SandboxConnector(SandboxSimulation):
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
        stuck_reports: tuple[str, ...] = (),
        latency_ms: float = 0,
        limits: PlatformLimits | None = None,
        rate_limit_app: str | None = None,
        rate_limit_account: str | None = None,
        period_reach: bool = False,
        report_seconds: tuple[float, float] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        app: str | None = None,
    ) -> None:
        self.name = name
        self.app = app or name  # the scope of rate_limit_app
        self.answers_period_reach = period_reach
        # Seconds each platform call waits: a real platform's network and report time, for
        # benchmarks of work spread over several processes.
        self.latency = max(0.0, float(latency_ms)) / 1000
        # An async insights report's wait before a metrics window arrives (Meta's take seconds
        # to minutes): drawn per seed, account and window, so every run waits the same.
        self.report_seconds = report_seconds
        self._sleep = sleep
        self.seed = seed
        self.accounts = {a.external_id: a for a in accounts}
        self.campaigns = build_campaigns(seed, accounts, campaigns_per_account)
        self.by_key: dict[str, list[SimCampaign]] = {}
        # Each account's campaigns, in order: an agency-sized sandbox has 100,000 of them.
        self.by_account: dict[str, list[SimCampaign]] = {}
        for c in self.campaigns:
            self.by_key.setdefault(c.budget_key, []).append(c)
            self.by_account.setdefault(c.account.external_id, []).append(c)
        self.state_path = Path(state_path) if state_path else None
        self._now = now
        self.fail_accounts = set(fail_accounts)
        self.stuck_reports = set(stuck_reports)
        # budget_key -> sorted [(effective local date, budget)] set through apply_budget
        self.overrides: dict[str, list[tuple[dt.date, float]]] = {}
        self._factors: dict[str, tuple[int, float]] = {}
        self._load_state()
        self.calls = 0
        # The platforms' rate limits, simulated: per app (this source) and per account.
        self.limits = limits or PlatformLimits()
        self.rate_rules = {"sandbox_app": rule(rate_limit_app, "rate_limit_app"),
                           "sandbox_account": rule(rate_limit_account, "rate_limit_account")}
        self._limited = any(self.rate_rules.values())

    @classmethod
    def from_options(
        cls, name: str, options: SandboxOptions | dict[str, Any],
        limits: PlatformLimits | None = None,
    ) -> SandboxConnector:
        o = SandboxOptions.model_validate(options)
        return cls(
            name=name,
            seed=o.seed,
            campaigns_per_account=o.campaigns_per_account,
            accounts=sandbox_accounts(o.accounts or len(DEFAULT_ACCOUNTS), o.first_account),
            app=o.app,
            state_path=o.state_path,
            now=o.now.replace(tzinfo=dt.UTC) if o.now else None,
            fail_accounts=tuple(o.fail_accounts),
            stuck_reports=tuple(o.stuck_reports),
            latency_ms=o.latency_ms,
            limits=limits,
            rate_limit_app=o.rate_limit_app,
            rate_limit_account=o.rate_limit_account,
            period_reach=o.period_reach,
            report_seconds=o.report_seconds,
        )

    def _account(self, external_id: str) -> SimAccount:
        deadline.check(f"sandbox account {external_id}")
        if self._limited:
            self.limits.wait_turn([("sandbox_app", self.app), ("sandbox_account", external_id)],
                                  f"sandbox account {external_id}", rules=self.rate_rules)
        self.calls += 1
        if self.latency:
            self._sleep(self.latency)
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
        return self.by_account.get(account.external_id, [])

    def report_wait(self, account_external_id: str, start: dt.date, end: dt.date) -> float:
        """Seconds the async report of this account's window takes (0 without
        ``report_seconds``): the same for the same seed, account and window."""
        if not self.report_seconds:
            return 0.0
        low, high = self.report_seconds
        key = zlib.crc32(account_external_id.encode())
        draw = seeded_rng(self.seed, key, start.toordinal(), end.toordinal(), 2).random()
        return low + (high - low) * float(draw)

    def _money(self, value: float, currency: str) -> Decimal:
        return Decimal(repr(value)).quantize(minor_unit(currency))

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
                    bid_strategy=c.bid_strategy,
                    result_kind=c.result,
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
        wait = self.report_wait(account_external_id, start, end)
        while account_external_id in self.stuck_reports:
            # polled for a report that never finishes
            deadline.sleep(3600, f"sandbox report of {account_external_id}", self._sleep)
        if wait:
            # the report runs on the platform before any row comes back
            deadline.sleep(wait, f"sandbox report of {account_external_id}", self._sleep)
        day = start
        campaigns = [c for c in self._campaigns_of(account) if c.status == "ACTIVE"]
        indexes = np.array([c.index & KEY_MASK for c in campaigns], dtype=np.uint32)
        seed = np.full(len(campaigns), self.seed & KEY_MASK, dtype=np.uint32)
        one = np.ones(len(campaigns), dtype=np.uint32)
        delivery, noise = SeededStreams(), SeededStreams()
        while day <= end and campaigns:
            ordinal = np.full(len(campaigns), day.toordinal() & KEY_MASK, dtype=np.uint32)
            # The streams seeded_rng(seed, index, day) and seeded_rng(seed, index, day, 1) of
            # every campaign.
            firsts = pcg_states([seed, indexes, ordinal])
            seconds = pcg_states([seed, indexes, ordinal, one])
            for c, a, b in zip(campaigns, firsts, seconds, strict=True):
                yield self.day_metrics(c, day, observed, (delivery.at(a), noise.at(b)))
            day += dt.timedelta(days=1)

    def period_reach(
        self, account_external_id: str, start: dt.date, end: dt.date
    ) -> list[PeriodReachRecord]:
        """People reached over ``start..end`` per campaign and for the account, each once
        (with ``period_reach``, Meta accounts only: the other networks have no such query).
        Campaigns of an account share part of their audience, so the account's figure is
        below the sum of its campaigns'."""
        account = self._account(account_external_id)
        if not self.answers_period_reach or account.network != "meta":
            return []
        daily: dict[str, list[int]] = {}
        impressions: dict[str, int] = {}
        for m in self.daily_metrics(account_external_id, start, end):
            if m.reach:
                daily.setdefault(m.campaign_external_id, []).append(m.reach)
                impressions[m.campaign_external_id] = (
                    impressions.get(m.campaign_external_id, 0) + m.impressions)
        audiences = {c: AUDIENCE_DAYS * sum(r) / len(r) for c, r in daily.items()}
        out = [PeriodReachRecord(c, start, end, unique_reach(r, audiences[c]), impressions[c])
               for c, r in daily.items()]
        if daily:
            pooled = [x for r in daily.values() for x in r]
            out.append(PeriodReachRecord(
                None, start, end, unique_reach(pooled, 0.7 * sum(audiences.values())),
                sum(impressions.values())))
        return out

    def _target_campaigns(self, target: BudgetTarget) -> list[SimCampaign]:
        return self._found(self._account(target.account_external_id), target)

    def _found(self, account: SimAccount, target: BudgetTarget) -> list[SimCampaign]:
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
        self._catch_up()
        return self._money(self.budget_on(c, self.local_today(c.account)), c.account.currency)

    def read_budgets(self, targets: Sequence[BudgetTarget]) -> list[Decimal | ConnectorError]:
        """The targets' budgets in one call per account, as a platform's listing answers
        (connectors.base.BudgetListing)."""
        accounts: dict[str, SimAccount | ConnectorError] = {}
        out: list[Decimal | ConnectorError] = []
        for target in targets:
            ext = target.account_external_id
            if ext not in accounts:
                try:
                    accounts[ext] = self._account(ext)
                except ConnectorError as err:
                    accounts[ext] = err
            try:
                account = accounts[ext]
                if isinstance(account, ConnectorError):
                    raise account
                c = self._found(account, target)[0]
                self._catch_up()
                out.append(self._money(self.budget_on(c, self.local_today(c.account)),
                                       c.account.currency))
            except ConnectorError as err:
                out.append(err)
        return out

    def apply_budget(
        self, target: BudgetTarget, daily_budget: Decimal, *, dry_run: bool = False,
        current: Decimal | None = None,
    ) -> BudgetResult:
        """``current``: the budget :meth:`read_budgets` just read; not read again."""
        sent = self._send(target, daily_budget, dry_run=dry_run, current=current)
        if not sent.changed:
            return sent
        return BudgetResult(target, daily_budget, self.read_budget(target), changed=True)

    def apply_budgets(
        self, changes: Sequence[tuple[BudgetTarget, Decimal]], *, dry_run: bool = False,
        current: Sequence[Decimal] | None = None,
    ) -> list[BudgetOutcome]:
        """One call per write, then one per account reading them back, as Meta's connector
        does (connectors.base.apply_budgets); after an auth or deadline failure the list
        ends there."""
        outcomes: list[BudgetOutcome] = []
        written: list[int] = []
        for index, (target, amount) in enumerate(changes):
            try:
                sent = self._send(target, amount, dry_run=dry_run,
                                  current=None if current is None else current[index])
            except ConnectorError as err:
                outcomes.append(err)
                if stops(err):
                    break
                continue
            outcomes.append(sent)
            if sent.changed:
                written.append(index)
        read = self.read_budgets([changes[i][0] for i in written]) if written else []
        for index, after in zip(written, read, strict=True):
            target, amount = changes[index]
            was = outcomes[index]
            assert isinstance(was, BudgetResult)
            outcomes[index] = after if isinstance(after, ConnectorError) else (
                BudgetResult(target, amount, after, changed=True)
                if after == was.daily_budget else ConnectorError(
                    f"sandbox: wrote {was.daily_budget} to {target.external_id} but read back "
                    f"{after}", kind="fatal"))
        return outcomes

    def _send(self, target: BudgetTarget, daily_budget: Decimal, *, dry_run: bool,
              current: Decimal | None) -> BudgetResult:
        """One write (one call): its result as sent, ``changed`` when it was written."""
        c = self._target_campaigns(target)[0]
        currency = c.account.currency
        if daily_budget <= 0:
            raise ConnectorError(
                f"sandbox: budget must be positive, got {daily_budget}", kind="invalid"
            )
        amount = daily_budget.quantize(minor_unit(currency), ROUND_HALF_UP)
        if dry_run:  # what the platform would hold, as a validate-only call answers
            return BudgetResult(target, daily_budget, amount, changed=False, dry_run=True)
        if current is None:
            current = self.read_budget(target)
        if amount == current:
            return BudgetResult(target, daily_budget, current, changed=False)
        self._record(c.budget_key, self.local_today(c.account), float(amount))
        return BudgetResult(target, daily_budget, amount, changed=True)
