"""Batch selection from a candidate pool, by pool index.

Selection returns positions in the pool, never feature rows: two designs with equal
fingerprints are still two distinct candidates (BoTorch's ``optimize_acqf_discrete`` returns
rows and so cannot tell them apart).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from botorch.acquisition import AcquisitionFunction
from torch import Tensor

if TYPE_CHECKING:  # rdkit only for molecules' bit vectors (select_batch)
    from rdkit import DataStructs

from .acquisition import acquisition_values

__all__ = ["select_batch", "select_batch_greedy_q", "select_by_similarity"]


def _order(values: Tensor) -> list[int]:
    """Indices by value, descending; NaN last; ties by lower index first."""
    v = torch.as_tensor(values, dtype=torch.float64).reshape(-1).nan_to_num(nan=-torch.inf)
    return torch.sort(-v, stable=True).indices.tolist()


def select_batch(
    acq_values: Tensor,
    fingerprints: Sequence[DataStructs.ExplicitBitVect],
    q: int,
    min_distance: float = 0.0,
) -> list[int]:
    """Greedy top-``q`` by acquisition with a minimum Tanimoto distance between picks.

    Candidates are visited by acquisition value, descending (NaN last, ties by index). A
    candidate is skipped if its Tanimoto distance ``1 - similarity`` to any already picked
    one is below ``min_distance``. If the constraint leaves fewer than ``q`` picks, the rest
    is filled with the best skipped candidates in acquisition order, ignoring the constraint
    (so the batch is always full when the pool allows it; check distances yourself if the
    constraint must be strict).

    Args:
        acq_values: `n` acquisition values of the pool.
        fingerprints: ``n`` rdkit bit vectors of the pool, in the same order.
        q: Batch size.
        min_distance: Minimum Tanimoto distance in ``[0, 1]``; 0 disables the constraint
            (then designs with equal fingerprints can both be picked).

    Returns:
        ``min(q, n)`` distinct pool indices, in the order they were picked.
    """
    from rdkit import DataStructs

    n = torch.as_tensor(acq_values).numel()
    if len(fingerprints) != n:
        raise ValueError(f"{n} acquisition values but {len(fingerprints)} fingerprints")

    def nearest(i: int, picked: list[int]) -> float:
        return max(DataStructs.BulkTanimotoSimilarity(fingerprints[i], [fingerprints[j] for j in picked]))

    return select_by_similarity(acq_values, n, nearest, q, min_distance)


def select_by_similarity(
    acq_values: Tensor,
    n: int,
    nearest: Callable[[int, list[int]], float],
    q: int,
    min_distance: float = 0.0,
    relaxed: list[int] | None = None,
    free: int = 0,
) -> list[int]:
    """Greedy top-``q`` by acquisition with a minimum distance ``1 - similarity`` between picks,
    in any metric (`select_batch` is its Tanimoto case; the rules are the same).

    Args:
        acq_values: `n` acquisition values of the pool.
        n: pool size.
        nearest: ``nearest(i, picked)`` is the largest similarity of candidate ``i`` to the
            (non-empty) picked candidates.
        q: Batch size.
        min_distance: Minimum distance in ``[0, 1]``; 0 disables the constraint.
        relaxed: if given, receives the picks that break the constraint (the batch filled with
            the best skipped candidates; each is closer than ``min_distance`` to an earlier pick).
        free: the first ``free`` picks are the top by acquisition, with no distance between them;
            the constraint holds for every later pick, from all earlier ones (the free ones too).

    Returns:
        ``min(q, n)`` distinct pool indices, in the order they were picked.
    """
    if q <= 0 or n == 0:
        return []
    order = _order(acq_values)
    if min_distance <= 0 or free >= q:
        return order[:q]
    max_similarity = 1.0 - float(min_distance)
    picked: list[int] = []
    skipped: list[int] = []
    for i in order:
        if len(picked) == q:
            break
        if len(picked) >= max(free, 1) and nearest(i, picked) > max_similarity:
            skipped.append(i)
            continue
        picked.append(i)
    for i in skipped:  # the pool ran out under the constraint: fill by acquisition order
        if len(picked) == q:
            break
        picked.append(i)
        if relaxed is not None:
            relaxed.append(i)
    return picked


@torch.no_grad()
def select_batch_greedy_q(acqf: AcquisitionFunction, X: Tensor, q: int) -> list[int]:
    """Sequential greedy q-batch selection with a Monte Carlo acquisition.

    Step ``j`` scores every remaining candidate jointly with the ``j`` already picked ones
    (set as ``X_pending``, so e.g. qUCB/qLogEI value the batch, not the point) and picks the
    best. ``acqf``'s own ``X_pending`` is restored afterwards. Costs ``q`` passes over the pool.

    Args:
        acqf: A BoTorch Monte Carlo acquisition (one with ``set_X_pending``).
        X: `n x d` features of the pool.
        q: Batch size.

    Returns:
        ``min(q, n)`` distinct pool indices, in the order they were picked.
    """
    n = X.shape[0]
    previous = getattr(acqf, "X_pending", None)
    picked: list[int] = []
    available = torch.ones(n, dtype=torch.bool)
    try:
        for _ in range(min(q, n)):
            pending = X[picked] if picked else None
            if previous is not None:
                pending = previous if pending is None else torch.cat([previous, pending], -2)
            acqf.set_X_pending(pending)
            values = acquisition_values(acqf, X).to(torch.float64).nan_to_num(nan=-torch.inf)
            values[~available] = -torch.inf
            best = int(torch.argmax(values))
            if not available[best]:  # everything left is -inf: take the first remaining
                best = int(torch.nonzero(available)[0])
            picked.append(best)
            available[best] = False
    finally:
        acqf.set_X_pending(previous)
    return picked
