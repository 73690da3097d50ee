"""Read endpoints: portfolios, accounts, campaigns, ad sets, metric series, sync runs, audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AuditReader, Reader, SessionDep
from api.params import Day, Id, Moment, Name, PageDep, PathId
from api.schemas import catalog as s
from api.schemas.audit import AuditEventsPublic
from api.schemas.tokens import PrincipalPublic
from campaigns import lookup
from campaigns.admin.auth import PERMISSIONS
from campaigns.ingest import catalog
from campaigns.models import AdAccount, AdSet, Campaign

router = APIRouter(tags=["catalog"])

@router.get("/me", response_model=PrincipalPublic)
def me(session: SessionDep, user: Reader) -> PrincipalPublic:
    portfolios = None if user.portfolios is None else sorted(
        p.name for p in lookup.list_portfolios(session))  # the session sees only its own
    actions = sorted(a.value for a, roles in PERMISSIONS.items() if user.role in roles)
    return PrincipalPublic(name=user.name, role=user.role.value, portfolios=portfolios,
                             actions=actions)


@router.get("/portfolios", response_model=s.PortfoliosPublic)
def list_portfolios(session: SessionDep, _: Reader) -> s.PortfoliosPublic:
    rows = lookup.list_portfolios(session)
    return s.PortfoliosPublic(data=rows, count=len(rows))


@router.get("/accounts", response_model=s.AccountsPublic)
def list_accounts(
    session: SessionDep, _: Reader, page: PageDep, network: Name = None, portfolio: Name = None,
    status: Name = None,
) -> s.AccountsPublic:
    rows, count = catalog.list_accounts(
        session, page, network=network, portfolio=portfolio, status=status
    )
    return s.AccountsPublic(data=rows, count=count)


@router.get("/accounts/{account_id}", response_model=s.AccountPublic)
def get_account(session: SessionDep, _: Reader, account_id: PathId) -> AdAccount:
    return lookup.get(session, AdAccount, account_id, "account")


@router.get("/campaigns", response_model=s.CampaignsPublic)
def list_campaigns(
    session: SessionDep, _: Reader, page: PageDep, network: Name = None,
    account_id: Id | None = None, status: Name = None, portfolio: Name = None,
) -> s.CampaignsPublic:
    rows, count = catalog.list_campaigns(
        session, page, network=network, account_id=account_id, status=status,
        portfolio=portfolio,
    )
    return s.CampaignsPublic(data=rows, count=count)


@router.get("/campaigns/{campaign_id}", response_model=s.CampaignPublic)
def get_campaign(session: SessionDep, _: Reader, campaign_id: PathId) -> Campaign:
    return lookup.get(session, Campaign, campaign_id, "campaign")


@router.get("/adsets", response_model=s.AdSetsPublic)
def list_adsets(
    session: SessionDep, _: Reader, page: PageDep, campaign_id: Id | None = None,
    account_id: Id | None = None, network: Name = None, status: Name = None,
) -> s.AdSetsPublic:
    rows, count = catalog.list_adsets(
        session, page, campaign_id=campaign_id, account_id=account_id, network=network,
        status=status,
    )
    return s.AdSetsPublic(data=rows, count=count)


@router.get("/adsets/{adset_id}", response_model=s.AdSetPublic)
def get_adset(session: SessionDep, _: Reader, adset_id: PathId) -> AdSet:
    return lookup.get(session, AdSet, adset_id, "ad set")


@router.get("/metrics", response_model=s.MetricSeriesPublic)
def metric_series(
    session: SessionDep, _: Reader, start: Day, end: Day,
    campaign_id: Id | None = None, account_id: Id | None = None, network: Name = None,
) -> s.MetricSeriesPublic:
    """Daily totals for the filter, one point per day and account currency."""
    points = catalog.metric_series(
        session, start=start, end=end, campaign_id=campaign_id, account_id=account_id,
        network=network,
    )
    return s.MetricSeriesPublic(data=points, count=len(points))


@router.get("/sync-runs", response_model=s.SyncRunsPublic)
def list_sync_runs(
    session: SessionDep, _: Reader, page: PageDep, account_id: Id | None = None,
    status: Name = None, stream: Name = None, source: Name = None,
) -> s.SyncRunsPublic:
    rows, count = catalog.list_sync_runs(
        session, page, account_id=account_id, status=status, stream=stream, source=source
    )
    return s.SyncRunsPublic(data=rows, count=count)


@router.get("/audit", response_model=AuditEventsPublic)
def list_audit(
    session: SessionDep, _: AuditReader, page: PageDep,
    entity_type: Annotated[str | None, Query(max_length=40)] = None,
    entity_id: Annotated[str | None, Query(max_length=100)] = None,
    actor: Name = None, action: Annotated[str | None, Query(max_length=80)] = None,
    since: Moment = None, until: Moment = None,
) -> AuditEventsPublic:
    rows, count = catalog.list_audit(
        session, page, entity_type=entity_type, entity_id=entity_id, actor=actor,
        action=action, since=since, until=until,
    )
    return AuditEventsPublic(data=rows, count=count)
