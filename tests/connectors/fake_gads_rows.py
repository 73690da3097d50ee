"""A small GAQL reader: the rows (raw ``GoogleAdsRow`` protobufs) the fake answers the
queries the connector sends with."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from google.ads.googleads.v26.enums.types.advertising_channel_type import (
    AdvertisingChannelTypeEnum,
)
from google.ads.googleads.v26.enums.types.bidding_strategy_type import (
    BiddingStrategyTypeEnum,
)
from google.ads.googleads.v26.enums.types.campaign_status import CampaignStatusEnum
from google.ads.googleads.v26.enums.types.customer_status import CustomerStatusEnum
from google.ads.googleads.v26.services.types import google_ads_service as gas

from tests.connectors.fake_gads_state import GadsState, budget_path

RowPb = gas.GoogleAdsRow.pb()
CHANNEL = AdvertisingChannelTypeEnum.AdvertisingChannelType
BIDDING = BiddingStrategyTypeEnum.BiddingStrategyType


def rows(st: GadsState, cust: str, query: str) -> Iterator[Any]:
    """The rows of one query (white space folded) in customer ``cust``."""
    source = re.search(r"FROM (\w+)", query)
    resource = source.group(1) if source else ""
    if resource == "customer_client":
        yield from _client_rows(st, cust, query)
    elif resource == "customer":
        yield _customer_row(st, cust)
    elif resource == "campaign_budget":
        yield from _budget_rows(st, cust, query)
    elif resource == "campaign" and "segments.date" in query:
        yield from _metric_rows(st, cust, query)
    elif resource == "campaign":
        yield from _campaign_rows(st, cust, query)
    elif resource == "ad_group":
        yield from _ad_group_rows(st, cust)


def _id_match(query: str) -> re.Match[str] | None:
    return re.search(r"(campaign|campaign_budget)\.id = (\d+)", query)


def _client_rows(st: GadsState, cust: str, query: str) -> Iterator[Any]:
    for cid, c in st.customers.items():
        if c["parent"] == cust and not c["manager"]:
            row = RowPb()
            cc = row.customer_client
            cc.id, cc.descriptive_name = int(cid), c["name"]
            cc.currency_code, cc.time_zone, cc.level = c["currency"], c["tz"], 1
            cc.manager = False
            cc.status = CustomerStatusEnum.CustomerStatus[c["status"]]
            if "customer_client.status = 'ENABLED'" in query and c["status"] != "ENABLED":
                continue
            yield row


def _customer_row(st: GadsState, cust: str) -> Any:
    c = st.customers[cust]
    row = RowPb()
    row.customer.id, row.customer.descriptive_name = int(cust), c["name"]
    row.customer.currency_code, row.customer.time_zone = c["currency"], c["tz"]
    row.customer.status = CustomerStatusEnum.CustomerStatus[c["status"]]
    return row


def _budget_rows(st: GadsState, cust: str, query: str) -> Iterator[Any]:
    in_match = re.search(r"campaign_budget\.id IN \(([\d, ]+)\)", query)
    if in_match is not None:
        wanted = [b.strip() for b in in_match.group(1).split(",")]
    else:
        id_match = _id_match(query)
        assert id_match is not None and id_match.group(1) == "campaign_budget"
        wanted = [id_match.group(2)]
    counts = st.reference_counts(cust)
    for bid in dict.fromkeys(wanted):
        if (cust, bid) in st.budgets:
            row = RowPb()
            fill_budget(st, row.campaign_budget, cust, bid, counts)
            yield row


def _campaign_rows(st: GadsState, cust: str, query: str) -> Iterator[Any]:
    id_match = _id_match(query)
    no_removed = "status != 'REMOVED'" in query
    counts = st.reference_counts(cust)
    for (c, cid), camp in st.campaigns.items():
        if c != cust or (id_match and id_match.group(2) != cid):
            continue
        if no_removed and camp["status"] == "REMOVED":
            continue
        row = RowPb()
        row.campaign.id, row.campaign.name = int(cid), camp["name"]
        row.campaign.status = CampaignStatusEnum.CampaignStatus[camp["status"]]
        row.campaign.advertising_channel_type = CHANNEL[camp.get("channel", "SEARCH")]
        row.campaign.bidding_strategy_type = BIDDING[camp.get("bidding", "MAXIMIZE_CONVERSIONS")]
        row.campaign.campaign_budget = budget_path(cust, camp["budget"])
        fill_budget(st, row.campaign_budget, cust, camp["budget"], counts)
        yield row


def _ad_group_rows(st: GadsState, cust: str) -> Iterator[Any]:
    for (c, gid), group in st.ad_groups.items():
        if c == cust:
            row = RowPb()
            row.campaign.id, row.ad_group.id = int(group["campaign"]), int(gid)
            row.ad_group.name, row.ad_group.status = group["name"], 2
            yield row


def fill_budget(
    st: GadsState, b: Any, cust: str, bid: str, counts: Counter[str] | None = None
) -> None:
    budget = st.budgets[(cust, bid)]
    b.resource_name = budget_path(cust, bid)
    b.id, b.amount_micros = int(bid), budget["amount_micros"]
    b.explicitly_shared = budget["shared"]
    b.reference_count = (counts or st.reference_counts(cust)).get(bid, 0)
    b.delivery_method = 2  # STANDARD
    b.period = 2  # DAILY


def _metric_rows(st: GadsState, cust: str, query: str) -> Iterator[Any]:
    m = re.search(r"segments\.date BETWEEN '([\d-]+)' AND '([\d-]+)'", query)
    assert m is not None
    day, end = dt.date.fromisoformat(m.group(1)), dt.date.fromisoformat(m.group(2))
    cids = [cid for (c, cid) in st.campaigns if c == cust]
    while day <= end:
        iso = day.isoformat()
        for cid in cids:
            metric = st.metric(cust, cid, day)
            if metric is None:
                continue
            row = RowPb()
            row.campaign.id = int(cid)
            row.segments.date = iso
            mm = row.metrics
            mm.cost_micros, mm.impressions = metric["cost_micros"], metric["impressions"]
            mm.clicks, mm.conversions = metric["clicks"], metric["conversions"]
            mm.conversions_value = metric["value"]
            # Only what the query selects comes back, as in GAQL.
            for name in ("engagements", "video_trueview_views"):
                if f"metrics.{name}" in query:
                    setattr(mm, name, metric.get(name, 0))
            yield row
        day += dt.timedelta(days=1)
