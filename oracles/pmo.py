"""The multi-property objectives of the PMO suite (MPOs, medians, hops, SMARTS), as PMO scored them.

Each objective is a mean (geometric, or arithmetic for the hops) of terms; a term maps a molecule
to [0, 1]: a Tanimoto similarity to a target (optionally modified), a modified descriptor, a
SMARTS match, or an isomer score. Definitions follow GuacaMol (Brown et al. 2019) as implemented
by the PMO reference library (pytdc 1.1.15), checked against its stored values (tests/oracles/data/).

pytdc 0.3.7 (August 2022) changed the isomer term, and with it four PMO objectives. Each comes in
both definitions, explicitly named:

    zaleplon_mpo_prev, sitagliptin_mpo_prev,          the PMO leaderboard's (mol_opt, pytdc 0.3.6):
    isomers_c7h8n2o2_prev, isomers_c9h10n2o2pf2cl_prev   total atom count read off the SMILES text
    zaleplon_mpo, sitagliptin_mpo,                    pytdc >= 0.3.7 (Genetic GFN: 0.4.0): total
    isomers_c7h8n2o2, isomers_c9h10n2o2pf2cl             atom count with hydrogens added

The `_prev` terms read the rdkit canonical SMILES of the design, which is what mol_opt's Oracle
passes to pytdc (`score_smi` canonicalises first); the text count depends on how a SMILES is
written (ring-closure digits are read as counts), so the canonical form makes it a function of
the molecule. They equal pytdc 1.1.15's `zaleplon_mpo_prev`, `sitagliptin_mpo_prev` and
`Isomer_scoring_prev(formula)`; see `benchmarks/pmo_reference.py` for how these relate to 0.3.6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Callable

from rdkit import Chem, DataStructs
from rdkit.Chem import Descriptors, rdMolDescriptors

from sciloop.oracles.base import OracleResult
from sciloop.oracles.guacamol import FINGERPRINTS, clipped, gaussian, isomer_score, parse_formula
from sciloop.oracles.molecular import MolecularObjective

#: A term scores a molecule (and its rdkit canonical SMILES) in [0, 1].
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


def isomer(formula: str, leaderboard: bool) -> Term:
    """The isomer term (`guacamol.isomer_score`): pytdc >= 0.3.7's, or with `leaderboard` the
    PMO leaderboard's, whose total atom count is read off the (canonical) SMILES text."""
    parse_formula(formula)  # fails early on a bad formula
    return lambda mol, smiles: isomer_score(formula, mol, smiles if leaderboard else None)


def phco_similarity(target: str, upper_x: float) -> Term:
    """Tanimoto similarity of Gobbi 2D pharmacophore fingerprints, clipped at `upper_x`: rdkit's
    `Gen2DFingerprint` bits, built fast (`pharm2d`)."""
    from rdkit.Chem.Pharm2D import Gobbi_Pharm2D

    from .pharm2d import Pharm2DFingerprint

    fp = Pharm2DFingerprint(Gobbi_Pharm2D.factory)
    target_fp = fp(Chem.MolFromSmiles(target))
    return lambda mol, _s: clipped(DataStructs.TanimotoSimilarity(fp(mol), target_fp), upper_x)


ZALEPLON = "O=C(C)N(CC)C1=CC=CC(C2=CC=NC3=C(C=NN23)C#N)=C1"
SITAGLIPTIN = "Fc1cc(c(F)cc1F)CC(N)CC(=O)N3Cc2nnc(n2CC3)C(F)(F)F"


def _sitagliptin_like() -> list[Term]:
    sita = Chem.MolFromSmiles(SITAGLIPTIN)
    return [prop(Descriptors.MolLogP, lambda x: gaussian(x, Descriptors.MolLogP(sita), 0.2)),
            prop(Descriptors.TPSA, lambda x: gaussian(x, Descriptors.TPSA(sita), 5.0))]


