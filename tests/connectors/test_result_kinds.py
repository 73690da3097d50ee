"""What each platform campaign buys, read from the settings the platform reports."""

from __future__ import annotations

import pytest

from connectors.result_kinds import google_result_kind, meta_result_kind
from tests.connectors.fake_gads import FakeGoogleAds
from tests.connectors.fake_graph import FakeGraph

MANAGER = "1000000001"
CUSTOMER = "2000000002"


@pytest.mark.parametrize(("objective", "kind"), [
    ("OUTCOME_AWARENESS", "reach"), ("REACH", "reach"), ("BRAND_AWARENESS", "reach"),
    ("OUTCOME_ENGAGEMENT", "engagement"), ("POST_ENGAGEMENT", "engagement"),
    ("PAGE_LIKES", "engagement"), ("VIDEO_VIEWS", "video_views"),
    ("OUTCOME_SALES", "conversions"), ("OUTCOME_LEADS", "conversions"),
    ("OUTCOME_TRAFFIC", "conversions"), ("CONVERSIONS", "conversions"),
    ("OUTCOME_APP_PROMOTION", "conversions"), (None, "conversions"),
])
def test_meta_objectives(objective: str | None, kind: str) -> None:
    assert meta_result_kind(objective) == kind


@pytest.mark.parametrize(("channel", "bidding", "kind"), [
    ("VIDEO", "TARGET_CPM", "reach"), ("DISPLAY", "MANUAL_CPM", "reach"),
    ("VIDEO", "MANUAL_CPV", "video_views"), ("VIDEO", "TARGET_CPV", "video_views"),
    ("VIDEO", "MAXIMIZE_CONVERSIONS", "conversions"),
    ("SEARCH", "MANUAL_CPM", "conversions"),  # a search campaign never buys reach
    ("DISPLAY", "TARGET_CPA", "conversions"), ("SEARCH", "TARGET_ROAS", "conversions"),
    (None, None, "conversions"),
])
def test_google_channel_and_bidding(channel: str | None, bidding: str | None, kind: str) -> None:
    assert google_result_kind(channel, bidding) == kind


def test_meta_campaigns_carry_their_result(graph: FakeGraph, make_meta) -> None:
    st = graph.state
    st.add_account("act_1", currency="EUR")
    st.add_campaign("act_1", "c1", daily_budget=5000, objective="OUTCOME_AWARENESS")
    st.add_campaign("act_1", "c2", daily_budget=5000, objective="OUTCOME_ENGAGEMENT")
    st.add_campaign("act_1", "c3", daily_budget=5000, objective="VIDEO_VIEWS")
    st.add_campaign("act_1", "c4", daily_budget=5000, objective="OUTCOME_SALES")
    kinds = {c.external_id: (c.objective, c.result_kind)
             for c in make_meta().list_campaigns("act_1")}
    assert kinds == {
        "c1": ("OUTCOME_AWARENESS", "reach"), "c2": ("OUTCOME_ENGAGEMENT", "engagement"),
        "c3": ("VIDEO_VIEWS", "video_views"), "c4": ("OUTCOME_SALES", "conversions"),
    }


def test_google_campaigns_carry_their_result(gads: FakeGoogleAds, make_gads) -> None:
    st = gads.state
    st.add_customer(MANAGER, manager=True)
    st.add_customer(CUSTOMER, currency="EUR", tz="Europe/Paris", parent=MANAGER)
    for cid, channel, bidding in (("501", "VIDEO", "TARGET_CPM"), ("502", "VIDEO", "MANUAL_CPV"),
                                  ("503", "DISPLAY", "MANUAL_CPM"),
                                  ("504", "SEARCH", "MAXIMIZE_CONVERSIONS")):
        budget = st.add_budget(CUSTOMER, str(int(cid) + 400), 10_000_000)
        st.add_campaign(CUSTOMER, cid, budget, channel=channel, bidding=bidding)
    campaigns = {c.external_id: c for c in make_gads().list_campaigns(CUSTOMER)}
    assert {cid: c.result_kind for cid, c in campaigns.items()} == {
        "501": "reach", "502": "video_views", "503": "reach", "504": "conversions",
    }
    assert (campaigns["501"].objective, campaigns["501"].bid_strategy) == ("VIDEO", "TARGET_CPM")


def test_sandbox_campaigns_carry_objectives_that_map_to_their_result() -> None:
    from connectors.sandbox import SandboxConnector

    sandbox = SandboxConnector(seed=7)
    seen = set()
    for account in sandbox.list_accounts():
        for c in sandbox.list_campaigns(account.external_id):
            mapped = (google_result_kind(c.objective, c.bid_strategy)
                      if account.network == "google" else meta_result_kind(c.objective))
            assert c.result_kind == mapped, (account.network, c.objective, c.bid_strategy)
            seen.add(c.result_kind)
    assert seen == {"conversions", "reach", "engagement"}  # the default six per account


def test_every_mapped_name_is_one_the_sdks_know() -> None:
    """A misspelt objective or strategy would silently map a campaign to conversions."""
    from facebook_business.adobjects.campaign import Campaign
    from google.ads.googleads.v26.enums.types.advertising_channel_type import (
        AdvertisingChannelTypeEnum,
    )
    from google.ads.googleads.v26.enums.types.bidding_strategy_type import (
        BiddingStrategyTypeEnum,
    )

    from connectors import result_kinds

    meta = {v for k, v in vars(Campaign.Objective).items() if not k.startswith("_")}
    assert set(result_kinds._META) <= meta
    strategies = {e.name for e in BiddingStrategyTypeEnum.BiddingStrategyType}
    assert strategies >= result_kinds._GOOGLE_CPM | result_kinds._GOOGLE_CPV
    channels = {e.name for e in AdvertisingChannelTypeEnum.AdvertisingChannelType}
    assert channels >= result_kinds._GOOGLE_AWARENESS_CHANNELS
