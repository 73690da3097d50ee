"""Query and path parameters shared by the routes (bounded, so bad input is a 422, not a 500)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query

from campaigns.catalog import Page

MAX_ID = 2**31 - 1

Id = Annotated[int, Query(ge=1, le=MAX_ID)]
Name = Annotated[str | None, Query(max_length=100)]
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]


def page_params(
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


PageDep = Annotated[Page, Depends(page_params)]


