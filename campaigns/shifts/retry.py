"""When a failed item is tried again, and when a claim counts as abandoned."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_

from campaigns.models import ShiftItem


@dataclass(frozen=True)
class RetryPolicy:
    """How often a failed item is tried again, and when a claim counts as abandoned."""

    max_attempts: int = 5
    backoff: dt.timedelta = dt.timedelta(minutes=10)  # then 20, 40, 80 minutes
    # A claim older than this was left by a process that died mid-way; the next attempt
    # reads the platform before writing anything.
    claim_timeout: dt.timedelta = dt.timedelta(minutes=15)

    def next_attempt(self, attempts: int, now: dt.datetime) -> dt.datetime:
        return now + self.backoff * 2 ** max(attempts - 1, 0)

    def due(self, now: dt.datetime) -> Any:
        """The SQL condition of an item automation may try (again) at ``now``: attempts
        left and its backoff passed."""
        item: Any = ShiftItem
        return and_(item.attempts < self.max_attempts,
                    or_(item.next_attempt_at.is_(None), item.next_attempt_at <= now))


RETRY = RetryPolicy()
