"""Fixtures for the proposer tests: a real molecule corpus."""

import os

import pytest
import rdkit
import torch


@pytest.fixture(scope="session")
def nci_smiles() -> list[str]:
    """SMILES of rdkit's bundled NCI sample (first column of first_5K.smi)."""
    path = os.path.join(os.path.dirname(rdkit.__file__), "Data", "NCI", "first_5K.smi")
    with open(path) as fh:
        return [line.split()[0] for line in fh if line.strip()]


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: the machine is shared, and tiny networks gain nothing from more."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
