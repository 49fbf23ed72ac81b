"""The config turned into a round's parts (`pipeline.builders`)."""

from pathlib import Path

import pytest
import torch

from sciloop.pipeline.builders import fit_surrogate, surrogate_featurizer
from sciloop.pipeline.proposer_registry import make_proposer
from sciloop.pipeline.config import load_config
from sciloop.proposers.genetic import GeneticProposer, MixtureProposer
from sciloop.proposers.gflownet import GFlowNetProposer
from sciloop.proposers.offspring import OffspringProposer
from sciloop.proposers.screening import ScreeningProposer
from sciloop.surrogates.featurizers import MorganFeaturizer
from sciloop.surrogates.graphs import GraphFeaturizer

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCOC", "CN(C)C", "c1ccncc1", "CCCl", "OCCO", "CCC(=O)N"]
SMALL = {"proposer": {"hidden": 16, "max_len": 12, "num_actors": 0, "pretrain_steps": 2}}


@pytest.mark.parametrize("name, kind", [("screening", ScreeningProposer), ("genetic", GeneticProposer),
                                        ("gflownet", GFlowNetProposer), ("gflownet+genetic", MixtureProposer),
                                        ("offspring", OffspringProposer)])
def test_make_proposer_builds_the_named_one_and_pretrains_only_when_asked(name, kind):
    config = load_config(SMALL, [f"proposer.name={name}"])
    calls = []
    assert isinstance(make_proposer(config, LIBRARY, lambda p, steps: calls.append(steps)), kind)
    assert calls == ([2] if "gflownet" in name else [])
    before = list(calls)
    make_proposer(config, LIBRARY, None)  # a resume: no pretraining
    assert calls == before


def test_the_shipped_prior_replaces_pretraining():
    config = load_config(ROOT / "configs" / "pmo.yaml", ["proposer.name=gflownet", "proposer.num_actors=0"])
    state = torch.load(config.proposer.prior_checkpoint, weights_only=False)
    proposer = make_proposer(config, LIBRARY, lambda p, steps: pytest.fail("pretrained despite the prior"))
    assert proposer.env.state_dict() == state["env"] and proposer.prior is not None
    assert state["meta"]["held_out_nll"] < 30 and state["meta"]["steps"] >= 1000


def test_fit_surrogate_in_process_and_featurizers():
    config = load_config({"surrogate": {"members": 2, "hidden": 8, "epochs": 3}})
    featurizer = surrogate_featurizer(config)
    surrogate, stats, where = fit_surrogate(config, featurizer, LIBRARY, [float(len(s)) for s in LIBRARY], 1)
    assert where is None and stats["n_train"] == len(LIBRARY) and surrogate.predict(["CCCC"])[0].shape == (1,)
    assert isinstance(featurizer, MorganFeaturizer)
    assert isinstance(surrogate_featurizer(load_config({"surrogate": {"member": "gnn"}})), GraphFeaturizer)
