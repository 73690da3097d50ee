"""Names beside ids: what a person reads (campaign, ad set, account and network names) for
the rows the API otherwise keys by id or scope key. Lookups are one query per kind of row,
never one per item."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, tuple_
from sqlmodel import Session, col

from campaigns.models import AdAccount, AdSet, Campaign, ShiftItem


@dataclass(frozen=True)
class ItemNames:
    network: str
    account_external_id: str
    account_name: str
    campaign_external_id: str
    campaign_name: str
    adset_name: str | None


def item_names(session: Session, items: Iterable[ShiftItem]) -> dict[int, ItemNames]:
    """item id -> the names of its campaign, ad set and account."""
    items = list(items)
    if not items:
        return {}
    campaign_ids = {i.campaign_id for i in items}
    rows = session.execute(
        select(col(Campaign.id), col(Campaign.network), col(Campaign.external_id),
               col(Campaign.name), col(AdAccount.external_id), col(AdAccount.name))
        .join(AdAccount, col(AdAccount.id) == col(Campaign.account_id))
        .where(col(Campaign.id).in_(campaign_ids))
    ).all()
    campaigns = {r[0]: r[1:] for r in rows}
    adset_ids = {i.adset_id for i in items if i.adset_id is not None}
    adsets = dict(session.execute(
        select(col(AdSet.id), col(AdSet.name)).where(col(AdSet.id).in_(adset_ids))
    ).all()) if adset_ids else {}
    out = {}
    for item in items:
        network, camp_ext, camp_name, acct_ext, acct_name = campaigns[item.campaign_id]
        assert item.id is not None
        out[item.id] = ItemNames(
            network=network, account_external_id=acct_ext, account_name=acct_name,
            campaign_external_id=camp_ext, campaign_name=camp_name,
            adset_name=adsets.get(item.adset_id) if item.adset_id is not None else None,
        )
    return out


def scope_names(session: Session, scopes: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(scope, scope key) -> a readable name, for the keys of plans, pacing and alerts
    (``campaigns.scopes``): the account or campaign name, the network itself, "total".
    Keys that name nothing stored are left out."""
    scopes = set(scopes)
    accounts = {tuple(k.split(":")) for s, k in scopes if s == "account" and k.count(":") == 1}
    camps = {tuple(k.split(":")) for s, k in scopes if s == "campaign" and k.count(":") == 2}
    out: dict[tuple[str, str], str] = {}
    for scope, key in scopes:
        if scope == "total":
            out[(scope, key)] = "total"
        elif scope == "network":
            out[(scope, key)] = key
    if accounts:
        for network, ext, name in session.execute(
            select(col(AdAccount.network), col(AdAccount.external_id), col(AdAccount.name))
            .where(tuple_(col(AdAccount.network), col(AdAccount.external_id)).in_(accounts))
        ):
            out[("account", f"{network}:{ext}")] = name or ext
    if camps:
        for network, acct, ext, name in session.execute(
            select(col(AdAccount.network), col(AdAccount.external_id), col(Campaign.external_id),
                   col(Campaign.name))
            .join(Campaign, col(Campaign.account_id) == col(AdAccount.id))
            .where(tuple_(col(AdAccount.network), col(AdAccount.external_id),
                          col(Campaign.external_id))
                   .in_(camps))
        ):
            out[("campaign", f"{network}:{acct}:{ext}")] = name or ext
    return out
