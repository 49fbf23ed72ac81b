"""Fixtures for the surrogate tests: a small labelled molecule set and one fitted surrogate."""

import os

import pytest
import rdkit
from rdkit import Chem, rdBase
from rdkit.Chem import Descriptors

from sciloop.surrogates import EnsembleConfig, EnsembleSurrogate, MorganFeaturizer

NCI = os.path.join(os.path.dirname(rdkit.__file__), "Data", "NCI", "first_5K.smi")

#: Small enough to keep the folder fast on 2 shared cores, large enough to learn MolLogP;
#: one torch thread (two threads on a loaded machine were 20x slower).
SMALL = EnsembleConfig(members=5, hidden=64, layers=2, epochs=60, batch_size=128, seed=0,
                       num_threads=1)


@pytest.fixture(scope="session")
def logp_data() -> tuple[list[str], list[float]]:
    """500 canonical SMILES from rdkit's bundled NCI file, labelled with MolLogP."""
    smiles, labels = [], []
    with open(NCI) as fh, rdBase.BlockLogs():
        for line in fh:
            mol = Chem.MolFromSmiles(line.split()[0])
            if mol is None or mol.GetNumAtoms() == 0:
                continue
            smiles.append(Chem.MolToSmiles(mol))
            labels.append(Descriptors.MolLogP(mol))
            if len(smiles) == 500:
                break
    return smiles, labels


@pytest.fixture(scope="session")
def fitted(logp_data) -> tuple[EnsembleSurrogate, dict]:
    """A surrogate fitted on the first 300 molecules (the rest are held out)."""
    smiles, labels = logp_data
    surrogate = EnsembleSurrogate(MorganFeaturizer(), SMALL)
    stats = surrogate.fit(smiles[:300], labels[:300])
    return surrogate, stats
