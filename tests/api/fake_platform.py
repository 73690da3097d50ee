"""An ad platform at the connector's edge that counts every budget write, safe across threads.

It keeps each budget as the platform would (read back what was written), answers reads,
fails where told (with the classified error the real connectors raise), and can be slow, so
that concurrent requests overlap in the window between a read and a write.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from decimal import Decimal

from connectors.base import BudgetResult, BudgetTarget, ConnectorError, apply_each


class FakePlatform:
    """One budget at a time, like Meta's Graph API (one POST per campaign or ad set)."""

    name = "fake"

    def __init__(self, budgets: dict[str, Decimal] | None = None, *,
                 write_seconds: float = 0.0) -> None:
        self.budgets: dict[str, Decimal] = dict(budgets or {})
        self.writes: Counter[str] = Counter()  # target id -> writes that changed the platform
        self.validations: Counter[str] = Counter()  # dry-run calls (validate only)
        self.reads: Counter[str] = Counter()
        self.fail: dict[str, ConnectorError] = {}  # target id -> error on every call
        self.fail_writes: dict[str, ConnectorError] = {}  # target id -> error on writes only
        self.write_seconds = write_seconds
        self._lock = threading.Lock()

    def read_budget(self, target: BudgetTarget) -> Decimal:
        with self._lock:
            self.reads[target.external_id] += 1
            if target.external_id in self.fail:
                raise self.fail[target.external_id]
            return self.budgets[target.external_id]

    def apply_budget(self, target: BudgetTarget, daily_budget: Decimal, *,
                     dry_run: bool = False) -> BudgetResult:
        key = target.external_id
        for failing in (self.fail, self.fail_writes):
            if key in failing:
                raise failing[key]
        if dry_run:
            with self._lock:
                self.validations[key] += 1
            return BudgetResult(target, daily_budget, daily_budget, changed=False, dry_run=True)
        time.sleep(self.write_seconds)  # the request is on the wire
        with self._lock:
            changed = self.budgets.get(key) != daily_budget
            self.budgets[key] = daily_budget
            self.writes[key] += 1
        return BudgetResult(target, daily_budget, daily_budget, changed=changed)

    def total_writes(self) -> int:
        return sum(self.writes.values())


class FakeBatchPlatform(FakePlatform):
    """Several budgets of one account in one call, each with its own outcome (Google Ads'
    ``MutateCampaignBudgets`` with ``partial_failure``)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.batches: list[list[str]] = []

    def apply_budgets(self, changes: list[tuple[BudgetTarget, Decimal]], *,
                      dry_run: bool = False) -> list[BudgetResult | ConnectorError]:
        with self._lock:
            self.batches.append([t.external_id for t, _ in changes])
        return apply_each(self, changes, dry_run=dry_run)
