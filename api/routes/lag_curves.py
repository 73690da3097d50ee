"""The completion curves learnt from restatements (what nowcasting reads)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import Reader, SessionDep
from api.params import OptionalDay
from api.schemas.lag import LagReport
from campaigns.optimization.nowcast import portfolio_lag

router = APIRouter(tags=["optimizations"])


@router.get("/curves/lag", response_model=LagReport)
def get_lag_curves(
    session: SessionDep, user: Reader,
    portfolio: Annotated[str, Query(min_length=1, max_length=100)] = "default",
    as_of: OptionalDay = None,
) -> LagReport:
    """Each network's (and account's) share of a day's conversions known at 0, 1, 3, 7, 14
    and 30 days, with its uncertainty and how many observations it was learnt from."""
    day = as_of or dt.datetime.now(dt.UTC).date()
    return LagReport.of(portfolio, day, portfolio_lag(session, portfolio, day).to_json())
