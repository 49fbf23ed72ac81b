"""What a design is: canonical keys and validity, plus the molecule libraries shipped with rdkit."""

from __future__ import annotations

import csv
import os
from typing import Protocol

from rdkit import Chem, RDLogger

RDLogger.DisableLog("rdApp.*")


class Domain(Protocol):
    """A design space: `canonical(x)` is the ledger key, None when `x` is not a valid design."""

    name: str

    def canonical(self, design: str) -> str | None: ...

    def is_valid(self, design: str) -> bool: ...


class MoleculeDomain:
    """Molecules as SMILES; the key is rdkit's canonical SMILES."""

    name = "molecule"

    def canonical(self, design: str) -> str | None:
        if not isinstance(design, str) or not design.strip():
            return None
        mol = Chem.MolFromSmiles(design)
        if mol is None or mol.GetNumAtoms() == 0:
            return None
        return Chem.MolToSmiles(mol)

    def is_valid(self, design: str) -> bool:
        return self.canonical(design) is not None


def _rdkit_data(*parts: str) -> str:
    import rdkit

    return os.path.join(os.path.dirname(rdkit.__file__), "Data", *parts)


def _moses_train(size: int, seed: int) -> list[str]:
    """`size` SMILES drawn at random (seeded) from the MOSES training set (1.58M, ZINC-derived)."""
    import gzip
    import importlib.util
    import random

    spec = importlib.util.find_spec("moses")  # locates the wheel's data without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("library 'moses' needs the MOSES data: pip install --no-deps molsets")
    path = os.path.join(spec.submodule_search_locations[0], "dataset", "data", "train.csv.gz")
    with gzip.open(path, "rt") as fh:
        rows = [line.split(",", 1)[0] for line in fh][1:]  # header: SMILES,SPLIT
    return random.Random(seed).sample(rows, min(size, len(rows)))


def load_library(name: str = "nci", size: int = 20_000, seed: int = 0) -> list[str]:
    """A real molecule library: canonical, desalted, deduplicated, in file order.

    Args:
        name: "nci" (rdkit's `Data/NCI/first_5K.smi`, ~5k molecules), "wehi" (rdkit's
            `Data/Pains/test_data/wehi_mols.csv`, ~10k molecules) or "moses" (a random
            `size` of the MOSES training set; `pip install --no-deps molsets`).
        size: molecules drawn from "moses" (the rdkit sets are used whole).
        seed: the draw from "moses".
    """
    if name == "moses":
        raw = _moses_train(size, seed)
    elif name == "nci":
        with open(_rdkit_data("NCI", "first_5K.smi")) as fh:
            raw = [line.split()[0] for line in fh if line.strip()]
    elif name == "wehi":
        with open(_rdkit_data("Pains", "test_data", "wehi_mols.csv")) as fh:
            raw = [row[0] for row in csv.reader(fh) if row]
    else:
        raise ValueError(f"unknown library {name!r}: use 'nci', 'wehi' or 'moses'")
    domain, seen, out = MoleculeDomain(), set(), []
    for smiles in raw:
        key = domain.canonical(smiles)
        if key is not None and "." in key:  # desalt: keep the largest fragment
            key = domain.canonical(max(key.split("."), key=lambda f: Chem.MolFromSmiles(f).GetNumHeavyAtoms()))
        if key is not None and key not in seen:
            seen.add(key)
            out.append(key)
    return out
