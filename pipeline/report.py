"""Round metrics and the closing summary table."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from rich.table import Table


def top_k_mean(values: Sequence[float], k: int) -> float:
    """Mean of the k best values (of all there are, if fewer); nan when empty."""
    if not len(values):
        return math.nan
    return float(np.mean(sorted(values, reverse=True)[:k]))


def summary_table(rounds: list[dict[str, Any]], title: str) -> Table:
    """One row per finished round: oracle calls, best, top-10 mean, prospective Spearman."""
    table = Table(title=title, caption="round 0: the initial screen of the library. spearman: the "
                                       "surrogate's rank correlation on each new batch, predicted "
                                       "before its labels were seen")
    for col in ("round", "calls", "labels", "fails", "best", "top-10", "spearman", "secs"):
        table.add_column(col, justify="right")

    def fmt(v: Any, spec: str = ".3f") -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"
        return format(int(v) if spec == "d" else v, spec)

    for r in rounds:
        m = r["metrics"]
        table.add_row(str(r["round"]), fmt(m.get("oracle_calls"), "d"), fmt(m.get("new_labels"), "d"),
                      fmt(m.get("failures"), "d"), fmt(m.get("best")), fmt(m.get("top10_mean")),
                      fmt(m.get("spearman_batch")), fmt(m.get("seconds_total"), ".1f"))
    return table


def diversity(fps: list) -> float:
    """Mean pairwise Tanimoto distance of a set of fingerprints (nan for fewer than 2)."""
    from sciloop.surrogates.featurizers import tanimoto_matrix

    if len(fps) < 2:
        return math.nan
    sim = tanimoto_matrix(fps, fps)
    n = len(fps)
    return float(1.0 - (sim.sum() - np.trace(sim)) / (n * (n - 1)))


def novelty(fps: list, reference: list) -> float:
    """Mean over `fps` of the Tanimoto distance to the nearest `reference` fingerprint."""
    from sciloop.surrogates.featurizers import tanimoto_matrix

    if not fps or not reference:
        return math.nan
    return float(1.0 - tanimoto_matrix(fps, reference).max(axis=1).mean())


def count_modes(fps: list, scores: Sequence[float], threshold: float, max_similarity: float = 0.4) -> int:
    """Distinct high scorers: greedily, best first, designs scoring >= threshold that are less
    similar than `max_similarity` (Tanimoto) to every mode already counted."""
    from rdkit import DataStructs

    modes: list = []
    for score, fp in sorted(zip(scores, fps), key=lambda t: -t[0]):
        if score < threshold:
            break
        if not modes or max(DataStructs.BulkTanimotoSimilarity(fp, modes)) < max_similarity:
            modes.append(fp)
    return len(modes)


def best_table(labels: Sequence[Any], n: int, vectors: dict[str, list[float]], title: str) -> Table:
    """The `n` best labelled designs, best first: rank, value, round, design (and each
    objective of a multi-objective score).

    Args:
        labels: the ledger's `Label`s (key, design, round, value).
        n: how many rows.
        vectors: multi-objective score vectors by key (`Ledger.vectors()`).
        title: the table's title.
    """
    ranked = sorted(labels, key=lambda l: -l.value)[:n]
    width = max((len(vectors[l.key]) for l in ranked if l.key in vectors), default=0)
    table = Table(title=title, caption="round 0 is the initial screen")
    for col in ("#", "value", *(f"v{i + 1}" for i in range(width)), "round"):
        table.add_column(col, justify="right")
    table.add_column("design (canonical SMILES)", overflow="fold")
    for i, l in enumerate(ranked, 1):
        vec = [format(v, ".3f") for v in vectors.get(l.key, [])] + ["-"] * width
        table.add_row(str(i), format(l.value, ".3f"), *vec[:width], str(l.round), l.key)
    return table