def _zaleplon(leaderboard: bool) -> list[Term]:
    return [similarity(ZALEPLON, "ECFP4"), isomer("C19H17N3O2", leaderboard)]


def _sitagliptin(leaderboard: bool) -> list[Term]:
    return [similarity(SITAGLIPTIN, "ECFP4", lambda v: gaussian(v, 0, 0.1)), *_sitagliptin_like(),
            isomer("C16H15F6N5O", leaderboard)]


_PHARMACOPHORE = "CCCOc1cc2ncnc(Nc3ccc4ncsc4c3)c2cc1S(=O)(=O)C(C)(C)C"
_QUINAZOLINE = "[#7]-c1n[c;h1]nc2[c;h1]c(-[#8])[c;h0][c;h1]c12"

#: The reference molecules of the multi-property objectives (similarity targets and descriptor
#: references); `reference_molecules()` adds the other PMO objectives' targets.
TARGETS: dict[str, str] = {
    "camphor": "CC1(C)C2CCC1(C)C(=O)C2",
    "menthol": "CC(C)C1CCC(C)CC1O",
    "tadalafil": "O=C1N(CC(N2C1CC3=C(C2C4=CC5=C(OCO5)C=C4)NC6=C3C=CC=C6)=O)C",
    "sildenafil": "CCCC1=NN(C2=C1N=C(NC2=O)C3=C(C=CC(=C3)S(=O)(=O)N4CCN(CC4)C)OCC)C",
    "osimertinib": "COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34",
    "fexofenadine": "CC(C)(C(=O)O)c1ccc(cc1)C(O)CCCN2CCC(CC2)C(O)(c3ccccc3)c4ccccc4",
    "ranolazine": "COc1ccccc1OCC(O)CN2CCN(CC(=O)Nc3c(C)cccc3C)CC2",
    "perindopril": "O=C(OCC)C(NC(C(=O)N1C(C(=O)O)CC2CCCCC12)C)CCC",
    "amlodipine": "Clc1ccccc1C2C(=C(/N/C(=C2/C(=O)OCC)COCCN)C)\\C(=O)OC",
    "zaleplon": ZALEPLON,
    "sitagliptin": SITAGLIPTIN,
    "sitagliptin_bertz": "NC(CC(=O)N1CCn2c(nnc2C(F)(F)F)C1)Cc1cc(F)c(F)cc1F",  # valsartan_smarts' BertzCT reference
    "hop_pharmacophore": _PHARMACOPHORE,  # deco_hop, scaffold_hop
}

