"""Prospective accuracy and calibration of surrogate predictions against new labels.

Computed each round on the freshly scored batch *before* it joins the training set, so the
numbers measure how well the surrogate ranked and bounded designs it had never seen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

__all__ = ["prospective_metrics"]

#: Central-interval levels at which coverage is compared with the nominal level.
CALIBRATION_LEVELS = tuple(np.round(np.arange(0.1, 1.0, 0.1), 2))
#: Lower bound on predicted std in the NLL (avoids division by zero for collapsed ensembles).
MIN_STD = 1e-6


def _array(x: Sequence[float] | np.ndarray) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64).reshape(-1)


def prospective_metrics(
    mean: Sequence[float] | np.ndarray,
    std: Sequence[float] | np.ndarray,
    y_true: Sequence[float] | np.ndarray,
) -> dict[str, float]:
    """Ranking, error and calibration of Gaussian predictions ``N(mean, std^2)``.

    Args:
        mean: `n` predicted means (tensor, array or list).
        std: `n` predicted standard deviations.
        y_true: `n` observed labels.

    Returns:
        ``spearman`` (NaN if either side is constant or ``n < 2``), ``rmse``, ``nll`` (mean
        Gaussian negative log-likelihood, std floored at ``MIN_STD``), ``miscalibration_area``
        (mean over levels 0.1 .. 0.9 of ``|coverage of the central interval - level|``),
        ``n``. All NaN for ``n = 0``.
    """
    m, s, y = _array(mean), _array(std), _array(y_true)
    if not (m.shape == s.shape == y.shape):
        raise ValueError(f"shapes differ: mean {m.shape}, std {s.shape}, y_true {y.shape}")
    n = y.size
    if n == 0:
        nan = float("nan")
        return {"spearman": nan, "rmse": nan, "nll": nan, "miscalibration_area": nan, "n": 0.0}
    if n < 2 or np.ptp(m) == 0 or np.ptp(y) == 0:
        rho = float("nan")
    else:
        rho = float(stats.spearmanr(m, y).statistic)
    s = np.maximum(s, MIN_STD)
    z = (y - m) / s
    nll = float(np.mean(0.5 * z**2 + np.log(s) + 0.5 * math.log(2 * math.pi)))
    gaps = []
    for level in CALIBRATION_LEVELS:
        half_width = stats.norm.ppf(0.5 + level / 2)
        gaps.append(abs(float(np.mean(np.abs(z) <= half_width)) - level))
    return {
        "spearman": rho,
        "rmse": float(np.sqrt(np.mean((m - y) ** 2))),
        "nll": nll,
        "miscalibration_area": float(np.mean(gaps)),
        "n": float(n),
    }
