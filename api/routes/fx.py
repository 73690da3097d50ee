"""Daily FX rates into the reporting currency (finance loads them; everyone reads)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import FxEditor, Reader, SessionDep
from api.params import OptionalDay, PageDep
from api.schemas import fx as s
from campaigns.admin import fx

router = APIRouter(prefix="/fx-rates", tags=["fx"])
Code = Annotated[str | None, Query(min_length=3, max_length=3)]


@router.get("", response_model=s.FxRatesPublic)
def list_rates(
    session: SessionDep, _: Reader, page: PageDep, currency: Code = None, quote: Code = None,
    start: OptionalDay = None, end: OptionalDay = None,
) -> s.FxRatesPublic:
    rows, count = fx.list_rates(session, page, currency=currency, quote=quote, start=start,
                                end=end)
    return s.FxRatesPublic(data=rows, count=count)


@router.post("", response_model=dict[str, int])
def upsert_rates(session: SessionDep, user: FxEditor, body: s.FxRatesCreate) -> dict[str, int]:
    rates = [fx.RateIn(r.date, r.currency, r.quote, r.rate) for r in body.rates]
    return {"changed": fx.upsert_rates(session, rates, actor=user.name)}