#: name -> (terms builder, mean). Builders run lazily on the worker (fingerprints do not pickle).
PMO_SPECS: dict[str, tuple[Callable[[], list[Term]], str]] = {
    "median1": (lambda: [similarity(TARGETS["camphor"], "ECFP4"),
                         similarity(TARGETS["menthol"], "ECFP4")], "geometric"),
    "median2": (lambda: [similarity(TARGETS["tadalafil"], "ECFP6"),
                         similarity(TARGETS["sildenafil"], "ECFP6")], "geometric"),
    "osimertinib_mpo": (lambda: [
        prop(Descriptors.TPSA, max_gaussian(100, 10)), prop(Descriptors.MolLogP, min_gaussian(1, 1)),
        similarity(TARGETS["osimertinib"], "FCFP4", lambda v: clipped(v, 0.8)),
        similarity(TARGETS["osimertinib"], "ECFP6", min_gaussian(0.85, 0.1))], "geometric"),
    "fexofenadine_mpo": (lambda: [
        prop(Descriptors.TPSA, max_gaussian(90, 10)), prop(Descriptors.MolLogP, min_gaussian(4, 1)),
        similarity(TARGETS["fexofenadine"], "AP", lambda v: clipped(v, 0.8))], "geometric"),
    "ranolazine_mpo": (lambda: [
        prop(Descriptors.TPSA, max_gaussian(95, 20)), prop(Descriptors.MolLogP, max_gaussian(7, 1)),
        similarity(TARGETS["ranolazine"], "AP", lambda v: clipped(v, 0.7)),
        prop(lambda m: sum(a.GetSymbol() == "F" for a in m.GetAtoms()), lambda x: gaussian(x, 1, 1.0))],
        "geometric"),
    "perindopril_mpo": (lambda: [
        similarity(TARGETS["perindopril"], "ECFP4"),
        prop(rdMolDescriptors.CalcNumAromaticRings, lambda x: gaussian(x, 2, 0.5))], "geometric"),
    "amlodipine_mpo": (lambda: [
        similarity(TARGETS["amlodipine"], "ECFP4"),
        prop(rdMolDescriptors.CalcNumRings, lambda x: gaussian(x, 3, 0.5))], "geometric"),
    "zaleplon_mpo": (partial(_zaleplon, leaderboard=False), "geometric"),
    "zaleplon_mpo_prev": (partial(_zaleplon, leaderboard=True), "geometric"),
    "sitagliptin_mpo": (partial(_sitagliptin, leaderboard=False), "geometric"),
    "sitagliptin_mpo_prev": (partial(_sitagliptin, leaderboard=True), "geometric"),
    "valsartan_smarts": (lambda: [
        smarts("CN(C=O)Cc1ccc(c2ccccc2)cc1"), *_sitagliptin_like(),
        prop(Descriptors.BertzCT, lambda x: gaussian(
            x, Descriptors.BertzCT(Chem.MolFromSmiles(TARGETS["sitagliptin_bertz"])), 30))],
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

    @property
    def description(self) -> str:
        terms = PMO_SPECS[self.spec][0]()
        how = "geometric mean" if PMO_SPECS[self.spec][1] == "geometric" else "mean"
        prev = self.spec.endswith("_prev")
        changed = self.spec.removesuffix("_prev") in ("zaleplon_mpo", "sitagliptin_mpo")
        definition = "" if not changed else (", the leaderboard's isomer term (pytdc 0.3.6)" if prev
                                             else ", pytdc >= 0.3.7's isomer term")
        return f"PMO {self.spec}: {how} of {len(terms)} terms (oracles/pmo.py){definition}"

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
            text = Chem.MolToSmiles(mol)  # as mol_opt's Oracle passes it (read by the `_prev` terms)
            scores = [t(mol, text) for t in self._terms]
            value = (math.prod(scores) ** (1.0 / len(scores)) if geometric else sum(scores) / len(scores))
            out.append(OracleResult.from_value(value))
        return out


PMO_OBJECTIVES: dict[str, Callable[[], MultiProperty]] = {
    name: (lambda n=name: MultiProperty(spec=n, name=n)) for name in PMO_SPECS}


#: The objectives whose definition pytdc 0.3.7 changed: each is built in as `<name>` (pytdc >= 0.3.7)
#: and `<name>_prev` (the PMO leaderboard's, pytdc 0.3.6).
CHANGED_2022 = ("isomers_c7h8n2o2", "isomers_c9h10n2o2pf2cl", "sitagliptin_mpo", "zaleplon_mpo")


def reference_molecules() -> dict[str, str]:
    """Every molecule a PMO objective compares designs to (rediscovery and similarity targets,
    MPO references), by name: no library, corpus or prior may contain one of them.

    The isomer objectives have no reference molecule (every isomer of the formula scores 1).
    """
    from sciloop.oracles.guacamol import GUACAMOL_OBJECTIVES, Similarity
    from sciloop.oracles.molecular import REDISCOVERY_TARGETS

    out = dict(REDISCOVERY_TARGETS)
    for name in ("albuterol_similarity", "mestranol_similarity"):
        oracle = GUACAMOL_OBJECTIVES[name]()
        assert isinstance(oracle, Similarity)
        out[name.removesuffix("_similarity")] = oracle.target
    return out | TARGETS
