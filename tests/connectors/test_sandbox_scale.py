"""The sandbox at benchmark size: more accounts, the same numbers, budgets that persist."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.base import BudgetTarget
from connectors.sandbox import SandboxConnector
from connectors.sandbox_random import pcg_states, seeded_rng
from connectors.sandbox_world import sandbox_accounts

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
KEY = st.integers(min_value=0, max_value=2**32 - 1)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(KEY, KEY, KEY, KEY), min_size=1, max_size=5),
       width=st.integers(min_value=1, max_value=4))
def test_vectorised_seeding_gives_numpys_own_streams(rows, width) -> None:
    columns = [np.array([r[j] for r in rows], dtype=np.uint32) for j in range(width)]
    for keys, (state, inc) in zip(rows, pcg_states(columns), strict=True):
        expected = seeded_rng(*keys[:width]).bit_generator.state["state"]
        assert (state, inc) == (expected["state"], expected["inc"])


def test_daily_metrics_are_the_per_day_numbers_of_each_campaign() -> None:
    """The fast path of a whole account's history equals each campaign-day computed alone."""
    sb = SandboxConnector(now=NOW, campaigns_per_account=12)
    alone = SandboxConnector(now=NOW, campaigns_per_account=12)
    for account in ("act_1002", "1234567890"):
        observed = alone.local_today(alone.accounts[account])
        rows = list(sb.daily_metrics(account, dt.date(2026, 3, 1), dt.date(2026, 6, 14)))
        by_id = {c.external_id: c for c in alone.campaigns if c.account.external_id == account}
        assert len(rows) > 1000
        assert rows == [alone.day_metrics(by_id[m.campaign_external_id], m.date, observed)
                        for m in rows]


def test_more_accounts_keep_the_default_five_and_add_distinct_ones() -> None:
    default = SandboxConnector(now=NOW)
    big = SandboxConnector(now=NOW, accounts=sandbox_accounts(12), campaigns_per_account=3)
    ids = [a.external_id for a in big.list_accounts()]
    assert ids[:5] == [a.external_id for a in default.list_accounts()]
    assert len(set(ids)) == 12
    campaigns = [(a, c.external_id) for a in ids for c in big.list_campaigns(a)]
    assert len(set(campaigns)) == 36
    small = SandboxConnector.from_options("s", {"accounts": 2, "campaigns_per_account": 2})
    assert [a.external_id for a in small.list_accounts()] == ids[:2]


def test_many_budget_writes_survive_a_restart_and_the_journal_folding(
    tmp_path, monkeypatch
) -> None:
    state = tmp_path / "sandbox.json"
    journal = tmp_path / "sandbox.json.log"
    sb = SandboxConnector(now=NOW, state_path=state, campaigns_per_account=40)
    written = {}
    for n, c in enumerate(x for x in sb.campaigns if x.level == "campaign"):
        target = BudgetTarget(c.account.external_id, "campaign", c.budget_key, c.account.currency)
        amount = Decimal(100 + n)
        assert sb.apply_budget(target, amount).changed
        written[target] = amount
    # A later day writes one budget again: its earlier value stays the history of the past.
    later = NOW + dt.timedelta(days=2)
    first = next(iter(written))
    SandboxConnector(now=later, state_path=state, campaigns_per_account=40).apply_budget(
        first, Decimal(999))
    restarted = SandboxConnector(now=later, state_path=state, campaigns_per_account=40)
    assert journal.stat().st_size > 2000
    monkeypatch.setattr(SandboxConnector, "JOURNAL_COMPACT_BYTES", 2000)  # fold now
    folded = SandboxConnector(now=later, state_path=state, campaigns_per_account=40)
    assert not journal.exists() and state.exists()
    again = SandboxConnector(now=later, state_path=state, campaigns_per_account=40)
    for target, amount in written.items():
        expected = Decimal(999) if target == first else amount
        assert restarted.read_budget(target) == expected == folded.read_budget(target)
        assert again.read_budget(target) == expected
    c = next(x for x in folded.campaigns if x.budget_key == first.external_id)
    assert folded.budget_on(c, NOW.date()) == float(written[first])


def _waits(**kw: object) -> tuple[SandboxConnector, list[float]]:
    slept: list[float] = []
    return SandboxConnector(now=NOW, accounts=sandbox_accounts(40), sleep=slept.append,
                            **kw), slept  # type: ignore[arg-type]


def test_each_metrics_window_waits_for_its_async_report_the_same_on_every_run() -> None:
    start, end = dt.date(2026, 6, 1), dt.date(2026, 6, 14)
    sb, slept = _waits(report_seconds=(3.0, 20.0), latency_ms=150)
    again, slept_again = _waits(report_seconds=(3.0, 20.0), latency_ms=150)
    accounts = list(sb.accounts)
    for account in accounts:
        rows = list(sb.daily_metrics(account, start, end))
        assert rows == list(again.daily_metrics(account, start, end))
    assert slept == slept_again  # same seed, same waits
    reports = slept[1::2]  # each window: the call's 150 ms, then its report
    assert slept[::2] == [0.15] * len(accounts)
    assert all(3.0 <= w <= 20.0 for w in reports)
    assert len(set(reports)) == len(accounts)  # drawn per account, not one wait for all
    assert max(reports) - min(reports) > 8  # spread over the range
    other, slept_other = _waits(report_seconds=(3.0, 20.0), latency_ms=150, seed=8)
    list(other.daily_metrics(accounts[0], start, end))
    assert slept_other[1] != reports[0]  # another seed, another agency


def test_without_report_seconds_a_window_waits_only_for_its_call() -> None:
    sb, slept = _waits(latency_ms=150)
    list(sb.daily_metrics(next(iter(sb.accounts)), dt.date(2026, 6, 1), dt.date(2026, 6, 14)))
    assert slept == [0.15]
