"""The pure optimiser: response curves, exact budget allocation, explanations.

Imports only numpy, scipy, pandas and the standard library; no database, HTTP or clock.

    conv = fit_curves(history, today=today, metric="conversions")
    rev = fit_curves(history, today=today, metric="revenue")
    allocation = optimize_budgets(units, conv, rev, Limits(total_budget=5000.0), currency="EUR")
"""

from optimizer.allocate import AllocationProblem, AllocationSolution, solve_allocation
from optimizer.constraints import Limits, Lock, SpendLimit
from optimizer.curves import CurveSet, UnitCurves, marginal, response, spend_at_marginal
from optimizer.edits import EditPolicy
from optimizer.errors import InfeasibleError, InvalidInputError, OptimizerError
from optimizer.exploration import Exploration
from optimizer.fitting import fit_curve_sets, fit_curves
from optimizer.optimize import Certificate, Outcome, ProposedAllocation, optimize_budgets
from optimizer.value import RESULT_KINDS, ResultCurves, describe_buy, result_curves

__all__ = [
    "RESULT_KINDS",
    "AllocationProblem",
    "AllocationSolution",
    "Certificate",
    "CurveSet",
    "EditPolicy",
    "Exploration",
    "InfeasibleError",
    "InvalidInputError",
    "Limits",
    "Lock",
    "OptimizerError",
    "Outcome",
    "ProposedAllocation",
    "ResultCurves",
    "SpendLimit",
    "UnitCurves",
    "describe_buy",
    "fit_curve_sets",
    "fit_curves",
    "marginal",
    "optimize_budgets",
    "response",
    "result_curves",
    "solve_allocation",
    "spend_at_marginal",
]
