"""Meta ad accounts, campaigns and ad sets, read through the Graph API edges."""

from __future__ import annotations

import logging
from typing import Any

from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.adobjects.adset import AdSet
from facebook_business.adobjects.campaign import Campaign

from connectors.base import AccountRecord, AdSetRecord, CampaignRecord, ConnectorError
from connectors.errors import PartialAccountList
from connectors.meta_graph import MetaGraph, act_id
from connectors.meta_money import from_minor
from connectors.result_kinds import meta_result_kind

log = logging.getLogger("connectors.meta")

# Without an explicit filter the edges leave out archived and deleted objects, whose spend
# still counts (a classic gap of syncs): ask for every status the SDK knows.
CAMPAIGN_STATUSES = ["ACTIVE", "PAUSED", "IN_PROCESS", "WITH_ISSUES", "ARCHIVED", "DELETED"]
ADSET_STATUSES = [*CAMPAIGN_STATUSES, "CAMPAIGN_PAUSED"]
GONE_STATUSES = frozenset({"ARCHIVED", "DELETED"})
ACCOUNT_STATUS = {
    1: "active",
    2: "disabled",
    3: "unsettled",
    7: "pending_review",
    8: "pending_settlement",
    9: "grace_period",
    100: "pending_closure",
    101: "closed",
}
CAMPAIGN_FIELDS = [
    "id",
    "name",
    "status",
    "effective_status",
    "objective",
    "bid_strategy",
    "daily_budget",
    "lifetime_budget",
]
ADSET_FIELDS = [
    "id",
    "campaign_id",
    "name",
    "status",
    "effective_status",
    "daily_budget",
    "lifetime_budget",
    "learning_stage_info",
]
# AdCampaignLearningStageInfo.status, as Meta documents it; only active ad sets of eligible
# accounts report one (not Dynamic Creative ones), so its absence means "not reported".
LEARNING_STAGES = frozenset({"LEARNING", "SUCCESS", "FAIL"})
ACCOUNT_FIELDS = [
    "id",
    "account_id",
    "name",
    "currency",
    "timezone_name",
    "account_status",
    "min_daily_budget",
]


class MetaEntities(MetaGraph):
    """The accounts a connector reads (kept by id) and the campaigns and ad sets in them."""

    account_ids: list[str] | None
    page_size: int
    include_archived: bool
    currency_offsets: dict[str, int]
    _accounts: dict[str, AccountRecord]
    _account_min_budget: dict[str, int]

    def _statuses(self, statuses: list[str] = CAMPAIGN_STATUSES) -> list[str]:
        return (
            statuses if self.include_archived else [s for s in statuses if s not in GONE_STATUSES]
        )


    def list_accounts(self) -> list[AccountRecord]:
        params = {"limit": self.page_size}
        if self.account_ids:
            # Each listed account is read on its own: a token revoked on one of them (190, or
            # a 200 permission error) is that account's failure, not the others'.
            rows = []
            failures: dict[str, ConnectorError] = {}
            for a in self.account_ids:
                fields = {"fields": ",".join(ACCOUNT_FIELDS)}
                try:
                    rows.append(self._call("GET", (a,), fields, f"Meta account {a}"))
                except ConnectorError as err:
                    log.error("Meta account %s: %s", a, err)
                    failures[a] = err
            if failures:
                raise PartialAccountList([self._account(row) for row in rows], failures)
        else:
            rows = list(
                self._iterate(
                    "me", "adaccounts", AdAccount, ACCOUNT_FIELDS, params, "Meta /me/adaccounts"
                )
            )
        accounts = [self._account(row) for row in rows]
        return accounts

    def _account(self, row: dict[str, Any]) -> AccountRecord:
        ext = act_id(row.get("id") or row["account_id"])
        record = AccountRecord(
            network="meta",
            external_id=ext,
            name=row.get("name", ""),
            currency=str(row.get("currency", "USD")).upper(),
            timezone=row.get("timezone_name") or "UTC",
            status=ACCOUNT_STATUS.get(int(row.get("account_status", 1)), "unknown"),
        )
        self._accounts[ext] = record
        if row.get("min_daily_budget"):
            self._account_min_budget[ext] = int(row["min_daily_budget"])
        return record

    def _account_record(self, account: str) -> AccountRecord:
        account = act_id(account)
        if account not in self._accounts:
            fields = {"fields": ",".join(ACCOUNT_FIELDS)}
            self._account(self._call("GET", (account,), fields, f"Meta account {account}"))
        return self._accounts[account]

    def list_campaigns(self, account_external_id: str) -> list[CampaignRecord]:
        account = self._account_record(account_external_id)
        params = {"limit": self.page_size, "effective_status": self._statuses()}
        out = []
        for row in self._iterate(
            account.external_id,
            "campaigns",
            Campaign,
            CAMPAIGN_FIELDS,
            params,
            f"Meta campaigns of {account.external_id}",
        ):
            daily = from_minor(row.get("daily_budget"), account.currency, self.currency_offsets)
            life = from_minor(row.get("lifetime_budget"), account.currency, self.currency_offsets)
            out.append(
                CampaignRecord(
                    external_id=str(row["id"]),
                    name=row.get("name", ""),
                    status=str(row.get("status", "")).lower(),
                    effective_status=str(row.get("effective_status", "")).lower() or None,
                    objective=row.get("objective"),
                    bid_strategy=row.get("bid_strategy"),
                    result_kind=meta_result_kind(row.get("objective")),
                    # The campaign holds the budget (Advantage campaign budget) when it has
                    # one; otherwise each ad set holds its own.
                    budget_level="campaign" if daily or life else "adset",
                    daily_budget=daily,
                    lifetime_budget=life,
                    budget_external_id=str(row["id"]) if daily or life else None,
                )
            )
        return out

    def list_ad_sets(self, account_external_id: str) -> list[AdSetRecord]:
        account = self._account_record(account_external_id)
        params = {"limit": self.page_size, "effective_status": self._statuses(ADSET_STATUSES)}
        return [
            AdSetRecord(
                campaign_external_id=str(row["campaign_id"]),
                external_id=str(row["id"]),
                name=row.get("name", ""),
                status=str(row.get("status", "")).lower(),
                daily_budget=from_minor(
                    row.get("daily_budget"), account.currency, self.currency_offsets
                ),
                lifetime_budget=from_minor(
                    row.get("lifetime_budget"), account.currency, self.currency_offsets
                ),
                learning_stage=learning_stage(row.get("learning_stage_info")),
            )
            for row in self._iterate(
                account.external_id,
                "adsets",
                AdSet,
                ADSET_FIELDS,
                params,
                f"Meta ad sets of {account.external_id}",
            )
        ]


def learning_stage(info: Any) -> str | None:
    """The ad set's learning stage from its ``learning_stage_info`` object (``{"status":
    "LEARNING", "conversions": 12, "last_sig_edit_ts": ..., ...}``); None when absent or a
    status this version does not know."""
    if not isinstance(info, dict):
        return None
    status = str(info.get("status") or "").upper()
    return status if status in LEARNING_STAGES else None
