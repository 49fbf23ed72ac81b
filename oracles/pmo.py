"""The multi-property objectives of the PMO suite (MPOs, medians, hops, SMARTS), as PMO scored them.

Each objective is a mean (geometric, or arithmetic for the hops) of terms; a term maps a molecule
to [0, 1]: a Tanimoto similarity to a target (optionally modified), a modified descriptor, a
SMARTS match, or an isomer score. Definitions follow GuacaMol (Brown et al. 2019) as
implemented by the PMO leaderboard's reference (pytdc 1.1.15); zaleplon and sitagliptin use that
library's `zaleplon_mpo_prev` and `sitagliptin_mpo_prev` (the leaderboard's), whose isomer term
counts the atoms of the formula read off the SMILES text itself (pytdc's newer terms score random
molecules far higher: README, "PMO"). Checked against stored reference values (tests/oracles/data/).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Callable

from rdkit import Chem, DataStructs
from rdkit.Chem import Descriptors, rdMolDescriptors

from sciloop.oracles.base import OracleResult
from sciloop.oracles.guacamol import FINGERPRINTS, clipped, gaussian, parse_formula
from sciloop.oracles.molecular import MolecularObjective

#: A term scores a molecule (and its SMILES as given) in [0, 1].
Term = Callable[[Chem.Mol, str], float]


def min_gaussian(mu: float, sigma: float) -> Callable[[float], float]:
    """1 for x <= mu, a Gaussian decay above (GuacaMol's MinGaussianModifier)."""
    return lambda x: gaussian(max(x, mu), mu, sigma)


def max_gaussian(mu: float, sigma: float) -> Callable[[float], float]:
    """1 for x >= mu, a Gaussian decay below (GuacaMol's MaxGaussianModifier)."""
    return lambda x: gaussian(min(x, mu), mu, sigma)


def similarity(target: str, fp: str, modifier: Callable[[float], float] | None = None) -> Term:
    fn = FINGERPRINTS[fp]
    target_fp = fn(Chem.MolFromSmiles(target))
    return lambda mol, _s: (lambda v: v if modifier is None else modifier(v))(
        DataStructs.TanimotoSimilarity(target_fp, fn(mol)))


def prop(fn: Callable[[Chem.Mol], float], modifier: Callable[[float], float]) -> Term:
    return lambda mol, _s: modifier(fn(mol))


def smarts(pattern: str, inverse: bool = False) -> Term:
    query = Chem.MolFromSmarts(pattern)
    return lambda mol, _s: float(mol.HasSubstructMatch(query) != inverse)


def isomer_from_smiles_text(formula: str) -> Term:
    """The leaderboard's zaleplon and sitagliptin isomer term: element counts from the molecule
    (H added), but the total number of atoms from the formula regex applied to the SMILES text."""
    counts = parse_formula(formula)
    total = sum(n for _, n in counts)

    def term(mol: Chem.Mol, smiles: str) -> float:
        with_h = Chem.AddHs(mol)
        symbols = [a.GetSymbol() for a in with_h.GetAtoms()]
        scores = [gaussian(symbols.count(e), n, 1.0) for e, n in counts]
        text_total = sum(int(n) if n else 1 for _, n in re.findall(r"([A-Z][a-z]*)(\d*)", smiles))
        scores.append(gaussian(text_total, total, 2.0))
        return math.prod(scores) ** (1.0 / len(scores))

    return term


def phco_similarity(target: str, upper_x: float) -> Term:
    from rdkit.Chem.Pharm2D import Generate, Gobbi_Pharm2D

    def fp(mol: Chem.Mol):
        return Generate.Gen2DFingerprint(mol, Gobbi_Pharm2D.factory)

    target_fp = fp(Chem.MolFromSmiles(target))
    return lambda mol, _s: clipped(DataStructs.TanimotoSimilarity(fp(mol), target_fp), upper_x)


def _sitagliptin_like() -> list[Term]:
    sita = Chem.MolFromSmiles("Fc1cc(c(F)cc1F)CC(N)CC(=O)N3Cc2nnc(n2CC3)C(F)(F)F")
    return [prop(Descriptors.MolLogP, lambda x: gaussian(x, Descriptors.MolLogP(sita), 0.2)),
            prop(Descriptors.TPSA, lambda x: gaussian(x, Descriptors.TPSA(sita), 5.0))]


_PHARMACOPHORE = "CCCOc1cc2ncnc(Nc3ccc4ncsc4c3)c2cc1S(=O)(=O)C(C)(C)C"
_QUINAZOLINE = "[#7]-c1n[c;h1]nc2[c;h1]c(-[#8])[c;h0][c;h1]c12"

#: name -> (terms builder, mean). Builders run lazily on the worker (fingerprints do not pickle).
PMO_SPECS: dict[str, tuple[Callable[[], list[Term]], str]] = {
    "median1": (lambda: [similarity("CC1(C)C2CCC1(C)C(=O)C2", "ECFP4"),
                         similarity("CC(C)C1CCC(C)CC1O", "ECFP4")], "geometric"),
    "median2": (lambda: [similarity("O=C1N(CC(N2C1CC3=C(C2C4=CC5=C(OCO5)C=C4)NC6=C3C=CC=C6)=O)C", "ECFP6"),
                         similarity("CCCC1=NN(C2=C1N=C(NC2=O)C3=C(C=CC(=C3)S(=O)(=O)N4CCN(CC4)C)OCC)C", "ECFP6")],
                "geometric"),
    "osimertinib_mpo": (lambda: [
        prop(Descriptors.TPSA, max_gaussian(100, 10)), prop(Descriptors.MolLogP, min_gaussian(1, 1)),
        similarity("COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34", "FCFP4",
                   lambda v: clipped(v, 0.8)),
        similarity("COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34", "ECFP6",
                   min_gaussian(0.85, 0.1))], "geometric"),
    "fexofenadine_mpo": (lambda: [
        prop(Descriptors.TPSA, max_gaussian(90, 10)), prop(Descriptors.MolLogP, min_gaussian(4, 1)),
        similarity("CC(C)(C(=O)O)c1ccc(cc1)C(O)CCCN2CCC(CC2)C(O)(c3ccccc3)c4ccccc4", "AP",
                   lambda v: clipped(v, 0.8))], "geometric"),
    "ranolazine_mpo": (lambda: [
        prop(Descriptors.TPSA, max_gaussian(95, 20)), prop(Descriptors.MolLogP, max_gaussian(7, 1)),
        similarity("COc1ccccc1OCC(O)CN2CCN(CC(=O)Nc3c(C)cccc3C)CC2", "AP", lambda v: clipped(v, 0.7)),
        prop(lambda m: sum(a.GetSymbol() == "F" for a in m.GetAtoms()), lambda x: gaussian(x, 1, 1.0))],
        "geometric"),
    "perindopril_mpo": (lambda: [
        similarity("O=C(OCC)C(NC(C(=O)N1C(C(=O)O)CC2CCCCC12)C)CCC", "ECFP4"),
        prop(rdMolDescriptors.CalcNumAromaticRings, lambda x: gaussian(x, 2, 0.5))], "geometric"),
    "amlodipine_mpo": (lambda: [
        similarity("Clc1ccccc1C2C(=C(/N/C(=C2/C(=O)OCC)COCCN)C)\\C(=O)OC", "ECFP4"),
        prop(rdMolDescriptors.CalcNumRings, lambda x: gaussian(x, 3, 0.5))], "geometric"),
    "zaleplon_mpo": (lambda: [similarity("O=C(C)N(CC)C1=CC=CC(C2=CC=NC3=C(C=NN23)C#N)=C1", "ECFP4"),
                              isomer_from_smiles_text("C19H17N3O2")], "geometric"),
    "sitagliptin_mpo": (lambda: [
        similarity("Fc1cc(c(F)cc1F)CC(N)CC(=O)N3Cc2nnc(n2CC3)C(F)(F)F", "ECFP4", lambda v: gaussian(v, 0, 0.1)),
        *_sitagliptin_like(), isomer_from_smiles_text("C16H15F6N5O")], "geometric"),
    "valsartan_smarts": (lambda: [
        smarts("CN(C=O)Cc1ccc(c2ccccc2)cc1"), *_sitagliptin_like(),
        prop(Descriptors.BertzCT, lambda x: gaussian(
            x, Descriptors.BertzCT(Chem.MolFromSmiles("NC(CC(=O)N1CCn2c(nnc2C(F)(F)F)C1)Cc1cc(F)c(F)cc1F")), 30))],
        "geometric"),
    "deco_hop": (lambda: [phco_similarity(_PHARMACOPHORE, 0.85), smarts("CS([#6])(=O)=O", inverse=True),
                          smarts("[#7]-c1ccc2ncsc2c1", inverse=True), smarts(_QUINAZOLINE)], "arithmetic"),
    "scaffold_hop": (lambda: [
        phco_similarity(_PHARMACOPHORE, 0.75),
        smarts("[#6]-[#6]-[#6]-[#8]-[#6]~[#6]~[#6]~[#6]~[#6]-[#7]-c1ccc2ncsc2c1"),
        smarts(_QUINAZOLINE, inverse=True)], "arithmetic"),
}


@dataclass(kw_only=True)
class MultiProperty(MolecularObjective):
    """A PMO objective from `PMO_SPECS`: the mean of its terms."""

    spec: str
    _terms: list[Term] | None = field(default=None, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict:  # rdkit fingerprints do not pickle: rebuilt on the worker
        return self.__dict__ | {"_terms": None}

    def score(self, batch: list[str]) -> list[OracleResult]:
        if self._terms is None:
            self._terms = PMO_SPECS[self.spec][0]()
        geometric = PMO_SPECS[self.spec][1] == "geometric"
        out = []
        for smiles in batch:
            mol = Chem.MolFromSmiles(smiles) if smiles else None
            if mol is None:
                out.append(OracleResult.failure("invalid design"))
                continue
            scores = [t(mol, smiles) for t in self._terms]
            value = (math.prod(scores) ** (1.0 / len(scores)) if geometric else sum(scores) / len(scores))
            out.append(OracleResult.from_value(value))
        return out


PMO_OBJECTIVES: dict[str, Callable[[], MultiProperty]] = {
    name: (lambda n=name: MultiProperty(spec=n, name=n)) for name in PMO_SPECS}
