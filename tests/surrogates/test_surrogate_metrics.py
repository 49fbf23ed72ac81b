import math

import numpy as np
import pytest
import torch

from sciloop.surrogates import prospective_metrics


def test_perfectly_calibrated_gaussian():
    rng = np.random.default_rng(0)
    mean = rng.normal(size=20000)
    std = rng.uniform(0.5, 2.0, size=20000)
    y = mean + std * rng.normal(size=20000)
    m = prospective_metrics(mean, std, y)
    assert m["miscalibration_area"] < 0.01
    assert m["spearman"] > 0.3
    assert m["nll"] == pytest.approx(np.mean(np.log(std)) + 0.5 + 0.5 * math.log(2 * math.pi),
                                     abs=0.03)


def test_overconfident_is_miscalibrated_and_exact_values():
    y = torch.tensor([1.0, 2.0, 3.0, 4.0])
    m = prospective_metrics(y + 1.0, torch.full((4,), 1e-3), y)
    assert m["rmse"] == pytest.approx(1.0)
    assert m["spearman"] == pytest.approx(1.0)
    assert m["miscalibration_area"] == pytest.approx(0.5)  # coverage 0 at every level


def test_constant_inputs_give_nan_spearman_and_empty_is_nan():
    m = prospective_metrics([1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [0.0, 1.0, 2.0])
    assert math.isnan(m["spearman"]) and math.isfinite(m["rmse"])
    assert all(math.isnan(v) for k, v in prospective_metrics([], [], []).items() if k != "n")
