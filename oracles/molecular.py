"""Built-in molecular objectives computed with rdkit only (no downloaded models)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from rdkit import Chem, DataStructs, RDLogger
from rdkit.Chem import QED, rdFingerprintGenerator

from sciloop.oracles.base import OracleResult

RDLogger.DisableLog("rdApp.*")

#: Reference molecules of the GuacaMol / PMO rediscovery tasks.
REDISCOVERY_TARGETS = {
    "celecoxib": "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F",
    "troglitazone": "Cc1c(C)c2OC(C)(COc3ccc(CC4SC(=O)NC4=O)cc3)CCc2c(C)c1O",
    "thiothixene": "CN(C)S(=O)(=O)c1ccc2Sc3ccccc3C(=CCCN4CCN(C)CC4)c2c1",
}


@dataclass(kw_only=True)
class MolecularObjective:
    """Base of the rdkit objectives: parse each SMILES, score the molecule, fail invalid ones."""

    name: str = "molecular"
    num_objectives: int = 1
    num_cpus: float = 0.5
    num_gpus: float = 0.0
    timeout_s: float | None = 60.0
    batch_size: int = 50
    idempotent: bool = True

    @property
    def description(self) -> str:
        """One line for `sciloop oracles` (the class's first docstring line unless overridden)."""
        doc = (type(self).__doc__ or "").strip()
        return doc.splitlines()[0] if doc else self.name

    def score_mol(self, mol: Chem.Mol) -> float:
        raise NotImplementedError

    def score(self, batch: list[str]) -> list[OracleResult]:
        out = []
        for smiles in batch:
            mol = Chem.MolFromSmiles(smiles) if smiles else None
            out.append(OracleResult.failure("invalid design") if mol is None
                       else OracleResult.from_value(self.score_mol(mol)))
        return out


@dataclass(kw_only=True)
class Rediscovery(MolecularObjective):
    """GuacaMol-style rediscovery: Tanimoto similarity of ECFP4 count fingerprints to a target.

    Random library molecules score about 0.1-0.3; only the target itself scores 1.0.
    The rdkit fingerprint generator does not pickle, so it is rebuilt lazily on each worker.
    """

    target: str
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def description(self) -> str:
        return f"rediscovery: Tanimoto similarity (ECFP4 counts) to {self.target}"

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_cache"} | {"_cache": {}}

    def _fp(self, mol: Chem.Mol):
        if "gen" not in self._cache:
            self._cache["gen"] = rdFingerprintGenerator.GetMorganGenerator(radius=2)
        return self._cache["gen"].GetSparseCountFingerprint(mol)

    def score_mol(self, mol: Chem.Mol) -> float:
        if "target" not in self._cache:
            target = Chem.MolFromSmiles(self.target)
            if target is None:
                raise ValueError(f"rediscovery target is not a valid SMILES: {self.target!r}")
            self._cache["target"] = self._fp(target)
        return DataStructs.TanimotoSimilarity(self._cache["target"], self._fp(mol))


@dataclass(kw_only=True)
class Descriptor(MolecularObjective):
    """A per-molecule rdkit descriptor (QED, logP) as an oracle."""

    fn: Callable[[Chem.Mol], float]

    @property
    def description(self) -> str:
        return f"the rdkit descriptor {self.name} of each molecule"

    def score_mol(self, mol: Chem.Mol) -> float:
        return self.fn(mol)


def _logp(mol: Chem.Mol) -> float:
    from rdkit.Chem import Crippen

    return Crippen.MolLogP(mol)


def builtin_oracles() -> dict[str, Callable[[], object]]:
    """Factories of the built-in objectives, by config name."""
    table: dict[str, Callable[[], object]] = {
        f"{name}_rediscovery": (lambda s=smiles, n=name: Rediscovery(target=s, name=f"{n}_rediscovery"))
        for name, smiles in REDISCOVERY_TARGETS.items()
    }
    table["qed"] = lambda: Descriptor(fn=QED.qed, name="qed")
    table["logp"] = lambda: Descriptor(fn=_logp, name="logp")
    from sciloop.oracles.guacamol import GUACAMOL_OBJECTIVES  # imports this module: kept local

    from sciloop.oracles.pmo import PMO_OBJECTIVES

    table.update(GUACAMOL_OBJECTIVES)
    table.update(PMO_OBJECTIVES)
    return table
