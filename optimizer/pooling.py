"""Partial pooling of curve shapes: campaign -> account -> network.

A single campaign's days rarely pin its curve's shape (how fast it saturates): a few
results a day are noisy and its budget moves by tens of percent at most. Campaigns of one
account or network resemble each other, so each campaign's shape is shrunk toward its
account's, and each account's toward its network's, by as much as the data says they
differ: the spread between campaigns and between accounts is learnt, not fixed.

Model, on log(half-spend / typical spend):

    unit  ~ N(account mean, unit_spread[network]^2)
    account mean ~ N(network mean, account_spread[network]^2)

Each unit enters through its likelihood on the fitting grid (the gain integrated out), so a
unit whose spend hardly varied has a flat likelihood and simply takes its account's shape.
The hyperparameters are found by EM on the grid (type-II maximum likelihood), with weak
hyperpriors so that a network of one or two units still gets a sensible spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Weak hyperpriors: what a network with no informative unit falls back to.
NETWORK_MEAN_PRIOR = (0.0, 1.0)  # mean and sd of a network's mean log half-spend ratio
UNIT_SPREAD_PRIOR = (1.0, 2.0)  # prior guess of the between-campaign sd, worth 2 units
ACCOUNT_SPREAD_PRIOR = (0.3, 2.0)  # prior guess of the between-account sd, worth 2 accounts
# Campaigns are never taken as more alike than this (sd of log half-spend, about +-35%):
# a unit whose own data says nothing keeps room for its curve to differ from the pool's.
MIN_UNIT_SPREAD = 0.3
MIN_ACCOUNT_SPREAD = 0.05
ITERATIONS = 20


@dataclass(frozen=True)
class ShapePrior:
    """Per unit: the pooled prior on its log half-spend ratio (mean and sd); per network
    (by code): the learnt network mean and the spreads between campaigns and accounts."""

    mean: np.ndarray
    sd: np.ndarray
    network_mean: np.ndarray
    unit_spread: np.ndarray
    account_spread: np.ndarray


def pool_shapes(
    loglik: np.ndarray,
    grid: np.ndarray,
    network_code: np.ndarray,
    account_code: np.ndarray,
    iterations: int = ITERATIONS,
) -> ShapePrior:
    """The pooled shape prior of every unit from its grid log likelihood (units x grid)."""
    n_units = loglik.shape[0]
    n_networks = int(network_code.max()) + 1 if n_units else 0
    # Accounts are nested in networks: the same account id on two networks is two groups.
    key = network_code * (int(account_code.max(initial=0)) + 1) + account_code
    group = np.unique(key, return_inverse=True)[1].ravel()
    n_groups = int(group.max()) + 1 if n_units else 0
    group_network = np.zeros(n_groups, dtype=np.int64)
    group_network[group] = network_code
    like = np.exp(loglik - loglik.max(axis=1, keepdims=True)) if n_units else loglik
    mu0, sd0 = NETWORK_MEAN_PRIOR
    su0, nu_u = UNIT_SPREAD_PRIOR
    sa0, nu_a = ACCOUNT_SPREAD_PRIOR
    net_mean = np.full(n_networks, mu0)
    unit_spread = np.full(n_networks, su0)
    account_spread = np.full(n_networks, sa0)
    group_mean = net_mean[group_network].copy()
    group_var = np.zeros(n_groups)
    units_per_net = np.bincount(network_code, minlength=n_networks)
    units_per_group = np.bincount(group, minlength=n_groups)
    groups_per_net = np.bincount(group_network, minlength=n_networks)
    for _ in range(iterations):
        centre = group_mean[group]
        spread = unit_spread[network_code]
        weight = like * np.exp(-0.5 * ((grid - centre[:, None]) / spread[:, None]) ** 2)
        weight /= np.maximum(weight.sum(axis=1, keepdims=True), 1e-300)
        e1 = weight @ grid
        var = np.maximum(weight @ grid**2 - e1**2, 0.0)
        # Account means: the units' shapes, shrunk toward the network's mean.
        tau_u2 = unit_spread[group_network] ** 2
        tau_a2 = account_spread[group_network] ** 2
        precision = units_per_group / tau_u2 + 1.0 / tau_a2
        total = np.bincount(group, e1, n_groups)
        group_mean = (total / tau_u2 + net_mean[group_network] / tau_a2) / precision
        group_var = 1.0 / precision
        # Between-campaign spread per network: the units' expected squared distance.
        sq = var + (e1 - group_mean[group]) ** 2 + group_var[group]
        unit_spread = np.sqrt((np.bincount(network_code, sq, n_networks) + nu_u * su0**2)
                              / (units_per_net + nu_u))
        # Network means: the account means, each as sure as its spread and variance allow.
        w = 1.0 / (tau_a2 + group_var)
        net_mean = ((np.bincount(group_network, w * group_mean, n_networks) + mu0 / sd0**2)
                    / (np.bincount(group_network, w, n_networks) + 1.0 / sd0**2))
        sq_a = (group_mean - net_mean[group_network]) ** 2 + group_var
        account_spread = np.sqrt((np.bincount(group_network, sq_a, n_networks) + nu_a * sa0**2)
                                 / (groups_per_net + nu_a))
        unit_spread = np.maximum(unit_spread, MIN_UNIT_SPREAD)
        account_spread = np.maximum(account_spread, MIN_ACCOUNT_SPREAD)
    return ShapePrior(group_mean[group], unit_spread[network_code], net_mean, unit_spread,
                      account_spread)
