"""A small in-process cache for reports (pacing, finance) that are costly to aggregate.

An entry is valid while its *data stamp* is unchanged (latest sync run, plan and FX row) and it
is younger than the TTL. One computation per key at a time: concurrent callers for the same key
wait for the first instead of all scanning the metrics table.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlmodel import Session, col

from campaigns.models import BudgetPlan, FxRate, SyncRun

T = TypeVar("T")
MAX_ENTRIES = 256


def data_stamp(session: Session) -> tuple[Any, ...]:
    """Changes whenever a sync finishes or a plan or FX rate changes (cheap: small tables and
    primary keys)."""
    sync = session.execute(select(func.max(col(SyncRun.id)),
                                  func.max(col(SyncRun.finished_at)))).one()
    plan = session.execute(
        select(func.max(col(BudgetPlan.updated_at)), func.count(col(BudgetPlan.id)))
    ).one()
    fx = session.execute(select(func.max(col(FxRate.id)), func.count(col(FxRate.id)))).one()
    return (*sync, *plan, *fx)


class ReportCache:
    def __init__(self, ttl_seconds: float) -> None:
        self.ttl = ttl_seconds
        self._entries: dict[Hashable, tuple[float, Hashable, Any]] = {}
        self._locks: dict[Hashable, threading.Lock] = {}
        self._guard = threading.Lock()

    def get_or_compute(self, key: Hashable, stamp: Hashable, compute: Callable[[], T]) -> T:
        if self.ttl <= 0:
            return compute()
        hit = self._lookup(key, stamp)
        if hit is not None:
            return hit
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            hit = self._lookup(key, stamp)
            if hit is not None:
                return hit
            value = compute()
            with self._guard:
                if len(self._entries) >= MAX_ENTRIES:
                    oldest = min(self._entries, key=lambda k: self._entries[k][0])
                    self._entries.pop(oldest, None)
                self._entries[key] = (time.monotonic(), stamp, value)
            return value

    def _lookup(self, key: Hashable, stamp: Hashable) -> Any:
        entry = self._entries.get(key)
        if entry is None:
            return None
        at, entry_stamp, value = entry
        if entry_stamp != stamp or time.monotonic() - at > self.ttl:
            return None
        return value

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()
