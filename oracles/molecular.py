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


@dataclass
class Rediscovery:
    """GuacaMol-style rediscovery: Tanimoto similarity of ECFP4 count fingerprints to a target.

    Random library molecules score about 0.1-0.3; only the target itself scores 1.0.
    The rdkit fingerprint generator does not pickle, so it is rebuilt lazily on each worker.
    """

    target: str
    name: str = "rediscovery"
    num_cpus: float = 0.5
    num_gpus: float = 0.0
    timeout_s: float | None = 60.0
    batch_size: int = 50
    idempotent: bool = True
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def _fp(self, mol: Chem.Mol):
        gen = self._cache.get("gen")
        if gen is None:
            gen = self._cache["gen"] = rdFingerprintGenerator.GetMorganGenerator(radius=2)
        return gen.GetSparseCountFingerprint(mol)

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_cache"} | {"_cache": {}}

    def score(self, batch: list[str]) -> list[OracleResult]:
        if "target" not in self._cache:
            target = Chem.MolFromSmiles(self.target)
            if target is None:
                raise ValueError(f"rediscovery target is not a valid SMILES: {self.target!r}")
            self._cache["target"] = self._fp(target)
        out = []
        for smiles in batch:
            mol = Chem.MolFromSmiles(smiles) if smiles else None
            if mol is None:
                out.append(OracleResult.failure("invalid design"))
            else:
                sim = DataStructs.TanimotoSimilarity(self._cache["target"], self._fp(mol))
                out.append(OracleResult(float(sim)))
        return out


@dataclass
class Descriptor:
    """A per-molecule rdkit descriptor (QED, logP) as an oracle."""

    fn: Callable[[Chem.Mol], float]
    name: str = "descriptor"
    num_cpus: float = 0.5
    num_gpus: float = 0.0
    timeout_s: float | None = 60.0
    batch_size: int = 50
    idempotent: bool = True

    def score(self, batch: list[str]) -> list[OracleResult]:
        out = []
        for smiles in batch:
            mol = Chem.MolFromSmiles(smiles) if smiles else None
            out.append(OracleResult.failure("invalid design") if mol is None
                       else OracleResult.from_value(self.fn(mol)))
        return out


def _logp(mol: Chem.Mol) -> float:
    from rdkit.Chem import Crippen

    return Crippen.MolLogP(mol)


def builtin_oracles() -> dict[str, Callable[[], object]]:
    """Factories of the built-in objectives, by config name."""
    table: dict[str, Callable[[], object]] = {
        f"{name}_rediscovery": (lambda s=smiles, n=name: Rediscovery(s, name=f"{n}_rediscovery"))
        for name, smiles in REDISCOVERY_TARGETS.items()
    }
    table["qed"] = lambda: Descriptor(QED.qed, name="qed")
    table["logp"] = lambda: Descriptor(_logp, name="logp")
    return table
