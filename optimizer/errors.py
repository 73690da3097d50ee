"""Errors the optimiser raises; each names the limits that caused it."""

from __future__ import annotations


class OptimizerError(Exception):
    """Base class for optimiser failures."""


class InfeasibleError(OptimizerError):
    """The limits cannot all hold at once.

    `limits` names the conflicting limits in a manager's words, e.g.
    ("total budget", "campaign minimums"), so callers can point at what to change.
    """

    def __init__(self, message: str, limits: tuple[str, ...]) -> None:
        super().__init__(message)
        self.message = message
        self.limits = limits


class InvalidInputError(OptimizerError):
    """The inputs are malformed (unknown unit, negative budget, missing column...)."""
