"""The scope keys of a portfolio with their names, for the plan, cap and lock pickers."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from api.deps import Reader, SessionDep
from api.schemas.scopes import ScopePublic, ScopesPublic
from campaigns.lookup import get_portfolio
from campaigns.scopes import list_scopes

router = APIRouter(tags=["plans and caps"])
PortfolioName = Annotated[str, Query(min_length=1, max_length=100)]


@router.get("/scopes", response_model=ScopesPublic)
def get_scopes(
    session: SessionDep, _: Reader, portfolio: PortfolioName = "default",
    scope: Literal["network", "account", "campaign"] | None = None,
) -> ScopesPublic:
    """Every network, account and campaign of the portfolio with its key and name: the keys a
    plan, cap or lock may name (``scope_key``), and nothing else."""
    p = get_portfolio(session, portfolio)
    assert p.id is not None
    rows = list_scopes(session, p.id, scope)
    return ScopesPublic(portfolio=p.name, reporting_currency=p.reporting_currency,
                        data=[ScopePublic(**r.__dict__) for r in rows], count=len(rows))
