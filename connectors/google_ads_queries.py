"""Google Ads customers, campaigns, ad groups and daily metrics, read with GAQL."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterator
from decimal import Decimal

from connectors.base import (
    AccountRecord,
    AdSetRecord,
    CampaignRecord,
    ConnectorError,
    MetricRecord,
)
from connectors.errors import PartialAccountList
from connectors.google_ads_money import from_micros
from connectors.google_ads_stream import GoogleAdsStreams, customer_id, enum_name
from connectors.result_kinds import google_result_kind

# One logger for the whole connector: its messages keep the name they have always carried.
log = logging.getLogger("connectors.google_ads")

STATUS = {"ENABLED": "active", "PAUSED": "paused", "REMOVED": "removed"}

CAMPAIGN_QUERY = """
SELECT campaign.id, campaign.name, campaign.status, campaign.serving_status,
  campaign.advertising_channel_type, campaign.bidding_strategy_type, campaign.campaign_budget,
  campaign_budget.id, campaign_budget.amount_micros, campaign_budget.total_amount_micros,
  campaign_budget.delivery_method, campaign_budget.explicitly_shared,
  campaign_budget.reference_count, campaign_budget.period
FROM campaign"""
AD_GROUP_QUERY = """
SELECT campaign.id, ad_group.id, ad_group.name, ad_group.status FROM ad_group"""
METRICS_QUERY = """
SELECT campaign.id, segments.date, metrics.cost_micros, metrics.impressions, metrics.clicks,
  metrics.conversions, metrics.conversions_value, metrics.engagements,
  metrics.video_trueview_views
FROM campaign WHERE segments.date BETWEEN '{start}' AND '{end}'"""
CLIENTS_QUERY = """
SELECT customer_client.id, customer_client.descriptive_name, customer_client.currency_code,
  customer_client.time_zone, customer_client.manager, customer_client.status,
  customer_client.level
FROM customer_client
WHERE customer_client.manager = FALSE"""
CUSTOMER_QUERY = """
SELECT customer.id, customer.descriptive_name, customer.currency_code, customer.time_zone,
  customer.status
