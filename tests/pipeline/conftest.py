"""A tiny campaign config shared by the end-to-end tests (seconds per round on 2 cores)."""

import copy

import pytest

TINY = {
    "name": "tiny", "seed": 7, "rounds": 2, "batch_size": 8,
    "initial": {"size": 16},
    "oracle": {"target": "qed", "batch_size": 4, "num_cpus": 0.5},
    "surrogate": {"members": 4, "hidden": 32, "epochs": 20},
    "proposer": {"steps": 4, "batch_size": 16, "hidden": 32, "max_len": 20,
                 "pretrain_steps": 5, "num_actors": 2, "pool_factor": 3},
    "tracking": {"experiment": "tiny"},
}


@pytest.fixture
def tiny() -> dict:
    """A fresh copy of the tiny campaign config (edit freely)."""
    return copy.deepcopy(TINY)


@pytest.fixture(scope="module")
def tiny_for_module() -> dict:
    """The same, for module-scoped fixtures."""
    return copy.deepcopy(TINY)
