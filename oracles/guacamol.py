"""GuacaMol-defined objectives of the PMO suite, and rdkit's synthetic-accessibility score.

Implemented from the published GuacaMol definitions (Brown et al. 2019, `guacamol` package:
fingerprints, score modifiers, isomer scoring) as the PMO reference library (pytdc 1.1.15)
computes them; tests/oracles/test_pmo_reference.py checks every one against that library's
stored values (tests/oracles/data/) within 1e-3. The two isomer objectives come in both
definitions: `isomers_*` as pytdc scores them since 0.3.7, `isomers_*_prev` as the PMO
leaderboard (pytdc 0.3.6) did (`isomer_score`).
"""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any, Callable

from rdkit import Chem, DataStructs, RDConfig
from rdkit.Chem import AllChem, rdMolDescriptors

from sciloop.oracles.molecular import MolecularObjective

#: GuacaMol fingerprints by name (count-based Morgan as in `guacamol.utils.fingerprints`).
FINGERPRINTS: dict[str, Callable[[Chem.Mol], Any]] = {
    "ECFP4": lambda m: AllChem.GetMorganFingerprint(m, 2),
    "ECFP6": lambda m: AllChem.GetMorganFingerprint(m, 3),
    "FCFP4": lambda m: AllChem.GetMorganFingerprint(m, 2, useFeatures=True),
    "FCFP6": lambda m: AllChem.GetMorganFingerprint(m, 3, useFeatures=True),
    "AP": lambda m: rdMolDescriptors.GetAtomPairFingerprint(m, maxLength=10),
}


def gaussian(x: float, mu: float, sigma: float) -> float:
    """GuacaMol's GaussianModifier: exp(-(x - mu)^2 / (2 sigma^2))."""
    return math.exp(-0.5 * ((x - mu) / sigma) ** 2)


def clipped(x: float, upper_x: float, lower_x: float = 0.0) -> float:
    """GuacaMol's ClippedScoreModifier with high=1, low=0: linear between the bounds, clipped."""
    return min(1.0, max(0.0, (x - lower_x) / (upper_x - lower_x)))


@dataclass(kw_only=True)
class Similarity(MolecularObjective):
    """Tanimoto similarity to a target in a GuacaMol fingerprint, clipped at `threshold`.

    `threshold=None` gives the raw similarity (the rediscovery form).
    """

    target: str
    fingerprint: str = "ECFP4"
    threshold: float | None = 0.75
    _target_fp: Any = field(default=None, init=False, repr=False, compare=False)

    @property
    def description(self) -> str:
        clip = f", clipped at {self.threshold}" if self.threshold is not None else ""
        return f"similarity: Tanimoto ({self.fingerprint}) to {self.target}{clip}"

    def __getstate__(self) -> dict:  # rdkit fingerprints do not pickle: rebuilt on the worker
        return self.__dict__ | {"_target_fp": None}

    def score_mol(self, mol: Chem.Mol) -> float:
        fp = FINGERPRINTS[self.fingerprint]
        if self._target_fp is None:
            self._target_fp = fp(Chem.MolFromSmiles(self.target))
        sim = DataStructs.TanimotoSimilarity(self._target_fp, fp(mol))
        return sim if self.threshold is None else clipped(sim, self.threshold)


def parse_formula(formula: str) -> list[tuple[str, int]]:
    """'C9H10N2O2PF2Cl' -> [('C', 9), ('H', 10), ('N', 2), ('O', 2), ('P', 1), ('F', 2), ('Cl', 1)]."""
    parts = re.findall(r"([A-Z][a-z]*)(\d*)", formula)
    if "".join(e + n for e, n in parts) != formula:
        raise ValueError(f"not a molecular formula: {formula!r}")
    return [(e, int(n) if n else 1) for e, n in parts]


