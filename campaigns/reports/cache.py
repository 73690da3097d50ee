"""The service's one cache mechanism: a bounded TTL cache (``cachetools.TTLCache``) whose keys
carry the data version they were computed from.

Reports (pacing, finance), rendered API answers, the data version itself and checked tokens
are each an instance of :class:`Cache`. An entry whose data changed is never looked up again,
because the new version makes a new key; it ages out by TTL or is pushed out (least recently
used) at ``maxsize``. The clock is a parameter, so tests move time instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from cachetools import TTLCache
from sqlalchemy import func, select
from sqlmodel import Session, col

from campaigns.models import BudgetPlan, BudgetShift, FxRate, SyncRun

T = TypeVar("T")
V = TypeVar("V")
Clock = Callable[[], float]


def data_stamp(session: Session) -> tuple[Any, ...]:
    """Changes whenever a sync finishes, a plan or FX rate changes or a shift moves (cheap:
    small tables and primary keys)."""
    sync = session.execute(select(func.max(SyncRun.id), func.max(SyncRun.finished_at))).one()
    plan = session.execute(
        select(func.max(BudgetPlan.updated_at), func.count(col(BudgetPlan.id)))
    ).one()
    fx = session.execute(select(func.max(FxRate.id), func.count(col(FxRate.id)))).one()
    # Pacing forecasts from approved and applied shifts: every transition bumps a version.
    shifts = session.execute(
        select(func.count(col(BudgetShift.id)), func.sum(col(BudgetShift.version)))
    ).one()
    return (*sync, *plan, *fx, *shifts)


class Cache(Generic[V]):
    """Values by key for ``ttl`` seconds of ``timer``, at most ``maxsize`` of them; a ``ttl``
    of 0 keeps nothing. Safe to share between the threads of one worker."""

    def __init__(self, ttl: float, *, maxsize: int = 512, timer: Clock = time.monotonic) -> None:
        self.ttl = ttl
        self._data: TTLCache[Hashable, V] = TTLCache(maxsize, max(ttl, 1e-9), timer=timer)
        self._guard = threading.Lock()
        self._pending: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable) -> V | None:
        with self._guard:
            try:  # a quarter of the time of TTLCache.get, on the path of every cached read
                return self._data[key]
            except KeyError:
                return None

    def put(self, key: Hashable, value: V) -> V:
        if self.ttl > 0:
            with self._guard:
                self._data[key] = value
        return value

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The kept value, or ``compute()`` kept. One computation per key at a time:
        concurrent callers for the same key wait for the first instead of all scanning the
        metrics table."""
        if self.ttl <= 0:
            return compute()
        hit = self.get(key)
        if hit is not None:
            return hit
        with self._guard:
            lock = self._pending.setdefault(key, threading.Lock())
        try:
            with lock:
                hit = self.get(key)
                return hit if hit is not None else self.put(key, compute())
        finally:
            with self._guard:
                self._pending.pop(key, None)

    def clear(self) -> None:
        with self._guard:
            self._data.clear()

    def __len__(self) -> int:
        with self._guard:  # counting drops expired entries: a change like any other
            return len(self._data)
