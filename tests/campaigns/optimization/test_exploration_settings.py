"""What `[optimizer]` asks of exploration reaches the optimiser: the cautious quantile, the
voi share and horizon."""

from __future__ import annotations

import pytest

from campaigns.config import Settings
from campaigns.optimization.proposals import exploration_of


def test_cautious_in_the_config_optimises_its_quantile() -> None:
    """`exploration = "cautious"` lowers each curve to `cautious_quantile` of its expected
    results: the 20th percentile by default is 0.84 posterior sds below the estimate."""
    def strength(**keys: object) -> float:
        options = Settings.model_validate({"optimizer": keys}).optimizer
        return exploration_of(options).strength

    assert strength(exploration="cautious") == pytest.approx(0.8416, abs=1e-4)
    assert strength(exploration="cautious", cautious_quantile=0.05) == pytest.approx(1.6449,
                                                                                     abs=1e-4)
    assert strength(exploration="ucb") == 0.5  # the others keep their own strength


def test_voi_takes_its_share_and_horizon_from_the_config() -> None:
    options = Settings.model_validate({"optimizer": {
        "exploration": "voi", "exploration_max_share": 0.1,
        "exploration_horizon_days": 7}}).optimizer
    exploration = exploration_of(options)
    assert (exploration.method, exploration.max_share, exploration.horizon_days) == (
        "voi", 0.1, 7.0)
