"""What :func:`~campaigns.optimization.proposals.propose` returns: one typed proposal.

The CLI (`optimize --json`), the API (`POST /optimizations`), the nightly job and the stored
`OptimizationRun.outputs` all show the same object; each turns it into JSON at its edge with
:meth:`ProposalResult.to_json`, so the keys, their order and their rounding live here once
(DESIGN.md's `optimize --json` object, plus the documented extra keys).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from campaigns.optimization.inputs import PortfolioData, Unit
from optimizer import Outcome, ProposedAllocation


@dataclass(frozen=True, slots=True)
class CurveSummary:
    """How sure a unit's response curve is, for the objective's metric."""

    relative_sd: float | None  # posterior sd of expected results at typical spend, relative
    days: int  # days of history the curve rests on
    identified: bool  # False: the data did not pin the shape, it borrows its network's

    def to_json(self) -> dict[str, Any]:
        return {"relative_sd": self.relative_sd, "days": self.days,
                "identified": self.identified}


@dataclass(frozen=True, slots=True)
class Totals:
    """Expected results of a set of budgets, rounded as the JSON shows them."""

    conversions: float
    revenue: float
    spend: float
    value: float | None = None  # the value objective's total worth of the results

    @classmethod
    def of(cls, outcome: Outcome) -> Totals:
        value = None if outcome.value is None else round(outcome.value, 2)
        return cls(round(outcome.conversions, 4), round(outcome.revenue, 2),
                   round(outcome.spend, 2), value)

    def to_json(self) -> dict[str, float]:
        out = {"conversions": self.conversions, "revenue": self.revenue, "spend": self.spend}
        if self.value is not None:
            out["value"] = self.value
        return out


@dataclass(frozen=True, slots=True)
class Buys:
    """What a move buys, in the result the run measured the unit by (its own result under
    the value objective, the objective's metric otherwise), per day at the mean curves."""

    result: str
    current: float
    proposed: float
    change: float
    value: float | None  # the change's worth in the reporting currency (value objective)

    def to_json(self) -> dict[str, Any]:
        return {"result": self.result, "current": self.current, "proposed": self.proposed,
                "change": self.change, "value": self.value}


@dataclass(frozen=True, slots=True)
class UnitProposal:
    """One budget's proposal: amounts in the unit's currency unless named `_reporting`."""

    network: str
    account_id: str
    campaign_id: str
    level: str
    budget_id: str
    currency: str
    current_budget: float
    proposed_budget: float
    proposed_budget_reporting: float
    expected_conversions: float
    expected_revenue: float
    marginal_roi: float
    binding_limit: str | None
    reason: str
    prob_gain: float | None  # null when the budget does not move
    effect: float
    effect_low: float
    effect_high: float
    net_gain: float | None  # expected gain a day less the edit cost; null when it stays
    exploration: bool  # moved to learn the curve (the "voi" exploration), says the reason
    curve: CurveSummary
    result_kind: str  # what the campaign buys (a manager's setting, else the synced one)
    buys: Buys

    def to_json(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _UNIT_KEYS}
        out["curve"] = self.curve.to_json()
        out["buys"] = self.buys.to_json()
        return out


_UNIT_KEYS = tuple(name for name in UnitProposal.__dataclass_fields__
                   if name not in ("curve", "buys"))


@dataclass(frozen=True, slots=True)
class EditSummary:
    """The edits a proposal makes and the moves it did not make, by why."""

    cost: float  # reporting currency per edit
    min_prob_gain: float
    max_per_week: int | None
    made: int  # budgets that change
    not_worth: int  # moves left out: too small, not worth the edit cost, or unlikely to help
    held_edits_per_week: int
    held_learning: int

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def of(cls, allocation: ProposedAllocation, changed: int, *, cost: float,
           min_prob_gain: float, max_per_week: int | None) -> EditSummary:
        rows = allocation.allocations
        binding = rows["binding_limit"]
        return cls(cost=cost, min_prob_gain=min_prob_gain, max_per_week=max_per_week,
                   made=changed, not_worth=int(rows["kept"].sum()),
                   held_edits_per_week=int((binding == "edits_per_week").sum()),
                   held_learning=int((binding == "learning_phase").sum()))


@dataclass(frozen=True, slots=True)
class ProposalResult:
    """A recorded proposal: the run, its shift (None for a what-if as of a past day), the
    totals in the reporting currency and one :class:`UnitProposal` per budget."""

    run_id: str
    shift_id: int | None
    objective: str
    total_budget: float
    currency: str
    exploration: str
    expected: Totals
    baseline: Totals
    unspent: float
    unspent_reason: str | None
    duality_gap: float
    allocations: tuple[UnitProposal, ...]
    as_of: dt.date
    edits: EditSummary | None = None
    lag: dict[str, Any] | None = None  # the completion curves the fit nowcast with
    # [optimizer] follow_plans: each plan's daily range and whether the run kept to it
    plans: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        """DESIGN.md's `optimize --json` object; what `OptimizationRun.outputs` stores."""
        return {
            "run_id": self.run_id,
            "shift_id": self.shift_id,
            "objective": self.objective,
            "total_budget": self.total_budget,
            "currency": self.currency,
            "exploration": self.exploration,
            "expected": self.expected.to_json(),
            "baseline": self.baseline.to_json(),
            "unspent": self.unspent,
            "unspent_reason": self.unspent_reason,
            "duality_gap": self.duality_gap,
            "allocations": [a.to_json() for a in self.allocations],
            "as_of": self.as_of.isoformat(),
            **({"edits": self.edits.to_json()} if self.edits is not None else {}),
            **({"lag": self.lag} if self.lag is not None else {}),
            **({"plans": self.plans} if self.plans is not None else {}),
        }


def build_result(
    run_id: str, shift_id: int | None, as_of: dt.date, data: PortfolioData,
    allocation: ProposedAllocation, proposed: list[Decimal], curves: list[CurveSummary],
    edits: EditSummary | None = None, lag: dict[str, Any] | None = None,
    plans: list[dict[str, Any]] | None = None,
) -> ProposalResult:
    units = tuple(
        unit_proposal(unit, row, new_budget, curve)
        for unit, row, new_budget, curve in zip(
            data.units, allocation.allocations.itertuples(index=False), proposed, curves,
            strict=True,
        )
    )
    return ProposalResult(
        run_id=run_id,
        shift_id=shift_id,
        objective=allocation.objective,
        total_budget=round(allocation.total_budget, 2),
        currency=allocation.currency,
        exploration=allocation.exploration,
        expected=Totals.of(allocation.expected),
        baseline=Totals.of(allocation.baseline),
        unspent=round(allocation.unspent, 2),
        unspent_reason=allocation.unspent_reason,
        duality_gap=allocation.certificate.duality_gap,
        allocations=units,
        as_of=as_of,
        edits=edits,
        lag=lag,
        plans=plans,
    )


def unit_proposal(unit: Unit, row: Any, new_budget: Decimal, curve: CurveSummary) -> UnitProposal:
    return UnitProposal(
        network=unit.network,
        account_id=unit.account.external_id,
        campaign_id=unit.campaign.external_id,
        level=unit.level,
        budget_id=unit.target_external_id,
        currency=unit.account.currency,
        current_budget=float(unit.current_budget),
        proposed_budget=float(new_budget),
        proposed_budget_reporting=round(float(new_budget * unit.rate), 2),
        expected_conversions=round(float(row.expected_conversions), 4),
        expected_revenue=round(float(row.expected_revenue), 2),
        marginal_roi=float(row.marginal_return),
        binding_limit=limit_label(row.binding_limit),
        reason=row.reason,
        **move_confidence(row),
        net_gain=_net_gain(row, new_budget != unit.current_budget),
        exploration=bool(getattr(row, "exploration", False)) and new_budget != unit.current_budget,
        curve=curve,
        result_kind=unit.result_kind,
        buys=_buys(row),
    )


def _buys(row: Any) -> Buys:
    current, proposed = float(row.expected_result_current), float(row.expected_result)
    worth = float(row.expected_value) - float(row.expected_value_current)
    return Buys(
        result=str(row.result_kind), current=round(current, 4), proposed=round(proposed, 4),
        change=round(proposed - current, 4), value=None if worth != worth else round(worth, 4),
    )


def _net_gain(row: Any, moves: bool) -> float | None:
    # Not finite when money buys nothing at the margin (no price to value conversions by):
    # JSON has no infinity, so null, like a budget that does not move.
    net = float(getattr(row, "net_gain", float("nan")))
    return round(net, 4) if moves and math.isfinite(net) else None


def curve_summaries(curves: Any, data: PortfolioData) -> list[CurveSummary]:
    """How sure each unit's response curve is, for the objective's metric: the relative
    posterior sd of its expected results at typical spend, the days it rests on, and whether
    the data pinned its shape (else it borrows its network's)."""
    at = {uid: i for i, uid in enumerate(curves.unit_ids)}
    out = []
    for unit in data.units:
        i = at.get(unit.unit_id)
        if i is None:
            out.append(CurveSummary(relative_sd=None, days=0, identified=False))
            continue
        out.append(CurveSummary(
            relative_sd=round(float(curves.level_sd[i]), 4),
            days=int(curves.n_days[i]),
            identified=bool(curves.identified[i]),
        ))
    return out


def move_confidence(row: Any) -> dict[str, Any]:
    """How sure the move is (README "How sure each move is"): null when it does not move."""
    prob = float(row.prob_gain)
    return {
        "prob_gain": None if prob != prob else round(prob, 4),
        "effect": round(float(row.effect), 4),
        "effect_low": round(float(row.effect_low), 4),
        "effect_high": round(float(row.effect_high), 4),
    }


def limit_label(value: Any) -> str | None:
    # pandas may hand back NaN for a missing label; the JSON contract wants null.
    return value if isinstance(value, str) else None
