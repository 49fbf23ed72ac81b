"""Pictures of a round for MLflow: top molecules, optimisation curves, histograms, calibration."""

from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # no display: figures are files
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from sciloop.pipeline.report import running_top_k_mean  # noqa: E402


def top_molecules_grid(designs: Sequence[str], scores: Sequence[float], k: int = 12):
    """A PIL image of the k best molecules with their scores as legends.

    None where rdkit's drawing module cannot load: it links the X11 client libraries
    (libXrender, libX11), which slim headless images lack; the campaign runs on without the image.
    """
    try:
        from rdkit import Chem
        from rdkit.Chem import Draw
    except ImportError:
        return None
    best = sorted(zip(scores, designs), reverse=True)[:k]
    mols = [Chem.MolFromSmiles(d) for _, d in best]
    return Draw.MolsToGridImage(mols, molsPerRow=4, subImgSize=(250, 200),
                                legends=[f"{s:.3f}" for s, _ in best])


def curves_figure(call_values: Sequence[float | None]) -> Figure:
    """Score of every oracle call, with the best-so-far and top-10-mean curves."""
    fig, ax = plt.subplots(figsize=(7, 4))
    calls = np.arange(1, len(call_values) + 1)
    ok = [(i, v) for i, v in zip(calls, call_values) if v is not None]
    if ok:
        ax.scatter(*zip(*ok), s=4, alpha=0.4, color="grey", label="oracle value")
    ax.plot(calls, running_top_k_mean(call_values, 1), label="best so far")
    ax.plot(calls, running_top_k_mean(call_values, 10), label="top-10 mean")
    ax.set(xlabel="oracle calls", ylabel="score", title="optimisation curve")
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig


def histogram_figure(values: Sequence[float], picked: Sequence[float], label: str) -> Figure:
    """Distribution of a pool's values (e.g. acquisition) with the selected batch on top."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(values, bins=40, alpha=0.6, label=f"pool ({len(values)})")
    ax.hist(picked, bins=40, alpha=0.8, label=f"selected ({len(picked)})")
    ax.set(xlabel=label, ylabel="count", title=f"{label} of the candidate pool")
    ax.legend()
    fig.tight_layout()
    return fig


def calibration_figure(mean: Sequence[float], std: Sequence[float], y: Sequence[float]) -> Figure:
    """Observed coverage of central Gaussian intervals vs their nominal level, and y vs mean."""
    from scipy.stats import norm

    mean, std, y = (np.asarray(a, dtype=float) for a in (mean, std, y))
    levels = np.linspace(0.05, 0.95, 19)
    z = np.abs(y - mean) / np.maximum(std, 1e-12)
    observed = [(z <= norm.ppf(0.5 + p / 2)).mean() for p in levels]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 4))
    a.plot([0, 1], [0, 1], "k--", lw=1)
    a.plot(levels, observed, marker="o")
    a.set(xlabel="nominal coverage", ylabel="observed coverage", title="calibration (new batch)")
    b.errorbar(mean, y, xerr=std, fmt="o", ms=3, alpha=0.6)
    lo, hi = float(min(mean.min(), y.min())), float(max(mean.max(), y.max()))
    b.plot([lo, hi], [lo, hi], "k--", lw=1)
    b.set(xlabel="predicted mean (+- std)", ylabel="oracle value", title="prediction vs truth")
    fig.tight_layout()
    return fig
