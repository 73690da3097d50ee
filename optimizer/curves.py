"""Saturating response curves: results per day as a function of daily spend.

Every unit uses the Michaelis-Menten curve (a Hill curve with shape 1)

    f(s) = gain * s / (s + half_spend)

`gain` is the saturation level (results per day at unlimited spend) and `half_spend` the
spend that reaches half of it. It is concave and increasing, and its marginal return
f'(s) = gain * half_spend / (s + half_spend)**2 has the closed-form inverse
s = sqrt(gain * half_spend / price) - half_spend. In t = 1/sqrt(price) that inverse is
linear, which is what makes the allocation exact and vectorised (see `allocate.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

FloatArray = np.ndarray


def response(spend: FloatArray, gain: FloatArray, half_spend: FloatArray) -> FloatArray:
    """Expected results per day at `spend`."""
    spend = np.maximum(spend, 0.0)
    return gain * spend / (spend + half_spend)


def marginal(spend: FloatArray, gain: FloatArray, half_spend: FloatArray) -> FloatArray:
    """Extra results per extra unit of spend at `spend`."""
    spend = np.maximum(spend, 0.0)
    return gain * half_spend / (spend + half_spend) ** 2


def spend_at_marginal(
    price: FloatArray | float, gain: FloatArray, half_spend: FloatArray
) -> FloatArray:
    """The spend at which the marginal return has fallen to `price` (0 if it starts below)."""
    with np.errstate(divide="ignore"):
        spend = np.sqrt(gain * half_spend / price) - half_spend
    return np.maximum(spend, 0.0)


@dataclass(frozen=True)
class UnitCurves:
    """Conversion and revenue curves for the units of one run, in the reporting currency."""

    conv_gain: FloatArray
    conv_half: FloatArray
    rev_gain: FloatArray
    rev_half: FloatArray


@dataclass(frozen=True)
class CurveSet:
    """Fitted curves for a set of units, one row per unit, in the units' own currency.

    `gain`/`half_spend` are point estimates (posterior mean of log half-spend, then the
    conditional mean gain); `*_sd` are posterior standard deviations. `level_sd` is the
    posterior sd of expected daily results at the unit's typical spend, relative to the
    level itself: the evidence measure used for exploration. `draws_*` hold posterior
    draws (units x draws) for Thompson-style exploration and uncertainty bands.
    `weekday_factor` is the multiplier per network and weekday (Monday=0) that the curve
    gets on that day. `identified` is False when the data could not pin the curve's shape
    (spend hardly varied, too few days) and the shape comes from the network prior.
    """

    unit_ids: tuple[str, ...]
    network: tuple[str, ...]
    metric: str
    gain: FloatArray
    half_spend: FloatArray
    gain_sd: FloatArray
    log_half_spend_sd: FloatArray
    level_sd: FloatArray
    typical_spend: FloatArray
    n_days: FloatArray
    identified: FloatArray
    draws_gain: FloatArray
    draws_half_spend: FloatArray
    weekday_factor: pd.DataFrame

    def __len__(self) -> int:
        return len(self.unit_ids)

    def index_of(self, unit_ids: list[str] | tuple[str, ...]) -> np.ndarray:
        """Row positions of `unit_ids`; raises KeyError naming the first unknown one."""
        lookup = {u: i for i, u in enumerate(self.unit_ids)}
        try:
            return np.fromiter((lookup[u] for u in unit_ids), dtype=np.int64, count=len(unit_ids))
        except KeyError as err:
            raise KeyError(f"no fitted curve for unit {err.args[0]!r}") from None

    def day_factor(self, weekday: int | None) -> FloatArray:
        """Per-unit multiplier of `gain` on `weekday` (1 when weekday is None)."""
        if weekday is None:
            return np.ones(len(self.unit_ids))
        # A plain dict: a Series lookup per unit cost a tenth of a second per 10,000 units.
        factors = self.weekday_factor[weekday].to_dict()
        return np.asarray([factors.get(n, 1.0) for n in self.network], dtype=float)

    def summary(self) -> pd.DataFrame:
        """One row per unit: parameters and their uncertainty."""
        return pd.DataFrame(
            {
                "unit_id": self.unit_ids,
                "network": self.network,
                "gain": self.gain,
                "half_spend": self.half_spend,
                "gain_sd": self.gain_sd,
                "log_half_spend_sd": self.log_half_spend_sd,
                "level_sd": self.level_sd,
                "typical_spend": self.typical_spend,
                "n_days": self.n_days,
                "identified": self.identified,
            }
        )
