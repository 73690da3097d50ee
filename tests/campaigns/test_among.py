"""An agency's portfolio holds more campaigns than a statement may have parameters: the
queries that take a list of ids must still answer (PostgreSQL's driver refuses more than
65,535 parameters, SQLite more than 32,766)."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session, col

from campaigns.db import among
from campaigns.models import AdAccount, Campaign, Portfolio

MANY = 70_000  # more than either back end takes as parameters


def _campaigns(session: Session, n: int) -> list[int]:
    p = Portfolio(name="agency")
    session.add(p)
    session.flush()
    a = AdAccount(portfolio_id=p.id, network="meta", external_id="act_1", currency="EUR")
    session.add(a)
    session.flush()
    cs = [Campaign(account_id=a.id, network="meta", external_id=str(i)) for i in range(n)]
    session.add_all(cs)
    session.flush()
    return [c.id for c in cs if c.id is not None]


def test_a_list_of_ids_longer_than_the_parameter_limit_is_answered(engine: Engine) -> None:
    with Session(engine) as session:
        ids = _campaigns(session, 3)
        wanted = [*ids[:2], *range(10**7, 10**7 + MANY)]  # two that exist, many that do not
        found = session.scalars(select(col(Campaign.id)).where(among(col(Campaign.id), wanted)))
        assert sorted(found) == sorted(ids[:2])
        assert session.scalars(select(col(Campaign.id)).where(among(col(Campaign.id), []))).all() == []


@pytest.mark.postgres
def test_the_plain_in_fails_there_which_is_why(pg_url: str) -> None:
    """The limit is real: the same list bound one parameter per id is refused."""
    from campaigns.db import create_db_engine, ensure_schema

    engine = create_db_engine(pg_url)
    ensure_schema(engine)
    with Session(engine) as session, pytest.raises(Exception, match=r"(?i)parameter|argument"):
        session.scalars(select(col(Campaign.id)).where(
            col(Campaign.id).in_(list(range(MANY))))).all()
    engine.dispose()
