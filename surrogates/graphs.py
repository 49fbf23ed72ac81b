"""Molecular graphs for GNN members: a table of graphs, cached by design string.

A GNN takes graphs, not fixed-width rows, while BoTorch's acquisitions take a `b x q x d`
tensor. ``GraphFeaturizer`` bridges the two: calling it on designs returns a `n x 1` float64
tensor of **row indices into its own graph table** (each design parsed once and appended
on first sight); the GNN looks the graphs up by index inside its ``forward``. Index tensors
concatenate, slice and reshape like feature rows, so ``X_baseline``/``X_pending`` and every
Monte Carlo acquisition work unchanged. Indices are stable for the featurizer's life (the
table only grows, and it is pickled with the featurizer), so keep one featurizer per
campaign, as the pipeline does for fingerprints.

Atom features (categorical, summed embeddings as in OGB's ``AtomEncoder``): element, degree,
formal charge, total hydrogens, aromaticity, hybridisation, ring membership. Bond features
(one-hot, `E x 8`): bond type, conjugation, ring membership.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from rdkit import Chem
from torch import Tensor

from .featurizers import FEATURE_DTYPE, _parse

__all__ = ["ATOM_VOCAB", "BOND_DIM", "GraphBatch", "GraphFeaturizer"]

_ELEMENTS = (6, 7, 8, 16, 9, 17, 35, 53, 15, 5, 14, 34)
_HYBRID = (Chem.HybridizationType.SP, Chem.HybridizationType.SP2, Chem.HybridizationType.SP3,
           Chem.HybridizationType.SP3D, Chem.HybridizationType.SP3D2)
#: Categories per atom feature (the last one of each is "other").
ATOM_SIZES = (len(_ELEMENTS) + 1, 7, 6, 6, 2, len(_HYBRID) + 1, 2)
#: Offsets of each atom feature in one shared embedding table, and its size.
ATOM_OFFSETS = tuple(sum(ATOM_SIZES[:i]) for i in range(len(ATOM_SIZES)))
ATOM_VOCAB = sum(ATOM_SIZES)
_BONDS = (Chem.BondType.SINGLE, Chem.BondType.DOUBLE, Chem.BondType.TRIPLE,
          Chem.BondType.AROMATIC)
#: Width of the one-hot bond features.
BOND_DIM = len(_BONDS) + 1 + 2 + 1


def _index(value, options: Sequence) -> int:
    return options.index(value) if value in options else len(options)


def _atom_row(atom: Chem.Atom) -> list[int]:
    raw = [_index(atom.GetAtomicNum(), _ELEMENTS), min(atom.GetDegree(), 6),
           min(max(atom.GetFormalCharge() + 2, 0), 5), min(atom.GetTotalNumHs(), 5),
           int(atom.GetIsAromatic()), _index(atom.GetHybridization(), _HYBRID),
           int(atom.IsInRing())]
    return [v + o for v, o in zip(raw, ATOM_OFFSETS)]


def _bond_row(bond: Chem.Bond) -> list[float]:
    row = [0.0] * BOND_DIM
    row[_index(bond.GetBondType(), _BONDS)] = 1.0
    row[len(_BONDS) + 1 + int(bond.GetIsConjugated())] = 1.0
    row[-1] = float(bond.IsInRing())
    return row


@dataclass
class GraphBatch:
    """Several molecular graphs as one disconnected graph.

    Attributes:
        x: `N x 7` int64 atom features, already offset into one table of ``ATOM_VOCAB``.
        edge_index: `2 x E` int64, both directions of every bond.
        edge_attr: `E x BOND_DIM` float32 one-hot bond features.
        batch: `N` int64, the graph of each atom (``0 .. n - 1``).
        num_graphs: ``n``.
    """

    x: Tensor
    edge_index: Tensor
    edge_attr: Tensor
    batch: Tensor
    num_graphs: int

    def to(self, device: torch.device) -> GraphBatch:
        """The same batch on ``device``."""
        return GraphBatch(self.x.to(device), self.edge_index.to(device), self.edge_attr.to(device),
                          self.batch.to(device), self.num_graphs)


class GraphFeaturizer:
    """Molecular graphs in a table, cached by design string; designs map to table indices.

    Example:
        >>> featurizer = GraphFeaturizer()
        >>> X = featurizer(["CCO", "c1ccccc1"])   # `2 x 1` float64: tensor([[0.], [1.]])
        >>> featurizer.batch(X[:, 0].long()).num_graphs
        2
    """

    def __init__(self) -> None:
        """Start with an empty table."""
        self._index: dict[str, int] = {}
        self._x: list[Tensor] = []
        self._edge_index: list[Tensor] = []
        self._edge_attr: list[Tensor] = []

    @property
    def dim(self) -> int:
        """The feature dimension: 1 (one table index per design)."""
        return 1

    def __len__(self) -> int:
        return len(self._x)

    def config(self) -> dict[str, str]:
        """A description for logging."""
        return {"kind": "graph", "atom_vocab": str(ATOM_VOCAB), "bond_dim": str(BOND_DIM)}

    def _add(self, design: str) -> int:
        hit = self._index.get(design)
        if hit is not None:
            return hit
        mol = _parse(design)
        x = torch.tensor([_atom_row(a) for a in mol.GetAtoms()], dtype=torch.int64)
        src, dst, attr = [], [], []
        for bond in mol.GetBonds():
            i, j, row = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx(), _bond_row(bond)
            src += [i, j]
            dst += [j, i]
            attr += [row, row]
        self._x.append(x)
        self._edge_index.append(torch.tensor([src, dst], dtype=torch.int64).reshape(2, -1))
        self._edge_attr.append(torch.tensor(attr, dtype=torch.float32).reshape(-1, BOND_DIM))
        self._index[design] = len(self._x) - 1
        return self._index[design]

    def __call__(self, designs: Sequence[str]) -> Tensor:
        """Table indices of designs (parsed and appended on first sight).

        Args:
            designs: ``n`` SMILES strings.

        Returns:
            A `n x 1` float64 tensor of table indices.

        Raises:
            ValueError: If a design is not a valid SMILES string; the message names it.
        """
        if isinstance(designs, str):
            raise TypeError("designs must be a sequence of SMILES strings, not one string")
        idx = [self._add(d) for d in designs]
        return torch.tensor(idx, dtype=FEATURE_DTYPE).reshape(-1, 1)

    def is_valid(self, design: str) -> bool:
        """Whether ``design`` parses into a graph."""
        try:
            self._add(design)
        except ValueError:
            return False
        return True

    def batch(self, index: Tensor) -> GraphBatch:
        """Collate the graphs at table indices into one batch.

        Args:
            index: `n` int64 table indices (repeats allowed).

        Returns:
            The ``GraphBatch`` of the ``n`` graphs, in order.
        """
        idx = index.reshape(-1).tolist()
        if idx and not (0 <= min(idx) and max(idx) < len(self._x)):
            raise IndexError(f"graph index out of range (table has {len(self._x)} graphs)")
        xs = [self._x[i] for i in idx]
        sizes = torch.tensor([x.shape[0] for x in xs], dtype=torch.int64)
        starts = torch.cumsum(sizes, 0) - sizes
        eis = [self._edge_index[i] + s for i, s in zip(idx, starts.tolist())]
        return GraphBatch(
            x=torch.cat(xs) if xs else torch.zeros(0, len(ATOM_SIZES), dtype=torch.int64),
            edge_index=torch.cat(eis, 1) if eis else torch.zeros(2, 0, dtype=torch.int64),
            edge_attr=(torch.cat([self._edge_attr[i] for i in idx]) if idx
                       else torch.zeros(0, BOND_DIM)),
            batch=torch.repeat_interleave(torch.arange(len(idx)), sizes),
            num_graphs=len(idx),
        )

    def __repr__(self) -> str:
        return f"GraphFeaturizer({len(self)} graphs cached)"
