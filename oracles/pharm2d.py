"""rdkit's 2D pharmacophore fingerprint (`Pharm2D.Generate.Gen2DFingerprint`), bit for bit, fast.

PMO's `scaffold_hop` and `deco_hop` compare Gobbi 2D pharmacophore fingerprints. rdkit builds them
in pure Python, one combination of feature matches at a time (`Utils.GetUniqueCombinations`, a
distance loop, `SigFactory.GetBitIdx`), so the cost grows with the cube of the number of features:
a 140-atom molecule takes seconds (Mol GA grows molecules of over 200 atoms there).
`Pharm2DFingerprint` finds the same set of (families, distances) with numpy and calls rdkit's
`GetBitIdx` once per distinct one, so the bits, and every score read off them, are rdkit's own
(`tests/oracles/test_pharm2d.py` checks equality on ZINC molecules and on large ones).

What rdkit does, for a factory with `shortestPathsOnly` and 2-3 points: a match is a feature's atom
tuple; the distance between two matches is the least topological distance between their atoms; a
combination (one match per point, families in order, distinct matches, same-family matches in
sorted order) sets a bit when every pairwise distance `d` satisfies `first bin start <= d < last
bin end`. Before the lookup each distance becomes the start of its bin: `GetBitIdx` reads distances
only to order a triangle's points (`Utils.OrderTriangle`) and to bin them, and for Gobbi's bins
this changes no bit (checked for every distance triple and every pattern of repeated families:
`test_pharm2d.py`, slow tier). That keeps the distinct lookups per molecule, and the memo of them,
small. Other bins are refused.
"""

from __future__ import annotations

import numpy as np
from rdkit import Chem
from rdkit.Chem.Pharm2D import SigFactory

__all__ = ["GOBBI_BINS", "Pharm2DFingerprint"]

#: `Gobbi_Pharm2D.factory.GetBins()`: one bin per path length 2-7, then 8-99
GOBBI_BINS = [(2, 3), (3, 4), (4, 5), (5, 6), (6, 7), (7, 8), (8, 100)]


class Pharm2DFingerprint:
    """`fp(mol)` equals `Generate.Gen2DFingerprint(mol, factory)` (a `SparseBitVect`).

    Args:
        factory: an initialised rdkit `SigFactory` with `shortestPathsOnly`, bit (not count)
            signatures, 2-3 points and Gobbi's bins (`Gobbi_Pharm2D.factory`).
    """

    def __init__(self, factory: SigFactory.SigFactory) -> None:
        if (not factory.shortestPathsOnly or factory.useCounts or factory.minPointCount < 2
                or factory.maxPointCount > 3):
            raise ValueError("Pharm2DFingerprint covers factories with shortestPathsOnly, bit signatures "
                             "and 2-3 points; use rdkit's Generate.Gen2DFingerprint for others")
        if list(factory.GetBins()) != GOBBI_BINS:
            raise ValueError(f"Pharm2DFingerprint is checked for Gobbi's distance bins {GOBBI_BINS} only, "
                             f"not {factory.GetBins()}; use rdkit's Generate.Gen2DFingerprint")
        self.factory = factory
        self._low, self._high = GOBBI_BINS[0][0], GOBBI_BINS[-1][1]
        self._start = np.zeros(self._high, dtype=np.int64)  # a distance's bin start
        for low, high in GOBBI_BINS:
            self._start[low:high] = low
        self._points = range(factory.minPointCount, factory.maxPointCount + 1)
        self._bits: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}  # GetBitIdx, memoised

    def __call__(self, mol: Chem.Mol):
        sig = self.factory.GetSignature()
        # every match, sorted as rdkit orders a combination's points: by family, then atom tuple
        flat = sorted((f, tuple(m)) for f, family in enumerate(self.factory.GetMolFeats(mol)) for m in family)
        if len(flat) < 2:
            return sig
        fam = np.array([f for f, _ in flat], dtype=np.int64)
        dmat = Chem.GetDistanceMatrix(mol, self.factory.includeBondOrder)
        near = np.stack([dmat[list(m)].min(axis=0) for _, m in flat])  # match x atom
        dist = np.stack([near[:, list(m)].min(axis=1) for _, m in flat], axis=1).astype(np.int64)
        ok = (dist >= self._low) & (dist < self._high)  # matches sharing an atom: 0, never kept
        dist = self._start[np.minimum(dist, self._high - 1)]
        # a combination is an increasing index pair or triple in that order (one per rdkit combination)
        j, k = np.triu_indices(len(flat), 1)
        pair = ok[j, k]
        codes: set[int] = set()  # distinct ones only: at most ~41k for Gobbi, however large the molecule
        if 2 in self._points:
            codes.update(np.unique(_code(fam[j][pair], fam[k][pair], dist[j, k][pair])).tolist())
        if 3 in self._points:
            for i in range(len(flat) - 2):
                s = np.searchsorted(j, i, side="right")
                jj, kk = j[s:], k[s:]
                keep = pair[s:] & ok[i, jj] & ok[i, kk]
                jj, kk = jj[keep], kk[keep]
                codes.update(np.unique(_code(np.full(len(jj), fam[i]), fam[jj], fam[kk],
                                             dist[i, jj], dist[i, kk], dist[jj, kk])).tolist())
        for code in codes:
            sig.SetBit(self._bit(*_decode(code)))
        return sig

    def _bit(self, perm: tuple[int, ...], dists: tuple[int, ...]) -> int:
        key = (perm, dists)
        if key not in self._bits:
            self._bits[key] = self.factory.GetBitIdx(list(perm), list(dists), sortIndices=False)
        return self._bits[key]


_BASE = 128  # above every distance kept (< 100) and every family index


def _code(*columns: np.ndarray) -> np.ndarray:
    """Families then distances of each combination, as one integer (point count first):
    `(f0, f1[, f2], d01[, d02, d12])` in base `_BASE`."""
    code = np.full(len(columns[0]), len(columns) // 2 + len(columns) % 2, dtype=np.int64)
    for column in columns:
        code = code * _BASE + column
    return code


def _decode(code: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    digits = []
    while code >= _BASE:
        code, digit = divmod(code, _BASE)
        digits.append(digit)
    points, digits = code, digits[::-1]
    return tuple(digits[:points]), tuple(digits[points:])
