"""Ranges an account's or a network's spend is kept to as far as the other limits allow
(`Limits.targets`: a monthly plan's pace). Unlike a min/max, a target never makes a run
infeasible: it is narrowed to what the scope's units can reach this run (their max change,
caps and locks) within the scope's own min/max, and where the targets' minimums add up to
more than the total, each keeps the same share of its minimum (never below what its units
must spend anyway): the plans are cut alike, none left to drift.
Pure: arrays in, arrays out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

Range = tuple[float, float]
BISECTIONS = 50


@dataclass(frozen=True)
class HeldTargets:
    """The scopes' min/max arrays with the targets in, and each target's range as held."""

    account_min: np.ndarray
    account_max: np.ndarray
    network_min: np.ndarray
    network_max: np.ndarray
    accounts: dict[int, Range]  # account index -> the range held
    networks: dict[int, Range]
    share: float  # of each target's minimum that fits the total (1: all of it)


def hold_targets(
    lower: np.ndarray, upper: np.ndarray, unit_account: np.ndarray,
    account_network: np.ndarray, account_min: np.ndarray, account_max: np.ndarray,
    network_min: np.ndarray, network_max: np.ndarray, total: float,
    account_targets: Mapping[int, Range], network_targets: Mapping[int, Range],
) -> HeldTargets:
    n_acc, n_net = account_min.size, network_min.size
    reach_lo = np.maximum(account_min, np.bincount(unit_account, lower, n_acc))
    reach_hi = np.minimum(account_max, np.bincount(unit_account, upper, n_acc))
    acc_lo, acc_hi = reach_lo.copy(), reach_hi.copy()  # the targets within reach
    for a, (lo, hi) in account_targets.items():
        if reach_lo[a] <= reach_hi[a]:  # else the hard limits conflict: feasibility names it
            acc_lo[a] = min(max(lo, reach_lo[a]), reach_hi[a])
            acc_hi[a] = max(min(hi, reach_hi[a]), acc_lo[a])

    acc_lo, acc_hi = _within_networks(acc_lo, acc_hi, reach_lo, reach_hi, account_network,
                                      network_min, network_max, set(account_targets))

    def accounts_at(share: float) -> np.ndarray:
        return np.maximum(reach_lo, share * acc_lo)

    def networks_at(share: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        floor = np.maximum(network_min, np.bincount(account_network, accounts_at(share), n_net))
        ceiling = np.minimum(network_max, np.bincount(account_network, acc_hi, n_net))
        low = floor.copy()
        high = ceiling.copy()
        for n, (lo, hi) in network_targets.items():
            if floor[n] <= ceiling[n]:
                want = min(max(lo, floor[n]), ceiling[n])
                low[n] = max(floor[n], share * want)
                high[n] = max(min(hi, ceiling[n]), want)
        return floor, low, high

    share = 1.0
    if networks_at(1.0)[1].sum() > total:
        below, above = 0.0, 1.0
        for _ in range(BISECTIONS):
            mid = (below + above) / 2
            below, above = (mid, above) if networks_at(mid)[1].sum() <= total else (below, mid)
        share = below
    _, net_low, net_high = networks_at(share)
    acc_low = accounts_at(share)
    out_acc_min, out_acc_max = account_min.copy(), account_max.copy()
    held_acc: dict[int, Range] = {}
    for a in account_targets:
        out_acc_min[a], out_acc_max[a] = acc_low[a], acc_hi[a]
        held_acc[a] = (float(acc_low[a]), float(acc_hi[a]))
    out_net_min, out_net_max = network_min.copy(), network_max.copy()
    held_net: dict[int, Range] = {}
    for n in network_targets:
        out_net_min[n], out_net_max[n] = net_low[n], net_high[n]
        held_net[n] = (float(net_low[n]), float(net_high[n]))
    return HeldTargets(out_acc_min, out_acc_max, out_net_min, out_net_max, held_acc, held_net,
                       share)


def _within_networks(acc_lo: np.ndarray, acc_hi: np.ndarray, reach_lo: np.ndarray,
                     reach_hi: np.ndarray, account_network: np.ndarray,
                     network_min: np.ndarray, network_max: np.ndarray,
                     targeted: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """The accounts' targets fitted to their network's own min/max: where their minimums add
    up past the network's max, each keeps the same share of its minimum (never below its
    reach); where their maximums add up below the network's min, each gives back the same
    part of what it cut below its reach. A network whose hard limits conflict by themselves
    is left for the feasibility check to name."""
    lo, hi = acc_lo.copy(), acc_hi.copy()
    for n in np.unique(account_network[sorted(targeted)]) if targeted else ():
        mine = account_network == n
        cap = network_max[n]
        # (a cap equal to its units' floors is met: the sums' rounding is not a conflict)
        if np.maximum(reach_lo[mine], lo[mine]).sum() > cap >= \
                reach_lo[mine].sum() * (1 - 1e-9):
            below, above = 0.0, 1.0
            for _ in range(BISECTIONS):
                mid = (below + above) / 2
                fits = np.maximum(reach_lo[mine], mid * lo[mine]).sum() <= cap
                below, above = (mid, above) if fits else (below, mid)
            lo[mine] = np.maximum(reach_lo[mine], below * lo[mine])
            hi[mine] = np.maximum(hi[mine], lo[mine])
        short = network_min[n] - hi[mine].sum()
        room = (reach_hi[mine] - hi[mine]).sum()
        if short > 0 and room > 0:
            hi[mine] = hi[mine] + min(short / room, 1.0) * (reach_hi[mine] - hi[mine])
    return lo, hi
