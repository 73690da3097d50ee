"""MetaConnector on the real facebook-business SDK against the local Graph fake."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from campaigns.config import SourceSettings
from connectors.base import BudgetTarget, Connector, ConnectorError
from connectors.meta import MetaConnector
from connectors.meta_money import currency_offset, from_minor, to_minor
from tests.connectors.fake_graph import FakeGraph

D = Decimal
DAY = dt.date(2025, 3, 1)


def days(n: int) -> list[dt.date]:
    return [DAY + dt.timedelta(days=i) for i in range(n)]


def test_money_offsets_follow_meta_not_iso() -> None:
    assert currency_offset("EUR") == 100
    assert currency_offset("jpy") == 1
    assert currency_offset("HUF") == 1  # ISO says 2 decimals; Meta says none
    assert from_minor("1050", "EUR") == D("10.50")
    assert from_minor("5000", "JPY") == D(5000)
    assert from_minor("0", "EUR") is None
    assert to_minor(D("12.349"), "USD") == 1234  # down, never above what was approved
    assert to_minor(D("1234.9"), "JPY") == 1234
    assert currency_offset("JPY", {"JPY": 100}) == 100


def test_accounts_from_token_and_from_config(graph: FakeGraph, make_meta) -> None:
    graph.state.add_account("act_1", currency="EUR", timezone="Europe/Paris")
    graph.state.add_account("act_2", currency="JPY", timezone="Asia/Tokyo")
    meta = make_meta()
    assert isinstance(meta, Connector)
    accounts = {a.external_id: a for a in meta.list_accounts()}
    assert accounts["act_2"].currency == "JPY" and accounts["act_2"].timezone == "Asia/Tokyo"
    assert accounts["act_1"].network == "meta" and accounts["act_1"].status == "active"
    only = make_meta(account_ids=["2"]).list_accounts()
    assert [a.external_id for a in only] == ["act_2"]


def test_campaigns_over_many_pages_with_archived_and_budget_levels(graph, make_meta) -> None:
    st = graph.state
    st.add_account("act_1", currency="JPY")
    for i in range(1, 231):
        status = "ARCHIVED" if i % 50 == 0 else "DELETED" if i % 77 == 0 else "ACTIVE"
        st.add_campaign("act_1", f"c{i}", daily_budget=5000 + i if i % 2 else None, status=status)
    st.add_adset("c2", "s2", daily_budget=700)
    meta = make_meta(page_size=20)
    campaigns = meta.list_campaigns("act_1")
    assert len(campaigns) == 230 == len({c.external_id for c in campaigns})
    assert st.requests["GET /act_1/campaigns"] == 12
    by_id = {c.external_id: c for c in campaigns}
    # JPY has offset 1: "5001" is 5,001 yen, not 50.01
    assert by_id["c1"].daily_budget == D(5001) and by_id["c1"].budget_level == "campaign"
    assert by_id["c2"].daily_budget is None and by_id["c2"].budget_level == "adset"
    assert by_id["c50"].status == "archived" and by_id["c77"].status == "deleted"
    live = make_meta(page_size=100, include_archived=False).list_campaigns("act_1")
    assert len(live) == 230 - 4 - 2  # 50,100,150,200 archived; 77,154 deleted
    ad_sets = meta.list_ad_sets("act_1")
    assert [(a.external_id, a.campaign_external_id, a.daily_budget) for a in ad_sets] == [
        ("s2", "c2", D(700))
    ]


def _world(st, n_campaigns: int = 3, n_days: int = 10) -> None:
    st.add_account("act_1", currency="EUR")
    for i in range(n_campaigns):
        st.add_campaign("act_1", f"c{i}", daily_budget=10_000)
        for day in days(n_days):
            st.set_metric(
                f"c{i}",
                day,
                spend=f"{10 + i}.25",
                impressions=1000,
                clicks=20,
                purchases="3",
                purchase_value="120.50",
            )


def test_daily_insights_async_with_conversions_from_actions(graph, make_meta) -> None:
    _world(graph.state)
    graph.state.report_polls = 2
    meta = make_meta()
    rows = list(meta.daily_metrics("act_1", DAY, DAY + dt.timedelta(days=9)))
    assert len(rows) == 30
    first = next(r for r in rows if r.campaign_external_id == "c1" and r.date == DAY)
    assert first.spend == D("11.25") and first.impressions == 1000 and first.clicks == 20
    assert first.conversions == D(3) and first.revenue == D("120.50")
    assert meta.attribution_setting == "7d_click_1d_view"
    assert graph.state.requests["POST /act_1/insights"] == 1
    posted = [k for k in graph.state.requests if k.startswith("GET /") and k.count("/") == 1]
    assert posted  # the report run was polled


def test_failed_report_job_splits_the_window(graph, make_meta) -> None:
    _world(graph.state)
    graph.state.report_max_days = 3
    rows = list(make_meta().daily_metrics("act_1", DAY, DAY + dt.timedelta(days=9)))
    assert sorted({r.date for r in rows}) == days(10)
    assert len(rows) == 30
    assert graph.state.requests["POST /act_1/insights"] > 4


def test_throttled_mid_sync_backs_off_and_loses_nothing(graph, make_meta, sleeps) -> None:
    _world(graph.state, n_campaigns=40, n_days=10)
    usage = json.dumps(
        {
            "123": [
                {
                    "type": "ads_insights",
                    "call_count": 100,
                    "total_cputime": 40,
                    "total_time": 60,
                    "estimated_time_to_regain_access": 1,
                }
            ]
        }
    )
    graph.state.fail(
        "/insights",
        method="GET",
        skip=3,
        times=2,
        code=80000,
        subcode=2446079,
        message="There have been too many calls from this ad-account.",
        headers={"x-business-use-case-usage": usage},
    )
    rows = list(make_meta(page_size=25).daily_metrics("act_1", DAY, DAY + dt.timedelta(days=9)))
    assert len(rows) == 400 == len({(r.campaign_external_id, r.date) for r in rows})
    assert len(sleeps) >= 2  # backed off (capped to the test's tiny max delay)


def test_usage_headers_slow_down_before_throttling(graph, make_meta, sleeps) -> None:
    _world(graph.state, n_campaigns=1, n_days=1)
    graph.state.usage_headers = {
        "x-ad-account-usage": json.dumps({"acc_id_util_pct": 96.5, "reset_time_duration": 30})
    }
    make_meta().list_campaigns("act_1")
    assert sleeps  # paused although no call failed


def test_transient_500_is_retried(graph, make_meta) -> None:
    _world(graph.state, n_campaigns=30, n_days=1)
    graph.state.fail("/campaigns", status=502, raw_body="<html>Bad Gateway</html>", skip=1)
    graph.state.fail(
        "/campaigns", status=500, code=2, transient=True, message="Service temporarily unavailable"
    )
    campaigns = make_meta(page_size=10).list_campaigns("act_1")
    assert len(campaigns) == 30


def test_expired_token_fails_fast_as_auth(graph, make_meta) -> None:
    _world(graph.state, n_campaigns=1, n_days=1)
    meta = make_meta(access_token="expired")
    with pytest.raises(ConnectorError) as info:
        meta.list_accounts()
    assert info.value.kind == "auth"
    assert "190" in str(info.value) and "expired" in str(info.value)
    assert graph.state.total_requests() == 1  # never retried


def test_one_account_refused_the_others_sync(graph, make_meta) -> None:
    _world(graph.state, n_campaigns=2, n_days=2)
    graph.state.add_account("act_9")
    graph.state.account_errors["act_9"] = (
        200,
        1815066,
        403,
        "Ad account owner has NOT grant ads_management",
    )
    meta = make_meta(account_ids=["act_1", "act_9"])
    with pytest.raises(ConnectorError) as info:
        meta.list_campaigns("act_9")
    assert info.value.kind == "auth"
    assert len(meta.list_campaigns("act_1")) == 2


def test_budget_write_back_round_trip(graph, make_meta) -> None:
    st = graph.state
    st.add_account("act_1", currency="EUR")
    st.add_account("act_2", currency="JPY", min_daily_budget=100)
    st.add_campaign("act_1", "c1", daily_budget=1000)
    st.add_campaign("act_1", "c2")
    st.add_adset("c2", "s1", daily_budget=2500)
    st.add_campaign("act_2", "j1", daily_budget=3000)
    meta = make_meta()
    meta.list_accounts()
    target = BudgetTarget("act_1", "campaign", "c1", "EUR")
    assert meta.read_budget(target) == D(10)
    result = meta.apply_budget(target, D("12.349"))
    assert result.changed and result.daily_budget == D("12.34")
    assert st.campaigns["c1"]["daily_budget"] == "1234"
    again = meta.apply_budget(target, D("12.34"))
    assert not again.changed and len(st.budget_posts) == 1  # already there: no second edit

    adset = BudgetTarget("act_1", "adset", "s1", "EUR")
    assert meta.apply_budget(adset, D(30)).daily_budget == D(30)
    assert st.adsets["s1"]["daily_budget"] == "3000"

    yen = BudgetTarget("act_2", "campaign", "j1", "JPY")
    assert meta.apply_budget(yen, D("4500.7")).daily_budget == D(4500)
    assert st.campaigns["j1"]["daily_budget"] == "4500"  # not 450070
    with pytest.raises(ConnectorError, match="below the minimum"):
        meta.apply_budget(yen, D(50))

    dry = meta.apply_budget(target, D(20), dry_run=True)
    assert dry.dry_run and not dry.changed and st.campaigns["c1"]["daily_budget"] == "1234"


def test_budget_edits_per_hour_are_limited(graph, make_meta) -> None:
    graph.state.add_account("act_1")
    graph.state.add_campaign("act_1", "c1", daily_budget=1000)
    meta = make_meta(max_budget_edits_per_hour=2)
    target = BudgetTarget("act_1", "campaign", "c1", "EUR")
    meta.apply_budget(target, D(11))
    meta.apply_budget(target, D(12))
    with pytest.raises(ConnectorError) as info:
        meta.apply_budget(target, D(13))
    assert info.value.kind == "throttled" and info.value.retry_after
    assert graph.state.campaigns["c1"]["daily_budget"] == "1200"


def test_from_settings_reads_the_token_from_the_environment(graph, monkeypatch) -> None:
    graph.state.add_account("act_5", currency="USD")
    monkeypatch.setenv("TEST_META_TOKEN", "good-token")
    source = SourceSettings(
        name="meta-eu",
        kind="meta",
        access_token_env="TEST_META_TOKEN",
        base_url=graph.base_url,
        account_ids=["act_5"],
        retry_base_delay=0.001,
        retry_max_delay=0.01,
    )
    meta = MetaConnector.from_settings(source)
    assert meta.policy.base_delay == 0.001
    assert [a.currency for a in meta.list_accounts()] == ["USD"]
    monkeypatch.delenv("TEST_META_TOKEN")
    with pytest.raises(Exception, match="TEST_META_TOKEN"):
        MetaConnector.from_settings(source)
