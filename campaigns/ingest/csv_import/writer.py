"""Writing an import's checked blocks: one block written while the next is read."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection

from campaigns.ingest.metrics_store import upsert_metric_tuples


class Writer:
    """Writes one block while the next is read and checked.

    PostgreSQL works in its own process while Python parses the next block, so the two
    overlap instead of taking turns. Only one write is in flight, and anything else that
    touches the connection waits for it first.
    """

    def __init__(self, conn: Connection, *, observed_at: dt.datetime | None = None) -> None:
        self.conn = conn
        self.observed_at = observed_at  # when the file's figures count as seen
        # SQLite's driver takes the GIL back for every row it binds, so a writer thread there
        # only fights the parser for it: SQLite writes in line.
        self._pool = (
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="csv-writer")
            if conn.dialect.name == "postgresql" else None
        )
        self._pending: Future[int] | None = None

    def submit(
        self, params: list[tuple[Any, ...]], *, with_budget: bool, with_social: bool = False
    ) -> None:
        self.wait()
        if self._pool is None:
            upsert_metric_tuples(
                self.conn, params, with_budget=with_budget, with_social=with_social,
                source="import", observed_at=self.observed_at,
            )
            return
        self._pending = self._pool.submit(
            upsert_metric_tuples, self.conn, params, with_budget=with_budget,
            with_social=with_social, source="import", observed_at=self.observed_at,
        )

    def wait(self) -> None:
        """Let the write in flight finish (and raise its error here, in the caller)."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.wait()
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)


def line_numbers(block: list[list[str]], start: int, end: int) -> Sequence[int]:
    """The line each row of a block starts on. Rows are one line each unless a quoted cell
    holds a newline; only then is it worth counting."""
    if end - start == len(block):
        return range(start + 1, end + 1)
    lines: list[int] = []
    line = start + 1
    for cells in block:
        lines.append(line)
        line += 1 + sum(c.count("\n") for c in cells)
    return lines
