"""Meta budget writes whose answer is lost: the platform sees one edit, not three.

Every budget edit counts toward the ad set's learning phase and Meta's hourly edit limit, so a
write that was applied and then answered 500 (or whose connection dropped) must be read back
before anything is sent again."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connectors.base import BudgetTarget, ConnectorError

D = Decimal
TARGET = BudgetTarget("act_1", "campaign", "c1", "EUR")


def _world(graph) -> None:
    graph.state.add_account("act_1", currency="EUR")
    graph.state.add_campaign("act_1", "c1", daily_budget=10_000)


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500, "code": 2, "transient": True, "message": "Service temporarily unavailable"},
        {"drop": True},
    ],
    ids=["http-500", "dropped-connection"],
)
def test_an_applied_write_whose_answer_is_lost_is_not_sent_again(graph, make_meta, fault):
    _world(graph)
    graph.state.fail("/c1", method="POST", after_apply=True, times=2, **fault)
    result = make_meta().apply_budget(TARGET, D("120.50"))
    assert result.changed and result.daily_budget == D("120.50")
    assert graph.state.budget_posts == [("c1", 12050)]  # one edit reached the platform
    assert graph.state.campaigns["c1"]["daily_budget"] == "12050"


def test_a_write_that_failed_before_applying_is_sent_again(graph, make_meta) -> None:
    _world(graph)
    graph.state.fail("/c1", method="POST", status=500, code=2, transient=True,
                     message="Service temporarily unavailable", times=2)
    result = make_meta().apply_budget(TARGET, D("99"))
    assert result.changed and graph.state.budget_posts == [("c1", 9900)]
    assert graph.state.requests["POST /c1"] == 3


def test_a_lost_answer_counts_once_toward_the_hourly_edit_limit(graph, make_meta) -> None:
    _world(graph)
    meta = make_meta(max_budget_edits_per_hour=2)
    graph.state.fail("/c1", method="POST", after_apply=True, drop=True, times=1)
    meta.apply_budget(TARGET, D("101"))
    meta.apply_budget(TARGET, D("102"))
    with pytest.raises(ConnectorError) as info:
        meta.apply_budget(TARGET, D("103"))
    assert info.value.kind == "throttled"
    assert [v for _, v in graph.state.budget_posts] == [10100, 10200]


@pytest.mark.parametrize("paused, waits", [("act_1", True), ("act_2", False)],
                         ids=["its-account-paused", "another-account-paused"])
def test_a_budget_write_to_a_campaign_id_counts_against_its_account(
    graph, make_meta, sleeps, paused, waits
) -> None:
    """The write's URL is the campaign's own id (no act_ in the path), yet Meta counts it
    against the ad account: an account Meta paused holds its writes back too."""
    from connectors.meta_limits import ACCOUNT
    from connectors.rate_limits import PlatformLimits

    _world(graph)
    limits = PlatformLimits(clock=lambda: 1_000_000.0)  # in memory, a fixed clock
    limits.pause((ACCOUNT, paused), 30.0, "x-ad-account-usage over the threshold")
    result = make_meta(limits=limits).apply_budget(TARGET, D("120.50"))
    assert result.changed and graph.state.budget_posts == [("c1", 12050)]
    assert (30.0 in sleeps) is waits


def test_a_budget_write_takes_its_calls_from_its_accounts_budget(graph, make_meta) -> None:
    from connectors.meta_limits import ACCOUNT
    from connectors.rate_limits import PlatformLimits, rule

    _world(graph)
    limits = PlatformLimits()
    make_meta(limits=limits, rate_limit_account="100/hour").apply_budget(TARGET, D("120.50"))
    item = rule("100/hour", "rate_limit_account")
    assert item is not None
    taken = limits.calls_in_window((ACCOUNT, "act_1"), item)
    # the read before, the write, the read back: each one of the account's 100 an hour
    assert taken == graph.state.requests["GET /c1"] + graph.state.requests["POST /c1"]
