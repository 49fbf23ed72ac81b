"""Sample-efficiency metrics of the PMO benchmark (Gao et al. 2022, "Sample efficiency matters").

A run is the sequence of oracle values in the order they were paid for (a repeated design costs
nothing and is not in the sequence; an invalid design is not counted). The top-k curve is the
mean of the best k values seen so far (fewer than k: the mean of those seen), read every
`every` calls; its area is summed by trapezoids from 0 at call 0, and a run that stopped before
the budget is held at its final value. The area is divided by the budget, so a run that found
its best designs at once scores close to their mean.

This is `top_auc` of the PMO code (mol_opt, `main/optimizer.py`), written over a plain list.
`circles` counts a run's diverse hits (after Renz et al. 2024, "Diverse hits in de novo molecule
design"): a diversity measure to read beside the AUC.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def top_k_mean(values: Sequence[float], k: int, empty: float = 0.0) -> float:
    """Mean of the `k` largest values (all of them if fewer; `empty` for none: PMO counts 0)."""
    if not len(values):
        return empty
    return float(np.mean(np.sort(np.asarray(values, dtype=float))[::-1][:k]))


def top_k_curve(values: Sequence[float], k: int, every: int = 100) -> list[tuple[int, float]]:
    """`(calls, top-k mean)` at every `every` calls and at the last call."""
    marks = list(range(every, len(values), every)) + ([len(values)] if len(values) else [])
    return [(n, top_k_mean(values[:n], k)) for n in marks]


def top_k_auc(values: Sequence[float], k: int, budget: int, every: int = 100,
              finish: bool = True) -> float:
    """Area under the top-k curve over `budget` calls, divided by `budget` (PMO's `top_auc`).

    Args:
        values: oracle values in call order; calls past `budget` are ignored.
        k: 1, 10 or 100 in PMO.
        budget: the oracle budget (10,000 in PMO).
        every: the curve's resolution in calls (100 in PMO).
        finish: hold the final value up to the budget when the run stopped early.
    """
    if budget <= 0 or every <= 0:
        raise ValueError(f"budget and every must be positive, got {budget}, {every}")
    values = list(values)[:budget]
    area, prev, called = 0.0, 0.0, 0
    for calls, now in top_k_curve(values, k, every):
        area += (calls - called) * (now + prev) / 2
        prev, called = now, calls
    if finish and called < budget:
        area += (budget - called) * prev
    return area / budget


def calls_to_reach(values: Sequence[float], k: int, target: float) -> int | None:
    """First call count at which the top-k mean reaches `target` (None: never)."""
    best: list[float] = []
    for n, value in enumerate(values, start=1):
        best = sorted([*best, float(value)], reverse=True)[:k]
        if len(best) == k and np.mean(best) >= target:
            return n
    return None


def circles(designs: Sequence[str], values: Sequence[float], threshold: float,
            distance: float = 0.7) -> int:
    """#Circles-style count of diverse hits among a run's paid designs.

    The designs scoring at least `threshold` are taken in descending score order (ties by call
    order) and kept when at Tanimoto distance >= `distance` from every design kept before (rdkit
    Morgan fingerprints, radius 2, 2048 bits); the count kept is returned. After Renz et al. 2024;
    not comparable with their numbers, which use other objectives and thresholds.

    Args:
        designs: SMILES in call order (invalid ones are skipped).
        values: their oracle values, in the same order.
        threshold: the score a hit needs (a per-objective table, fixed in advance).
        distance: the minimum Tanimoto distance between two kept hits.
    """
    from rdkit import Chem, DataStructs
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    hits = sorted((i for i, v in enumerate(values) if v >= threshold), key=lambda i: (-values[i], i))
    kept: list = []
    for i in hits:
        mol = Chem.MolFromSmiles(designs[i])
        if mol is None:
            continue
        fp = generator.GetFingerprint(mol)
        if not kept or max(DataStructs.BulkTanimotoSimilarity(fp, kept)) <= 1.0 - distance:
            kept.append(fp)
    return len(kept)
