"""The run directory's checkpoints (`pipeline.checkpoints`): durable writes, one copy, resume's pick."""

import pytest
import torch

from sciloop.pipeline.checkpoints import Checkpoints
from sciloop.pipeline.config import load_config
from sciloop.pipeline.proposer_registry import PROPOSERS, make_proposer

LIBRARY = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCOC", "CCCl", "OCCO", "NCCN"]


def test_write_prune_latest_and_final(tmp_path):
    store = Checkpoints(tmp_path / "checkpoints")
    assert store.latest("proposer", 5) is None and store.final() == []
    for r in (1, 2, 3):
        for kind in ("proposer", "surrogate"):
            store.write(kind, r, {"round": r, "w": torch.ones(2) * r})
    assert not list(store.folder.glob("*.tmp"))  # renamed into place
    assert torch.load(store.latest("proposer", 3), weights_only=True)["round"] == 2  # before round 3
    store.prune(2)  # round 2 finished: round 1's go, round 3's (in progress) stay
    assert [p.name for p in store.final()] == ["proposer-round-002.pt", "proposer-round-003.pt",
                                               "surrogate-round-002.pt", "surrogate-round-003.pt"]
    assert store.latest("proposer", 2) is None  # round 2 crashed again: nothing older is left
    (store.folder / "proposer-round-010.pt").write_bytes(b"")
    assert store.latest("proposer", 100).name == "proposer-round-010.pt"  # by round number, not name order


MOLECULE_PROPOSERS = sorted(n for n, e in PROPOSERS.items() if e.domains is None or "molecule" in e.domains)


@pytest.mark.parametrize("name", MOLECULE_PROPOSERS)
def test_every_proposer_state_loads_as_resume_loads_it(tmp_path, name):
    """Resume reads a checkpoint with `weights_only` (it runs no code): every proposer's state
    must be tensors and plain containers."""
    config = load_config({"proposer": {"name": name, "hidden": 16, "max_len": 20, "num_actors": 0,
                                       "pretrain_steps": 0}})
    store = Checkpoints(tmp_path / "checkpoints")
    store.write("proposer", 1, make_proposer(config, LIBRARY, None).state_dict())
    again = make_proposer(config, LIBRARY, None)
    again.load_state_dict(store.load("proposer", 2))
    assert store.load("proposer", 1) is None


def test_a_genetic_checkpoint_of_the_previous_version_still_resumes(tmp_path):
    """Written before 2026-12-07, a genetic proposer's state held its settings as a dataclass."""
    from dataclasses import replace

    from sciloop.proposers.genetic import GeneticConfig

    config = load_config({"proposer": {"name": "genetic"}})
    proposer = make_proposer(config, LIBRARY, None)
    old = proposer.state_dict() | {"config": replace(proposer.config, population_size=7)}
    store = Checkpoints(tmp_path / "checkpoints")
    store.write("proposer", 1, old)
    with pytest.raises(Exception, match="Weights only load failed"):
        store.load("proposer", 2)  # what resume hit
    again = make_proposer(config, LIBRARY, None)
    again.load_state_dict(store.load("proposer", 2, allowed=[GeneticConfig]))
    assert again.config.population_size == 7
