"""Mol GA's parent sampling (Tripp and Hernandez-Lobato 2023, `mol_ga.sample_population`),
shared by the offspring proposers of every domain: light to import (numpy only, no rdkit)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["quantile_parents"]


def quantile_parents(ranked: Sequence[str], n: int, rng: np.random.Generator, quantiles: int = 25) -> list[str]:
    """`n` parents from designs ranked best first: an equal share from each of the top
    `10^-3 ... 10^0` fractions (log-spaced; each at least the best design), drawn with replacement."""
    if not ranked:
        raise ValueError("no labelled design to breed from")
    per = math.ceil(n / quantiles)
    parents: list[str] = []
    for fraction in np.logspace(-3, 0, quantiles):
        top = max(1, math.ceil(fraction * len(ranked)))
        parents.extend(ranked[int(i)] for i in rng.integers(0, top, size=per))
    order = rng.permutation(len(parents))
    return [parents[int(i)] for i in order[:n]]