FROM customer"""


def _float_dec(value: float) -> Decimal:
    # Conversions are doubles (fractional under data-driven attribution); six places is what
    # the database keeps and drops binary noise such as 2.9999999999.
    return Decimal(repr(float(value))).quantize(Decimal("0.000001"))


def _budget_id(resource_name: str) -> str | None:
    """``customers/1/campaignBudgets/77`` -> "77"."""
    m = re.fullmatch(r"customers/\d+/campaignBudgets/(\d+)", resource_name or "")
    return m.group(1) if m else None


class GoogleAdsQueries(GoogleAdsStreams):
    """The customers a connector reads (kept by id) and what they hold."""

    customer_ids: list[str] | None
    login_customer_id: str | None
    include_removed: bool
    _accounts: dict[str, AccountRecord]

    def list_accounts(self) -> list[AccountRecord]:
        """The customers to sync: ``customer_ids``, or every client under the manager.

        A customer that cannot be read (access removed, ``CUSTOMER_NOT_ENABLED``) or is not
        enabled (cancelled, suspended, closed) is reported by name through
        :class:`PartialAccountList`; the others are still returned with it.
        """
        records: list[AccountRecord] = []
        failures: dict[str, ConnectorError] = {}
        if self.customer_ids:
            for cid in self.customer_ids:
                try:
                    rows = self._rows(cid, CUSTOMER_QUERY, f"Google Ads customer {cid}")
                except ConnectorError as err:
                    log.error("Google Ads customer %s: %s", cid, err)
                    failures[cid] = err
                    continue
                for row in rows:
                    c = row.customer
                    self._keep(records, failures, c.id, c.descriptive_name, c.currency_code,
                               c.time_zone, enum_name(c, "status"))
        elif not self.login_customer_id:
            raise ConnectorError(
                "Google Ads: set login_customer_id (the manager account) or customer_ids",
                kind="invalid",
            )
        else:
            rows = self._rows(self.login_customer_id, CLIENTS_QUERY, "Google Ads customer_client")
            for c in (row.customer_client for row in rows):
                self._keep(records, failures, c.id, c.descriptive_name, c.currency_code,
                           c.time_zone, enum_name(c, "status"))
        if failures:
            raise PartialAccountList(records, failures)
        return records

    def _keep(
        self,
        records: list[AccountRecord],
        failures: dict[str, ConnectorError],
        cid: int,
        name: str,
        currency: str,
        tz: str,
        status: str,
    ) -> None:
        if status == "ENABLED":
            records.append(self._account(cid, name, currency, tz, status))
            return
        failures[str(cid)] = ConnectorError(
            f"Google Ads customer {cid} ({name or 'no name'}) is {status or 'UNKNOWN'}, not "
            "enabled: nothing can be read or written there; remove it from the config or "
            "re-enable it",
            kind="auth",
        )

    def _account(self, cid: int, name: str, currency: str, tz: str, status: str) -> AccountRecord:
        record = AccountRecord(
            network="google_ads",
            external_id=str(cid),
            name=name,
            currency=currency.upper(),
            timezone=tz or "UTC",
            status=STATUS.get(status, status.lower()),
        )
        self._accounts[record.external_id] = record
        return record

    def list_campaigns(self, account_external_id: str) -> list[CampaignRecord]:
        cid = customer_id(account_external_id)
        query = CAMPAIGN_QUERY
        if not self.include_removed:
            query += " WHERE campaign.status != 'REMOVED'"
        out = []
        for row in self._rows(cid, query, f"Google Ads campaigns of {cid}"):
            c, b = row.campaign, row.campaign_budget
            shared = bool(b.explicitly_shared) or b.reference_count > 1
            daily = from_micros(b.amount_micros) if b.amount_micros else None
            total = from_micros(b.total_amount_micros) if b.total_amount_micros else None
            out.append(
                CampaignRecord(
                    external_id=str(c.id),
                    name=c.name,
                    status=STATUS.get(enum_name(c, "status"), enum_name(c, "status").lower()),
                    effective_status=enum_name(c, "serving_status").lower() or None,
                    objective=enum_name(c, "advertising_channel_type") or None,
                    bid_strategy=enum_name(c, "bidding_strategy_type") or None,
                    result_kind=google_result_kind(enum_name(c, "advertising_channel_type"),
                                                   enum_name(c, "bidding_strategy_type")),
                    budget_level="shared" if shared else "campaign",
                    daily_budget=daily,
                    lifetime_budget=total,
                    # The budget's own id, not the campaign's: write-back targets it.
                    budget_external_id=_budget_id(c.campaign_budget) or (
                        str(b.id) if b.id else None
                    ),
                    budget_shared=shared,
                )
            )
        return out

    def list_ad_sets(self, account_external_id: str) -> list[AdSetRecord]:
        """Ad groups; they hold no budget on Google Ads."""
        cid = customer_id(account_external_id)
        query = AD_GROUP_QUERY
        if not self.include_removed:
            query += " WHERE ad_group.status != 'REMOVED'"
        return [
            AdSetRecord(
                campaign_external_id=str(row.campaign.id),
                external_id=str(row.ad_group.id),
                name=row.ad_group.name,
                status=STATUS.get(enum_name(row.ad_group, "status"), "unknown"),
            )
            for row in self._rows(cid, query, f"Google Ads ad groups of {cid}")
        ]

    def daily_metrics(
        self, account_external_id: str, start: dt.date, end: dt.date
    ) -> Iterator[MetricRecord]:
        cid = customer_id(account_external_id)
        query = METRICS_QUERY.format(start=start.isoformat(), end=end.isoformat())
        what = f"Google Ads metrics of {cid} {start}..{end}"
        for row in self._stream(cid, query, what, key=lambda r: (r.campaign.id, r.segments.date)):
            m = row.metrics
            yield MetricRecord(
                campaign_external_id=str(row.campaign.id),
                date=dt.date.fromisoformat(row.segments.date),
                spend=from_micros(m.cost_micros),
                impressions=int(m.impressions),
                clicks=int(m.clicks),
                conversions=_float_dec(m.conversions),
                revenue=_float_dec(m.conversions_value),
                # Google reports both for every campaign (0 where none happened). It has no
                # daily reach, reactions, comments, shares or follows here: those stay None.
                engagements=int(m.engagements),
                video_views=int(m.video_trueview_views),
            )