def isomer_score(formula: str, mol: Chem.Mol, smiles_text: str | None = None) -> float:
    """GuacaMol's isomer score of `mol` against `formula`: the geometric mean of Gaussians on each
    element's count (hydrogens added; sigma 1) and on the total number of atoms (sigma 2).

    The total comes from the molecule with hydrogens added (pytdc >= 0.3.7, August 2022), or,
    when `smiles_text` is given, from the formula regex applied to that SMILES text, as pytdc
    0.3.6 and the PMO leaderboard did (pytdc 1.1.15 keeps it as `Isomer_scoring_prev`). The text
    count sees only upper-case atom symbols and reads ring-closure digits as counts (`C12` is
    12 carbons), so it depends on how the SMILES is written: mol_opt passed rdkit canonical SMILES.
    """
    counts = parse_formula(formula)
    with_h = Chem.AddHs(mol)
    symbols = [a.GetSymbol() for a in with_h.GetAtoms()]
    scores = [gaussian(symbols.count(e), n, 1.0) for e, n in counts]
    if smiles_text is None:
        total = with_h.GetNumAtoms()
    else:
        total = sum(int(n) if n else 1 for _, n in re.findall(r"([A-Z][a-z]*)(\d*)", smiles_text))
    scores.append(gaussian(total, sum(n for _, n in counts), 2.0))
    return math.prod(scores) ** (1.0 / len(scores))


@dataclass(kw_only=True)
class Isomer(MolecularObjective):
    """GuacaMol isomer score: geometric mean of Gaussians on each element's count (sigma 1)
    and on the total number of atoms (sigma 2).

    `leaderboard=False` (pytdc >= 0.3.7): the total counts the atoms with hydrogens added.
    `leaderboard=True` (pytdc 0.3.6, the PMO leaderboard; `isomers_*_prev`): the total is read
    off the rdkit canonical SMILES text (`isomer_score`), which random molecules score far lower.
    """

    formula: str
    leaderboard: bool = False

    @property
    def description(self) -> str:
        how = ("the leaderboard's atom total (pytdc 0.3.6)" if self.leaderboard
               else "the atom total with hydrogens (pytdc >= 0.3.7)")
        return f"isomers of {self.formula}: element counts and {how}"

    def score_mol(self, mol: Chem.Mol) -> float:
        return isomer_score(self.formula, mol, Chem.MolToSmiles(mol) if self.leaderboard else None)


def _sascorer():
    path = os.path.join(RDConfig.RDContribDir, "SA_Score")
    if path not in sys.path:
        sys.path.append(path)
    import sascorer  # rdkit's contrib scorer (Ertl & Schuffenhauer 2009)

    return sascorer


@dataclass(kw_only=True)
class SAScore(MolecularObjective):
    """Synthetic accessibility (1 easy ... 10 hard) from rdkit's contrib `sascorer`."""

    def score_mol(self, mol: Chem.Mol) -> float:
        return float(_sascorer().calculateScore(mol))


#: name -> factory, merged into `builtin_oracles()`.
GUACAMOL_OBJECTIVES: dict[str, Callable[[], MolecularObjective]] = {
    "sa": lambda: SAScore(name="sa"),
    "isomers_c7h8n2o2": lambda: Isomer(formula="C7H8N2O2", name="isomers_c7h8n2o2"),
    "isomers_c9h10n2o2pf2cl": lambda: Isomer(formula="C9H10N2O2PF2Cl", name="isomers_c9h10n2o2pf2cl"),
    "isomers_c7h8n2o2_prev": lambda: Isomer(formula="C7H8N2O2", leaderboard=True, name="isomers_c7h8n2o2_prev"),
    "isomers_c9h10n2o2pf2cl_prev": lambda: Isomer(formula="C9H10N2O2PF2Cl", leaderboard=True,
                                                  name="isomers_c9h10n2o2pf2cl_prev"),
    "albuterol_similarity": lambda: Similarity(target="CC(C)(C)NCC(O)c1ccc(O)c(CO)c1", fingerprint="FCFP4",
                                               threshold=0.75, name="albuterol_similarity"),
    "mestranol_similarity": lambda: Similarity(target="COc1ccc2[C@H]3CC[C@@]4(C)[C@@H](CC[C@@]4(O)C#C)[C@@H]3CCc2c1",
                                               fingerprint="AP", threshold=0.75, name="mestranol_similarity"),
}
