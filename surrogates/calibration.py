"""Recalibration of an ensemble's spread on out-of-bag predictions.

A deep ensemble's member spread ``s(x)`` ranks uncertainty well but is badly scaled (far too
small on molecules: NLL ~20 at 100 labels). After each fit, a variance map

    ``sigma^2(x) = a * s(x)^2 + b``         (``a >= 1``, ``b >= 0``)

is fitted by Gaussian maximum likelihood on rows whose labels some members never saw: with
the Poisson bootstrap, row ``i``'s out-of-bag members ``O_i`` (about 37% of ``K``) give an
honest mean ``m_i`` and spread ``s_i`` (rows with at least two such members are used);
without the bootstrap, the shared held-out split gives them from every member. ``a`` scales
the epistemic spread (it keeps growing away from the data), ``b`` is a floor for label noise
and bias that every member shares. ``a`` is kept at least 1: the out-of-bag rows lie among
the training data, so they cannot show that the spread *away* from it is too large, and
shrinking it there (seen on noisy 1-D data: ``a`` fell to 0.01 and the spread stopped growing
away from the data) would blind the acquisitions to unexplored regions. The map is applied
to the members themselves, ``f_k -> m + lambda (f_k - m)`` with ``lambda = sqrt(a + b / s^2)``,
so the ensemble mean is unchanged and the members' variance is ``sigma^2``: BoTorch's
acquisitions, Thompson sampling and ``predict`` all see the calibrated spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import minimize
from torch import Tensor

__all__ = ["VarianceMap", "fit_variance_map", "oob_mean_std"]

#: Fewest usable out-of-bag rows for a fit; below it the identity map is kept.
MIN_ROWS = 8
#: Bounds of ``log a`` and ``log b`` (standardised units): ``a`` in [1, 1e4] (see above).
LOG_A_BOUNDS = (0.0, np.log(1e4))
LOG_B_BOUNDS = (np.log(1e-8), np.log(1e2))


@dataclass(frozen=True)
class VarianceMap:
    """``sigma^2 = a * s^2 + b`` in the standardised units of the labels.

    Attributes:
        a: Scale of the member variance.
        b: Additive variance (noise and shared error).
        rows: Out-of-bag rows the map was fitted on (0: the identity map, not fitted).
    """

    a: float = 1.0
    b: float = 0.0
    rows: int = 0

    def stretch(self, std: Tensor) -> Tensor:
        """The factor ``lambda = sqrt(a + b / s^2)`` applied to member deviations; `s^2` is held
        above 1e-24, so members that agree to 12 digits get a finite factor (b / tiny overflowed to
        inf, and inf times their zero deviations made NaN predictions)."""
        s2 = std.pow(2).clamp_min(1e-24)
        return (self.a + self.b / s2).sqrt()

    def apply(self, values: Tensor) -> Tensor:
        """Calibrate member predictions `K x ...` (member axis first); mean unchanged."""
        if values.shape[0] < 2 or (self.a == 1.0 and self.b == 0.0):
            return values
        mean = values.mean(0, keepdim=True)
        dev = values - mean
        return mean + self.stretch(values.std(0, keepdim=True)) * dev


def oob_mean_std(pred: Tensor, weights: Tensor, min_members: int = 2
                 ) -> tuple[Tensor, Tensor, Tensor]:
    """Mean and std over the members that did not see each row.

    Args:
        pred: `K x n` member predictions on the training rows.
        weights: `K x n` training weights (0: the member never saw the row).
        min_members: Rows with fewer unseen members are dropped.

    Returns:
        ``(rows, mean, std)``: the kept row indices and their out-of-bag mean and unbiased
        std (each `r`).
    """
    unseen = weights == 0
    count = unseen.sum(0)
    rows = torch.nonzero(count >= min_members).reshape(-1)
    p, u, c = pred[:, rows].to(torch.float64), unseen[:, rows].to(torch.float64), count[rows]
    mean = (p * u).sum(0) / c
    var = (((p - mean) ** 2) * u).sum(0) / (c - 1).clamp_min(1)
    return rows, mean, var.sqrt()


def fit_variance_map(mean: Tensor, std: Tensor, y: Tensor) -> VarianceMap:
    """Fit ``a``, ``b`` by minimising the Gaussian NLL of ``y`` under ``N(mean, a s^2 + b)``.

    Args:
        mean: `r` predicted means (standardised units).
        std: `r` member spreads.
        y: `r` labels (standardised units).

    Returns:
        The fitted ``VarianceMap`` (the identity map if fewer than ``MIN_ROWS`` rows).
    """
    m, s, t = (np.asarray(v.detach().cpu(), dtype=np.float64).reshape(-1) for v in (mean, std, y))
    keep = np.isfinite(m) & np.isfinite(s) & np.isfinite(t)
    m, s, t = m[keep], s[keep], t[keep]
    if m.size < MIN_ROWS:
        return VarianceMap()
    r2, s2 = (t - m) ** 2, s**2

    def nll(theta: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = np.exp(theta)
        v = a * s2 + b
        g = 0.5 * (1.0 / v - r2 / v**2)  # d nll / d v, per row
        return (float(np.mean(0.5 * (np.log(v) + r2 / v))),
                np.array([np.mean(g * a * s2), np.mean(g * b)]))

    start = np.array([np.log(max(np.mean(r2) / max(np.mean(s2), 1e-12), 1e-2)),
                      np.log(max(0.1 * np.mean(r2), 1e-8))])
    start = np.clip(start, [LOG_A_BOUNDS[0], LOG_B_BOUNDS[0]], [LOG_A_BOUNDS[1], LOG_B_BOUNDS[1]])
    res = minimize(nll, start, jac=True, method="L-BFGS-B", bounds=[LOG_A_BOUNDS, LOG_B_BOUNDS])
    a, b = np.exp(res.x)
    return VarianceMap(float(a), float(b), int(m.size))
