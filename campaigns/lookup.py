"""Finding rows for any domain: a page of a query with its total, a portfolio by name, a row by
id; what is not there is a :class:`~campaigns.errors.NotFoundError` (a 404 at the API)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlmodel import Session, col

from campaigns.errors import NotFoundError
from campaigns.models import Portfolio

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    limit: int = 50
    offset: int = 0


def paginate(session: Session, stmt: Select[Any], page: Page) -> tuple[list[Any], int]:
    count = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery()))
    rows = list(session.scalars(stmt.limit(page.limit).offset(page.offset)))
    return rows, int(count or 0)


def get_portfolio(session: Session, name: str) -> Portfolio:
    row = session.scalars(select(Portfolio).where(col(Portfolio.name) == name)).first()
    if row is None:
        raise NotFoundError(f"no portfolio named {name!r}")
    return row


def list_portfolios(session: Session) -> list[Portfolio]:
    return list(session.scalars(select(Portfolio).order_by(col(Portfolio.id))))


def get(session: Session, model: type[T], id_: object, what: str) -> T:
    row = session.get(model, id_)
    if row is None:
        raise NotFoundError(f"no {what} with id {id_}")
    return row
