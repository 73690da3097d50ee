"""Optimistic concurrency: an update names the version it read; a stale one is a 409."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import update
from sqlmodel import Session, SQLModel

from campaigns.errors import NotFoundError, StaleVersionError

M = TypeVar("M", bound=SQLModel)


def versioned_update(
    session: Session, model: type[M], row_id: int, expected_version: int, values: dict[str, Any],
    *, what: str, extra_where: Any = None,
) -> M:
    """``UPDATE ... SET version = version + 1 WHERE id = :id AND version = :expected``.

    The database decides who wins: of two concurrent writers with the same version exactly one
    changes a row, the other gets :class:`StaleVersionError`.
    """
    table: Any = model
    stmt = (
        update(model)
        .where(table.id == row_id, table.version == expected_version)
        .values(**values, version=table.version + 1)
        .execution_options(synchronize_session=False)
    )
    if extra_where is not None:
        stmt = stmt.where(extra_where)
    result = session.exec(stmt)  # exec: typed as the CursorResult an UPDATE gives
    if result.rowcount != 1:
        current: Any = session.get(model, row_id, populate_existing=True)  # any versioned model
        if current is None:
            raise NotFoundError(f"no {what} with id {row_id}")
        raise StaleVersionError(
            f"{what} {row_id} is at version {current.version}, not {expected_version}: "
            "it changed since you read it; reload and retry"
        )
    row = session.get(model, row_id, populate_existing=True)
    assert row is not None
    return row
