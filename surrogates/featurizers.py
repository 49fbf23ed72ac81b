"""Molecular featurizers: Morgan fingerprints of canonical SMILES as tensors and bit vectors.

A featurizer turns designs (canonical SMILES strings) into the fixed-width feature rows the
surrogate ensemble is trained on, and into rdkit bit vectors for Tanimoto distances during
batch selection. Results are cached per design string on the instance, because the same
designs are featurized every round (training labels) and many times per round (GFlowNet
rewards).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import torch

if TYPE_CHECKING:  # rdkit loads on first use: a sequence campaign never imports it
    from rdkit import Chem, DataStructs

__all__ = ["Featurizer", "MorganAtomPairFeaturizer", "MorganFeaturizer", "tanimoto_matrix"]

#: dtype of every feature tensor this module returns (BoTorch works in double precision).
FEATURE_DTYPE = torch.float64


@runtime_checkable
class Featurizer(Protocol):
    """What the surrogate needs from a featurizer: designs in, a `n x d` tensor out."""

    @property
    def dim(self) -> int:
        """The feature dimension ``d``."""
        ...

    def __call__(self, designs: Sequence[str]) -> torch.Tensor:
        """Featurize ``n`` designs into a `n x d` tensor; raise ``ValueError`` on invalid ones."""
        ...


def _parse(design: str) -> Chem.Mol:
    """Parse a SMILES string into an rdkit molecule.

    Args:
        design: A SMILES string.

    Returns:
        The rdkit molecule.

    Raises:
        ValueError: If ``design`` is not a string, does not parse, or has no atoms
            (rdkit parses ``""`` to an empty molecule; it is not a design).
    """
    from rdkit import Chem, rdBase

    if not isinstance(design, str) or not design.strip():
        raise ValueError(f"invalid design (empty or not a string): {design!r}")
    with rdBase.BlockLogs():
        mol = Chem.MolFromSmiles(design)
    if mol is None or mol.GetNumAtoms() == 0:
        raise ValueError(f"invalid design (rdkit cannot parse SMILES): {design!r}")
    return mol


def _nonzero(generator: Any, mol: Chem.Mol, counts: bool) -> tuple[np.ndarray, np.ndarray]:
    """Non-zero indices and values of one rdkit fingerprint: ``log1p`` counts, or 1 per on bit."""
    if counts:
        nz = generator.GetCountFingerprint(mol).GetNonzeroElements()
        return (np.fromiter(nz.keys(), dtype=np.int64, count=len(nz)),
                np.log1p(np.fromiter(nz.values(), dtype=np.float64, count=len(nz))))
    idx = np.asarray(list(generator.GetFingerprint(mol).GetOnBits()), dtype=np.int64)
    return idx, np.ones(len(idx), dtype=np.float64)


class MorganFeaturizer:
    """Morgan (ECFP-like) fingerprints of SMILES designs, cached per design string.

    Count fingerprints are ``log1p``-transformed (so a substructure seen 1, 2, 4 times maps
    to 0.69, 1.10, 1.61); bit fingerprints give 0/1 features. The cache keeps a sparse copy
    of each design's fingerprint (a few dozen non-zeros), so it stays small even for hundreds
    of thousands of designs; ``max_cache_size`` bounds it (oldest entries are evicted first).

    The instance pickles (for Ray workers): the rdkit generator, which does not pickle, is
    dropped and rebuilt lazily, and the caches are dropped too so that a pickled featurizer
    stays small.

    Example:
        >>> featurizer = MorganFeaturizer(radius=2, n_bits=2048)
        >>> X = featurizer(["CCO", "c1ccccc1"])  # `2 x 2048`, float64
        >>> fps = featurizer.bit_fingerprints(["CCO", "c1ccccc1"])
        >>> tanimoto_matrix(fps, fps).shape
        (2, 2)
    """

    def __init__(
        self,
        radius: int = 2,
        n_bits: int = 2048,
        counts: bool = True,
        max_cache_size: int | None = 500_000,
    ) -> None:
        """Set up the featurizer.

        Args:
            radius: Morgan radius (2 gives ECFP4-like environments).
            n_bits: Fingerprint length, i.e. the feature dimension ``d``.
            counts: If True, features are ``log1p`` of substructure counts; else 0/1 bits.
            max_cache_size: Maximum number of designs kept in each cache (None: unbounded).
        """
        if radius < 0 or n_bits <= 0:
            raise ValueError(f"need radius >= 0 and n_bits > 0, got {radius=}, {n_bits=}")
        self.radius = int(radius)
        self.n_bits = int(n_bits)
        self.counts = bool(counts)
        self.max_cache_size = max_cache_size
        self._generator: Any = None
        self._sparse_cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._bit_cache: dict[str, DataStructs.ExplicitBitVect] = {}

    @property
    def dim(self) -> int:
        """The feature dimension ``d`` (equal to ``n_bits``)."""
        return self.n_bits

    @property
    def blocks(self) -> tuple[int, ...]:
        """Sizes of the fingerprints the features are made of, in order (here one)."""
        return (self.n_bits,)

    def config(self) -> dict[str, Any]:
        """The constructor arguments, e.g. for logging or rebuilding the featurizer."""
        return {"radius": self.radius, "n_bits": self.n_bits, "counts": self.counts}

    @property
    def generator(self) -> Any:
        """The rdkit Morgan generator, built on first use (it cannot be pickled)."""
        if self._generator is None:
            from rdkit.Chem import rdFingerprintGenerator

            self._generator = rdFingerprintGenerator.GetMorganGenerator(
                radius=self.radius, fpSize=self.n_bits
            )
        return self._generator

    def _remember(self, cache: dict, key: str, value: Any) -> None:
        if self.max_cache_size is not None:
            while len(cache) >= self.max_cache_size and cache:
                cache.pop(next(iter(cache)))
        cache[key] = value

    def _sparse(self, design: str) -> tuple[np.ndarray, np.ndarray]:
        """Non-zero indices and feature values of one design (cached)."""
        hit = self._sparse_cache.get(design)
        if hit is not None:
            return hit
        entry = self._encode(_parse(design))
        self._remember(self._sparse_cache, design, entry)
        return entry

    def _encode(self, mol: Chem.Mol) -> tuple[np.ndarray, np.ndarray]:
        return _nonzero(self.generator, mol, self.counts)

    def __call__(self, designs: Sequence[str]) -> torch.Tensor:
        """Featurize designs.

        Args:
            designs: ``n`` SMILES strings.

        Returns:
            A `n x d` float64 tensor of features (`0 x d` for no designs).

        Raises:
            ValueError: If a design is not a valid SMILES string; the message names it.
        """
        if isinstance(designs, str):
            raise TypeError("designs must be a sequence of SMILES strings, not one string")
        X = np.zeros((len(designs), self.dim), dtype=np.float64)
        for row, design in enumerate(designs):
            idx, val = self._sparse(design)
            X[row, idx] = val
        return torch.from_numpy(X).to(FEATURE_DTYPE)

    def bit_fingerprints(self, designs: Sequence[str]) -> list[DataStructs.ExplicitBitVect]:
        """Morgan bit vectors for Tanimoto similarity (cached).

        Args:
            designs: ``n`` SMILES strings.

        Returns:
            ``n`` rdkit ``ExplicitBitVect`` of length ``n_bits``.

        Raises:
            ValueError: If a design is not a valid SMILES string; the message names it.
        """
        out = []
        for design in designs:
            fp = self._bit_cache.get(design)
            if fp is None:
                fp = self.generator.GetFingerprint(_parse(design))
                self._remember(self._bit_cache, design, fp)
            out.append(fp)
        return out

    def is_valid(self, design: str) -> bool:
        """Whether ``design`` featurizes (a non-empty SMILES that rdkit parses)."""
        try:
            self._sparse(design)
        except ValueError:
            return False
        return True

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_generator"] = None
        state["_sparse_cache"] = {}
        state["_bit_cache"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(radius={self.radius}, n_bits={self.n_bits}, "
                f"counts={self.counts})")


class MorganAtomPairFeaturizer(MorganFeaturizer):
    """Morgan fingerprints followed by hashed atom-pair fingerprints, ``n_bits`` each.

    An atom pair is two atoms' types and their topological distance, so these features see the
    whole molecule's shape, which radius-limited Morgan environments do not (atom-pair similarity
    objectives, e.g. PMO's mestranol and fexofenadine, are ranked much better with them).
    ``blocks`` names the two parts, so a GP gives each its own kernel and scale and its marginal
    likelihood weighs them (``surrogates.gp.tanimoto_kernel``). ``bit_fingerprints`` (similarity
    between designs) stays Morgan's.

    Example:
        >>> MorganAtomPairFeaturizer(n_bits=1024)(["CCO"]).shape
        torch.Size([1, 2048])
    """

    _pairs: Any = None  # the atom-pair generator (`pairs`)

    @property
    def dim(self) -> int:
        """The feature dimension ``d`` (``2 * n_bits``)."""
        return 2 * self.n_bits

    @property
    def blocks(self) -> tuple[int, ...]:
        """Morgan's ``n_bits`` features, then the atom pairs' ``n_bits``."""
        return (self.n_bits, self.n_bits)

    @property
    def pairs(self) -> Any:
        """The rdkit atom-pair generator, built on first use (it cannot be pickled)."""
        if self._pairs is None:
            from rdkit.Chem import rdFingerprintGenerator

            self._pairs = rdFingerprintGenerator.GetAtomPairGenerator(fpSize=self.n_bits)
        return self._pairs

    def _encode(self, mol: Chem.Mol) -> tuple[np.ndarray, np.ndarray]:
        (morgan, m_val), (pairs, p_val) = super()._encode(mol), _nonzero(self.pairs, mol, self.counts)
        return np.concatenate([morgan, pairs + self.n_bits]), np.concatenate([m_val, p_val])

    def __getstate__(self) -> dict[str, Any]:
        return super().__getstate__() | {"_pairs": None}


def tanimoto_matrix(
    fps_a: Sequence[DataStructs.ExplicitBitVect],
    fps_b: Sequence[DataStructs.ExplicitBitVect],
) -> np.ndarray:
    """Tanimoto similarities between two lists of rdkit bit vectors.

    Args:
        fps_a: ``n`` bit vectors.
        fps_b: ``m`` bit vectors.

    Returns:
        A `n x m` float64 array of similarities in ``[0, 1]``.
    """
    from rdkit import DataStructs

    fps_b = list(fps_b)
    out = np.zeros((len(fps_a), len(fps_b)), dtype=np.float64)
    if len(fps_b) == 0:
        return out
    for i, fp in enumerate(fps_a):
        out[i] = DataStructs.BulkTanimotoSimilarity(fp, fps_b)
    return out
