"""A conversion curve's shape read partly from the clicks above it in the funnel.

A campaign's conversions are its clicks times a conversion rate. Its diminishing return
(the curve's shape, what the allocation's slope rests on) lives partly in delivery (a
rising cost per click, a saturating audience) and partly in a conversion rate that falls
as the budget grows. Clicks come by the hundred a day where conversions come by the few, so
the delivery part is known with far less Poisson noise.

Model, in elasticities at the unit's typical spend (e = half / (spend + half) for the
fitted curves, so 1 - e = 1 / (1 + r) with r the grid's half-spend ratio):

    1 - e_clicks = share * (1 - e_conversions)

`share` in (0, 1] is the part of the conversions' saturation (their shortfall from
proportional, 1 - e) that lives in delivery; the conversion rate's elasticity is
-(1 - share)(1 - e_conversions), 0 when all of it is in delivery. Each unit's share is
unknown; their distribution over the portfolio is a Beta whose parameters are learnt from
the units themselves (type-II maximum likelihood over a small grid, averaged by evidence),
so where clicks saturate like conversions they pin the shape, and where clicks rise in
proportion to spend (all the saturation in the conversion rate) the learnt shares spread
and the clicks say little: the conversions and the pooled prior decide, as without them.
A unit's clicks may also be unrelated to its conversions (a mixture weight, learnt, at
least 5%), so clicks that stay flat while conversions rise do not flatten the curve.

Each unit enters through its grid log likelihoods (gain integrated out) of both series;
the result is the clicks' evidence on each conversions shape, a log likelihood to add to
the conversions' own before their shape prior is applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SHARE_GRID = (np.arange(24) + 0.5) / 24
# Beta(alpha, beta) candidates for the portfolio's distribution of shares: from "nearly all
# in the conversion rate" (0.5, 16) through uniform (1, 1) to "nearly all in delivery"
# (16, 0.25).
BETA_PARAMS = tuple((a, b) for a in (0.5, 1.0, 2.0, 4.0, 16.0)
                    for b in (0.25, 0.5, 1.0, 2.0, 4.0, 16.0))
# Candidates for the share of units whose clicks are unrelated to their conversions'
# curve: a unit's clicks may count something else than what converts (all clicks where the
# conversions follow link clicks, a broken pixel). Never 0, so that one such unit cannot
# have its conversions' shape forced by clicks that say the opposite of its conversions.
UNRELATED = (0.05, 0.15, 0.4)


@dataclass(frozen=True)
class ClickEvidence:
    """Per unit and grid shape of the conversions: the log evidence the clicks add (0 for
    units without usable clicks); the learnt distribution of shares (on SHARE_GRID)."""

    loglik: np.ndarray
    share_prob: np.ndarray
    unrelated: float = 0.0  # the learnt share of units whose clicks are unrelated

    @property
    def share_mean(self) -> float:
        return float(self.share_prob @ SHARE_GRID)


def click_evidence(
    click_loglik: np.ndarray,
    result_loglik: np.ndarray,
    result_prior: np.ndarray,
    log_grid: np.ndarray,
    usable: np.ndarray,
) -> ClickEvidence:
    """The clicks' evidence on each unit's conversions shape.

    `click_loglik` and `result_loglik` (units x grid, log marginal likelihoods on the same
    half-spend grid relative to the same typical spend), `result_prior` (units x grid, the
    conversions' pooled shape prior as probabilities), `usable` (units whose clicks are
    plentiful enough to read).
    """
    n_grid = result_loglik.shape[1]
    out = np.zeros_like(result_loglik)
    if not usable.any():
        return ClickEvidence(out, _beta(1.0, 1.0), UNRELATED[0])
    # For conversions shape r_j and share a: 1 + r_clicks = (1 + r_j) / a (r_clicks >= r_j).
    ratio = np.exp(log_grid)
    log_r = np.log((1.0 + ratio)[None, :] / SHARE_GRID[:, None] - 1.0)  # shares x grid
    step = log_grid[1] - log_grid[0]
    pos = np.clip((log_r - log_grid[0]) / step, 0.0, n_grid - 1.0)
    low = np.minimum(pos.astype(np.int64), n_grid - 2)
    frac = pos - low
    # The interpolation as one linear map from the click grid to (share, shape) pairs, so
    # that 10,000 units take one matrix product rather than two gathers.
    pairs = np.arange(low.size)
    interp = np.zeros((n_grid, low.size))
    np.add.at(interp, (low.ravel(), pairs), 1.0 - frac.ravel())
    np.add.at(interp, (low.ravel() + 1, pairs), frac.ravel())
    clicks = click_loglik[usable] - click_loglik[usable].max(axis=1, keepdims=True)
    # units x shares x grid: the click likelihood at the click shape each pair implies.
    like = np.exp(clicks @ interp).reshape(-1, SHARE_GRID.size, n_grid)
    own = result_loglik[usable] - result_loglik[usable].max(axis=1, keepdims=True)
    weight = result_prior[usable] * np.exp(own)
    weight /= weight.sum(axis=1, keepdims=True)
    # Each unit's evidence for each share, the conversions' shape integrated out.
    per_share = np.matmul(like, weight[:, :, None])[:, :, 0]
    # The clicks' evidence if they are unrelated to the conversions' shape (another count
    # than the one that converts, a broken tracking): their likelihood over any shape.
    unrelated = like.mean(axis=(1, 2))
    candidates = np.asarray([_beta(a, b) for a, b in BETA_PARAMS])  # params x shares
    mix = np.asarray(UNRELATED)
    # Each (Beta, unrelated share) candidate's log evidence over the units.
    fit = np.log(np.maximum((1.0 - mix)[None, None, :] * (per_share @ candidates.T)[:, :, None]
                            + mix[None, None, :] * unrelated[:, None, None], 1e-300)).sum(0)
    w = np.exp(fit - fit.max())
    w /= w.sum()
    share_prob = w.sum(1) @ candidates
    eps = float(w.sum(0) @ mix)
    related = np.tensordot(like, share_prob, axes=([1], [0]))
    out[usable] = np.log(np.maximum((1.0 - eps) * related + eps * unrelated[:, None], 1e-300))
    out[usable] -= out[usable].max(axis=1, keepdims=True)
    return ClickEvidence(out, share_prob, eps)


def _beta(a: float, b: float) -> np.ndarray:
    """A Beta(a, b) on the share grid, as probabilities."""
    p = SHARE_GRID ** (a - 1.0) * (1.0 - SHARE_GRID) ** (b - 1.0)
    return p / p.sum()
