"""What a nightly run did (or, in a dry run, would do): per portfolio, and each budget change
with its campaign, account, old and new budget and currency."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from campaigns.db import among
from campaigns.models import AdAccount, Campaign, ShiftItem
from connectors.currencies import minor_unit


@dataclass(frozen=True)
class Change:
    """One budget a run changed, or would change."""

    item_id: int | None
    shift_id: int | None
    network: str
    account: str
    campaign: str
    level: str
    target: str
    old: Decimal
    new: Decimal
    currency: str
    outcome: str  # applied | already | would apply | failed | would fail
    error: str | None = None

    @property
    def account_key(self) -> str:
        return f"{self.network}:{self.account}"

    def line(self) -> str:
        where = f"{self.network} {self.account} campaign {self.campaign}"
        if self.level != "campaign":
            where += f" ({self.level} budget {self.target})"
        shift = f" [shift {self.shift_id}]" if self.shift_id is not None else ""
        error = f": {self.error}" if self.error else ""
        step = minor_unit(self.currency)
        old, new = self.old.quantize(step), self.new.quantize(step)
        return f"  {self.outcome}: {where}: {old} → {new} {self.currency}{shift}{error}"


def item_changes(
    session: Session, items: list[ShiftItem], outcome: str | dict[int, str],
    errors: dict[int, str] | None = None,
) -> list[Change]:
    """``items`` as changes; ``outcome`` is one word for all or one per item id."""
    ids = {i.campaign_id for i in items}
    rows = session.execute(
        select(col(Campaign.id), col(Campaign.external_id), col(AdAccount.network),
               col(AdAccount.external_id))
        .join(AdAccount, col(AdAccount.id) == col(Campaign.account_id))
        .where(among(col(Campaign.id), ids))
    ).all() if ids else []
    where = {r[0]: (r[1], r[2], r[3]) for r in rows}
    errors = errors or {}
    out = []
    for item in items:
        campaign, network, account = where[item.campaign_id]
        word = outcome if isinstance(outcome, str) else outcome.get(item.id or 0, "")
        new = item.applied_budget if word == "applied" and item.applied_budget else item.new_budget
        out.append(Change(item.id, item.shift_id, network, account, campaign, item.level,
                          item.target_external_id, Decimal(item.old_budget), Decimal(new),
                          item.currency, word, errors.get(item.id or 0) or item.error
                          if word in ("failed", "would fail") else None))
    return out


@dataclass
class StepTiming:
    """How long one stage took and how it ended: a portfolio's step, one source's sync, alerts."""

    step: str
    subject: str = ""  # the source or account the stage was about; empty: the portfolio
    seconds: float = 0.0
    error: str | None = None
    detail: str = ""  # e.g. the accounts a sync failed for

    @property
    def outcome(self) -> str:
        return "failed" if self.error else "succeeded"

    def facts(self) -> dict[str, Any]:
        return {"step": self.step, "subject": self.subject, "seconds": self.seconds,
                "outcome": self.outcome, "error": self.error, "detail": self.detail}

    def text(self) -> str:
        what = f"{self.step} {self.subject}".strip()
        tail = f" ({self.detail})" if self.detail else ""
        return f"{what} {self.seconds:.2f}s {self.outcome}{tail}"


@contextmanager
def timed(into: list[StepTiming], step: str, subject: str = "") -> Iterator[StepTiming]:
    """Time the block (wall time, monotonic) and add it to ``into``; the block sets
    ``error`` on the timing it is given when the stage failed."""
    timing = StepTiming(step, subject)
    start = time.monotonic()
    try:
        yield timing
    finally:
        timing.seconds = round(time.monotonic() - start, 3)
        into.append(timing)


@dataclass
class PortfolioOutcome:
    portfolio: str
    status: str = "succeeded"  # succeeded | failed | skipped
    message: str = ""
    shift_id: int | None = None
    change_fraction: float | None = None
    auto_approved: bool = False
    applied: list[int] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # step -> error
    changes: list[Change] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # what the kill switch held back
    stops: list[str] = field(default_factory=list)  # hard plans the month would pass
    timings: list[StepTiming] = field(default_factory=list)  # each step; sync per source

    def timed(self, step: str) -> AbstractContextManager[StepTiming]:
        return timed(self.timings, step)


@dataclass
class NightlyReport:
    dry_run: bool = False
    portfolios: list[PortfolioOutcome] = field(default_factory=list)
    synced: list[str] = field(default_factory=list)
    sync_failures: list[str] = field(default_factory=list)
    alerts_created: int = 0
    timings: list[StepTiming] = field(default_factory=list)  # alerts (after every portfolio)
    unsynced: set[str] = field(default_factory=set)  # accounts whose sync failed in this run

    @property
    def ok(self) -> bool:
        return not self.sync_failures and all(p.status != "failed" for p in self.portfolios)

    def lines(self) -> list[str]:
        out = []
        if self.dry_run:
            out.append("DRY RUN: nothing was written to the platforms or approved; "
                       "'would apply' shows what a run would do")
        out.append(f"synced {', '.join(self.synced) or 'nothing'}"
                   + (f"; failed: {'; '.join(self.sync_failures)}" if self.sync_failures else ""))
        for p in self.portfolios:
            out.append(f"{p.portfolio}: {p.status}: {self._detail(p)}")
            out.extend(f"  hard stop: {s}" for s in p.stops)
            out.extend(f"  held: {h}" for h in p.held)
            out.extend(c.line() for c in p.changes)
            # Per account only the failures and the tasks that lost a worker: thousands of
            # accounts stay in the stored report.
            shown = [t for t in p.timings
                     if not t.step.endswith("_account") or t.error or "lost" in t.detail]
            if shown:
                out.append(f"  timings: {', '.join(t.text() for t in shown)}")
        out.append("alerts: not evaluated (dry run)" if self.dry_run
                   else f"alerts: {self.alerts_created} new")
        if self.timings:
            out.append(f"timings: {', '.join(t.text() for t in self.timings)}")
        return out

    def _detail(self, p: PortfolioOutcome) -> str:
        if p.message:
            detail = p.message
        elif p.change_fraction is None:
            detail = "no proposal"
        else:
            name = "the proposal" if self.dry_run else f"shift {p.shift_id}"
            decided = ("would be auto-approved" if self.dry_run else "auto-approved") \
                if p.auto_approved else ("would wait" if self.dry_run else "waits") \
                + " for a manager"
            detail = f"{name} moves {p.change_fraction:.1%}, {decided}"
        applied = f"; applied shifts {p.applied}" if p.applied else ""
        errors = "".join(f"; {step} failed: {err}" for step, err in p.errors.items())
        return f"{detail}{applied}{errors}"


def outcome_to_json(o: PortfolioOutcome) -> dict[str, Any]:
    """A portfolio's outcome as JSON (amounts as exact strings): what a run on the workers
    hands back to the process that submitted it."""
    data = asdict(o)
    data["changes"] = [{**asdict(c), "old": str(c.old), "new": str(c.new)} for c in o.changes]
    return data


def outcome_from_json(data: dict[str, Any]) -> PortfolioOutcome:
    return PortfolioOutcome(**{
        **data,
        "changes": [Change(**{**c, "old": Decimal(c["old"]), "new": Decimal(c["new"])})
                    for c in data.get("changes", [])],
        "timings": [StepTiming(**t) for t in data.get("timings", [])],
    })


def timing_from_facts(facts: dict[str, Any]) -> StepTiming:
    """A timing back from its :meth:`StepTiming.facts` (``outcome`` follows from ``error``)."""
    return StepTiming(**{k: v for k, v in facts.items() if k != "outcome"})
