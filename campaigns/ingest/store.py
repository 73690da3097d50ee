"""Idempotent writes of synced and imported entities: portfolios, accounts, campaigns, ad sets.

Everything here adds and flushes; the caller's unit of work commits once. Daily metrics are
written by :mod:`campaigns.ingest.metrics_store`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import (
    bindparam,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from campaigns.columns import utcnow
from campaigns.db import table_of
from campaigns.errors import ValidationError
from campaigns.models import AdAccount, AdSet, Campaign, Portfolio
from connectors.base import AccountRecord, AdSetRecord, CampaignRecord

T = TypeVar("T")


def get_or_create_portfolio(
    session: Session, name: str = "default", *, reporting_currency: str = "EUR"
) -> Portfolio:
    def find() -> Portfolio | None:
        return session.scalars(select(Portfolio).where(col(Portfolio.name) == name)).first()

    portfolio = find()
    if portfolio is None:
        portfolio = _insert_or_find(
            session, Portfolio(name=name, reporting_currency=reporting_currency), find
        )
    return portfolio


def _insert_or_find(session: Session, row: T, find: Callable[[], T | None]) -> T:
    """Insert ``row``, or take the one a concurrent unit of work inserted under the same key.

    Workers sync accounts side by side: two of them may each create the same portfolio (or,
    when a task is delivered again while still running, the same account) at once.
    """
    if session.get_bind().dialect.name == "sqlite":
        # pysqlite opens no transaction for a SAVEPOINT, so releasing one would commit the
        # caller's work (a rejected CSV file must write nothing). SQLite has one writer at a
        # time anyway: there the rows are written as before.
        session.add(row)
        session.flush()
        return row
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
        return row
    except IntegrityError:
        found = find()
        if found is None:
            raise
        return found


def upsert_account(
    session: Session, record: AccountRecord, *, source: str, portfolio_id: int
) -> AdAccount:
    """Create or refresh an account. Its currency is fixed at creation, as on the platforms."""
    def find() -> AdAccount | None:
        return session.scalars(
            select(AdAccount).where(
                col(AdAccount.network) == record.network,
                col(AdAccount.external_id) == record.external_id,
            )
        ).first()

    account = find()
    if account is None:
        return _insert_or_find(session, AdAccount(
            portfolio_id=portfolio_id,
            network=record.network,
            external_id=record.external_id,
            name=record.name,
            currency=record.currency,
            timezone=record.timezone,
            source=source,
            status=record.status,
        ), find)
    if account.currency != record.currency:
        raise ValidationError(
            f"account {record.network}:{record.external_id} is in {account.currency}, "
            f"but the platform now reports {record.currency}; an account's currency is fixed "
            "at creation, so this needs a human"
        )
    changed = (account.name, account.timezone, account.status, account.source) != (
        record.name, record.timezone, record.status, source
    )
    if changed:
        account.name, account.timezone, account.status = record.name, record.timezone, record.status
        account.source = source
        account.updated_at = utcnow()
        session.add(account)
    return account


_CAMPAIGN_FIELDS = (
    "name", "status", "effective_status", "objective", "bid_strategy", "budget_level",
    "budget_external_id", "budget_shared", "daily_budget", "lifetime_budget", "result_kind",
)  # fmt: skip


def upsert_campaigns(
    session: Session, account: AdAccount, records: Iterable[CampaignRecord]
) -> dict[str, int]:
    """Create or refresh campaigns; returns campaign ids by external id.

    Core statements, not ORM objects: an account of 5,000 campaigns is synced every night,
    and building and flushing an object per campaign cost more than the database. A
    campaign whose fields did not change keeps its ``updated_at``.
    """
    table = table_of(Campaign)
    fields = [table.c[f] for f in _CAMPAIGN_FIELDS]
    existing = {
        row[0]: row
        for row in session.execute(
            select(table.c.external_id, table.c.id, *fields).where(
                table.c.account_id == account.id
            )
        )
    }
    latest = {rec.external_id: [getattr(rec, f) for f in _CAMPAIGN_FIELDS] for rec in records}
    now = utcnow()
    new, changed = [], []
    for ext, values in latest.items():
        row = existing.get(ext)
        if row is None:
            new.append({"account_id": account.id, "network": account.network,
                        "external_id": ext, **dict(zip(_CAMPAIGN_FIELDS, values, strict=True)),
                        "created_at": now, "updated_at": now})
        elif list(row[2:]) != values:
            changed.append({"cid": row[1], "now": now,
                            **{f"v_{f}": v for f, v in zip(_CAMPAIGN_FIELDS, values, strict=True)}})
    if new:
        session.execute(insert(table), new)
    if changed:
        session.execute(
            update(table).where(table.c.id == bindparam("cid")).values(
                updated_at=bindparam("now"), **{f: bindparam(f"v_{f}") for f in _CAMPAIGN_FIELDS}
            ),
            changed,
        )
    ids = {ext: row[1] for ext, row in existing.items()}
    if new:
        ids.update(session.execute(
            select(table.c.external_id, table.c.id).where(table.c.account_id == account.id)
        ).all())
    return ids


def ensure_campaigns(
    session: Session, account: AdAccount, external_ids: Iterable[str], known: dict[str, int]
) -> dict[str, int]:
    """Make sure metrics never lose spend: a campaign seen only in metrics is created."""
    missing = sorted(set(external_ids) - known.keys())
    assert account.id is not None  # the account row is stored before its campaigns
    for ext in missing:
        campaign = Campaign(
            account_id=account.id, network=account.network, external_id=ext,
            name=ext, status="unknown",
        )
        session.add(campaign)
        session.flush()
        assert campaign.id is not None  # the flush gave it one
        known[ext] = campaign.id
    return known


_AD_SET_FIELDS = ("name", "status", "daily_budget", "lifetime_budget", "learning_stage")


def upsert_ad_sets(
    session: Session, campaign_ids: dict[str, int], records: Iterable[AdSetRecord]
) -> int:
    """Create or refresh ad sets (Core statements, as for campaigns)."""
    records = [r for r in records if r.campaign_external_id in campaign_ids]
    table = table_of(AdSet)
    ids = sorted(set(campaign_ids.values()))
    existing: dict[tuple[int, str], Any] = {}
    for i in range(0, len(ids), 5000):
        for found in session.execute(
            select(table.c.campaign_id, table.c.external_id, table.c.id,
                   *(table.c[f] for f in _AD_SET_FIELDS))
            .where(table.c.campaign_id.in_(ids[i : i + 5000]))
        ):
            existing[(found[0], found[1])] = found
    latest = {
        (campaign_ids[r.campaign_external_id], r.external_id):
            [r.name, r.status, r.daily_budget, r.lifetime_budget, r.learning_stage]
        for r in records
    }
    now = utcnow()
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for (cid, ext), values in latest.items():
        row = existing.get((cid, ext))
        if row is None:
            new.append({"campaign_id": cid, "external_id": ext, "updated_at": now,
                        **dict(zip(_AD_SET_FIELDS, values, strict=True))})
        elif list(row[3:]) != values:
            changed.append({"aid": row[2], "now": now,
                            **{f"v_{f}": v for f, v in zip(_AD_SET_FIELDS, values, strict=True)}})
    if new:
        session.execute(insert(table), new)
    if changed:
        session.execute(
            update(table).where(table.c.id == bindparam("aid")).values(
                updated_at=bindparam("now"), **{f: bindparam(f"v_{f}") for f in _AD_SET_FIELDS}
            ),
            changed,
        )
    return len(records)


def find_or_create_campaigns(
    session: Session, wanted: dict[tuple[int, str], str], campaigns: dict[tuple[int, str], int]
) -> int:
    """Find or create campaigns in bulk: ``wanted`` maps (account id, external id) to a name;
    ``campaigns`` receives their ids. Returns how many were created."""
    keys = list(wanted)
    for i in range(0, len(keys), 500):
        part = keys[i : i + 500]
        found = session.execute(
            select(col(Campaign.account_id), col(Campaign.external_id), col(Campaign.id)).where(
                tuple_(col(Campaign.account_id), col(Campaign.external_id)).in_(part)
            )
        ).all()
        for account_id, ext, cid in found:
            campaigns[(account_id, ext)] = cid
    new = [k for k in keys if k not in campaigns]
    if not new:
        return 0
    networks = dict(session.execute(
        select(col(AdAccount.id), col(AdAccount.network)).where(
            col(AdAccount.id).in_({k[0] for k in new})
        )
    ).all())
    now = utcnow()
    session.execute(insert(table_of(Campaign)), [
        {"account_id": a, "external_id": e, "network": networks[a], "name": wanted[(a, e)],
         "status": "active", "budget_level": "campaign", "budget_shared": False,
         "created_at": now, "updated_at": now}
        for a, e in new
    ])
    for i in range(0, len(new), 500):
        part = new[i : i + 500]
        for account_id, ext, cid in session.execute(
            select(col(Campaign.account_id), col(Campaign.external_id), col(Campaign.id)).where(
                tuple_(col(Campaign.account_id), col(Campaign.external_id)).in_(part)
            )
        ).all():
            campaigns[(account_id, ext)] = cid
    return len(new)


def set_names_and_budgets(
    session: Session, latest: dict[int, tuple[str, Any]]
) -> None:
    """Campaign id -> (name, current daily budget or None: keep the budget), in bulk."""
    table = table_of(Campaign)
    now = utcnow()
    with_budget = [
        {"cid": cid, "name": name, "budget": budget, "now": now}
        for cid, (name, budget) in latest.items() if budget is not None
    ]
    name_only = [
        {"cid": cid, "name": name, "now": now}
        for cid, (name, budget) in latest.items() if budget is None
    ]
    # One statement per kind, executed for many rows; unchanged campaigns keep updated_at.
    if with_budget:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("cid"))
            .where(or_(table.c.name != bindparam("name"),
                       table.c.daily_budget.is_distinct_from(bindparam("budget"))))
            .values(name=bindparam("name"), daily_budget=bindparam("budget"),
                    updated_at=bindparam("now")),
            with_budget,
        )
    if name_only:
        session.execute(
            update(table)
            .where(table.c.id == bindparam("cid"), table.c.name != bindparam("name"))
            .values(name=bindparam("name"), updated_at=bindparam("now")),
            name_only,
        )
