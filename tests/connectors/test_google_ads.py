"""GoogleAdsConnector on the real google-ads SDK against the local gRPC fake (TLS + OAuth)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import grpc
import pytest

from campaigns.config import SourceSettings
from connectors.base import BudgetTarget, Connector, ConnectorError
from connectors.google_ads import GoogleAdsConnector
from connectors.google_ads_money import billable_unit_micros, to_micros
from tests.connectors.fake_gads import FakeGoogleAds

D = Decimal
DAY = dt.date(2025, 3, 1)
MANAGER = "1000000001"


def _world(gads: FakeGoogleAds, n_campaigns: int = 3, n_days: int = 5) -> None:
    st = gads.state
    st.add_customer(MANAGER, manager=True)
    st.add_customer("2000000002", currency="EUR", tz="Europe/Paris", parent=MANAGER)
    st.add_customer("3000000003", currency="JPY", tz="Asia/Tokyo", parent=MANAGER)
    st.add_budget("2000000002", "900", 50_000_000, shared=True)
    for i in range(n_campaigns):
        cid = str(500 + i)
        if i < 2:
            st.add_campaign("2000000002", cid, "900")  # both draw on shared budget 900
        else:
            st.add_campaign(
                "2000000002", cid, st.add_budget("2000000002", str(800 + i), 20_000_000)
            )
        for d in range(n_days):
            st.set_metric(
                "2000000002",
                cid,
                DAY + dt.timedelta(days=d),
                cost_micros=12_345_678,
                impressions=1000,
                clicks=30,
                conversions=2.5,
                value=99.9,
            )
    st.add_campaign("3000000003", "700", st.add_budget("3000000003", "701", 5_000_000_000))


def test_billable_units() -> None:
    assert billable_unit_micros("USD") == 10_000
    assert billable_unit_micros("JPY") == 1_000_000
    assert billable_unit_micros("BHD") == 1_000
    assert to_micros(D("12.349"), "EUR") == 12_340_000
    assert to_micros(D("4500.7"), "JPY") == 4_500_000_000


def test_accounts_under_the_manager(gads, make_gads) -> None:
    _world(gads)
    connector = make_gads()
    assert isinstance(connector, Connector)
    accounts = {a.external_id: a for a in connector.list_accounts()}
    assert set(accounts) == {"2000000002", "3000000003"}  # not the manager itself
    assert accounts["3000000003"].currency == "JPY"
    assert accounts["3000000003"].timezone == "Asia/Tokyo"
    md = gads.state.seen_metadata[-1]
    assert md["developer-token"] == "dev-token" and md["login-customer-id"] == MANAGER
    assert md["authorization"].startswith("Bearer ya29.fake-")
    assert gads.state.token_requests == 1


def test_campaigns_with_own_and_shared_budgets(gads, make_gads) -> None:
    _world(gads)
    gads.state.add_campaign(
        "2000000002", "599", gads.state.add_budget("2000000002", "899", 1), status="REMOVED"
    )
    campaigns = {c.external_id: c for c in make_gads().list_campaigns("2000000002")}
    shared = campaigns["500"]
    assert shared.budget_level == "shared" and shared.budget_shared
    assert shared.budget_external_id == "900" and shared.daily_budget == D(50)
    own = campaigns["502"]
    assert own.budget_level == "campaign" and not own.budget_shared
    assert own.budget_external_id == "802" and own.daily_budget == D(20)
    assert campaigns["599"].status == "removed" and own.status == "active"
    live = make_gads(include_removed=False).list_campaigns("2000000002")
    assert "599" not in {c.external_id for c in live}


def test_daily_metrics_in_micros_over_many_stream_batches(gads, make_gads) -> None:
    _world(gads, n_campaigns=300, n_days=40)  # 12,000 rows: two stream messages
    rows = list(make_gads().daily_metrics("2000000002", DAY, DAY + dt.timedelta(days=39)))
    assert len(rows) == 12_000 == len({(r.campaign_external_id, r.date) for r in rows})
    r = rows[0]
    assert r.spend == D("12.345678") and r.impressions == 1000 and r.clicks == 30
    assert r.conversions == D("2.5") and r.revenue == D("99.9")


def test_internal_error_mid_stream_loses_and_duplicates_nothing(gads, make_gads) -> None:
    _world(gads, n_campaigns=300, n_days=40)
    gads.state.fail(
        "SearchStream",
        code=grpc.StatusCode.INTERNAL,
        error=None,
        message="Internal error encountered.",
        after_rows=10_500,
    )
    rows = list(make_gads().daily_metrics("2000000002", DAY, DAY + dt.timedelta(days=39)))
    assert len(rows) == 12_000 == len({(r.campaign_external_id, r.date) for r in rows})
    assert gads.state.calls["SearchStream"] == 2


def test_quota_exhausted_backs_off_then_succeeds(gads, make_gads, sleeps) -> None:
    _world(gads)
    gads.state.fail("SearchStream", retry_delay=0.5, times=2, match="segments.date")
    rows = list(make_gads().daily_metrics("2000000002", DAY, DAY + dt.timedelta(days=4)))
    assert len(rows) == 15
    # Retried twice, and never before the 0.5 s Google asked for (the policy's own backoff
    # is capped at 0.01 s here): the customer's shared pause is waited out first.
    assert gads.state.calls["SearchStream"] >= 3
    assert sum(1 for s in sleeps if s >= 0.4) == 2


def test_quota_wait_of_hours_fails_instead_of_spinning(gads, make_gads) -> None:
    _world(gads)
    gads.state.fail("SearchStream", retry_delay=4 * 3600, times=10)
    with pytest.raises(ConnectorError) as info:
        make_gads().list_campaigns("2000000002")
    assert info.value.kind == "throttled" and info.value.retry_after == 4 * 3600
    assert gads.state.calls["SearchStream"] == 1


def test_revoked_refresh_token_is_auth_not_transient(gads, make_gads) -> None:
    _world(gads)
    with pytest.raises(ConnectorError) as info:
        make_gads(refresh_token="revoked").list_accounts()
    assert info.value.kind == "auth"
    assert "invalid_grant" in str(info.value)
    assert gads.state.calls["SearchStream"] == 0


def test_one_customer_refused_the_others_read(gads, make_gads) -> None:
    _world(gads)
    connector = make_gads()
    with pytest.raises(ConnectorError) as info:
        connector.list_campaigns("4000000004")
    assert info.value.kind == "auth" and "USER_PERMISSION_DENIED" in str(info.value)
    assert len(connector.list_campaigns("3000000003")) == 1


def test_budget_write_back_round_trip(gads, make_gads) -> None:
    _world(gads)
    st = gads.state
    connector = make_gads()
    own = BudgetTarget("2000000002", "campaign", "802", "EUR")  # campaign 502's own budget
    assert connector.read_budget(own) == D(20)
    result = connector.apply_budget(own, D("24.349"))
    assert result.changed and result.daily_budget == D("24.34")
    assert st.budgets[("2000000002", "802")]["amount_micros"] == 24_340_000
    again = connector.apply_budget(own, D("24.34"))
    assert not again.changed and len(st.mutations) == 1

    yen = BudgetTarget("3000000003", "campaign", "701", "JPY")
    assert connector.apply_budget(yen, D("4500.7")).daily_budget == D(4500)
    assert st.budgets[("3000000003", "701")]["amount_micros"] == 4_500_000_000

    dry = connector.apply_budget(own, D(30), dry_run=True)
    assert dry.dry_run and not dry.changed
    assert st.budgets[("2000000002", "802")]["amount_micros"] == 24_340_000
    assert st.mutations[-1][3] is True  # validated by the platform, not applied


def test_shared_budget_is_one_decision(gads, make_gads) -> None:
    _world(gads)
    st = gads.state
    connector = make_gads()
    with pytest.raises(ConnectorError) as info:
        connector.apply_budget(BudgetTarget("2000000002", "campaign", "900", "EUR"), D(70))
    assert info.value.kind == "invalid" and "shared by 2 campaigns" in str(info.value)
    assert st.mutations == [] and st.budgets[("2000000002", "900")]["amount_micros"] == 50_000_000
    shared = BudgetTarget("2000000002", "shared", "900", "EUR")
    assert connector.apply_budget(shared, D(70)).daily_budget == D(70)
    assert st.budgets[("2000000002", "900")]["amount_micros"] == 70_000_000


def test_partial_failure_is_reported_per_operation(gads, make_gads) -> None:
    _world(gads)
    connector = make_gads(billable_units={"EUR": 1000})  # finer than the platform accepts
    with pytest.raises(ConnectorError) as info:
        connector.apply_budget(BudgetTarget("2000000002", "shared", "900", "EUR"), D("70.001"))
    assert info.value.kind == "invalid"
    assert "operation 0" in str(info.value) and "multiple" in str(info.value)


def test_from_settings_reads_secrets_from_the_environment(gads, monkeypatch) -> None:
    _world(gads)
    for name, value in [
        ("T_DEV", "dev-token"),
        ("T_REFRESH", "good-refresh"),
        ("T_CID", "client-id"),
        ("T_SECRET", "client-secret"),
    ]:
        monkeypatch.setenv(name, value)
    source = SourceSettings(
        name="google",
        kind="google_ads",
        developer_token_env="T_DEV",
        refresh_token_env="T_REFRESH",
        client_id_env="T_CID",
        client_secret_env="T_SECRET",
        login_customer_id="100-000-0001",
        endpoint=gads.endpoint,
        token_uri=gads.token_uri,
        customer_ids=["300-000-0003"],
        retry_base_delay=0.001,
    )
    connector = GoogleAdsConnector.from_settings(source)
    assert [a.external_id for a in connector.list_accounts()] == ["3000000003"]
