"""Fixtures for the proposer tests: a real molecule corpus and a tiny exact world."""

import itertools
import os

import pytest
import rdkit
import torch

from sciloop.proposers.selfies_env import SelfiesEnv


@pytest.fixture(scope="session")
def nci_smiles() -> list[str]:
    """SMILES of rdkit's bundled NCI sample (first column of first_5K.smi)."""
    path = os.path.join(os.path.dirname(rdkit.__file__), "Data", "NCI", "first_5K.smi")
    with open(path) as fh:
        return [line.split()[0] for line in fh if line.strip()]


@pytest.fixture(scope="session")
def enumerate_sequences():
    """Function: every terminal sequence of an env (1..max_len tokens), EOS-padded."""

    def enumerate_(env: SelfiesEnv) -> torch.Tensor:
        rows = [s for n in range(1, env.max_len + 1)
                for s in itertools.product(range(1, env.vocab_size), repeat=n)]
        out = torch.full((len(rows), env.max_len), env.eos, dtype=torch.long)
        for i, s in enumerate(rows):
            out[i, : len(s)] = torch.tensor(s)
        return out

    return enumerate_
