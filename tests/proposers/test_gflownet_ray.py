"""GFlowNetProposer on Ray sampler actors: two actors sample, then release their CPUs."""

import time

import pytest
import torch

from sciloop.proposers.gflownet import GFlowNetConfig, GFlowNetProposer


def log_reward(smiles: list[str]) -> torch.Tensor:
    return torch.tensor([float(s.count("N")) for s in smiles])


def config(**overrides) -> GFlowNetConfig:
    base = dict(num_actors=2, actor_num_cpus=0.5, hidden=32, num_layers=1, max_len=20,
                batch_size=32, seed=11)
    return GFlowNetConfig(**{**base, **overrides})


def wait_for_cpus(ray, expected: float, timeout: float = 20.0) -> float:
    deadline = time.monotonic() + timeout
    while True:
        cpus = ray.available_resources().get("CPU", 0.0)
        if cpus == expected or time.monotonic() > deadline:
            return cpus


def test_two_actors_sample_and_are_released(ray_session, nci_smiles):
    ray = ray_session
    proposer = GFlowNetProposer.from_corpus(nci_smiles[:500], config())
    steps = []
    metrics = proposer.train(log_reward, steps=3, progress=lambda s, m: steps.append(s))
    assert steps == [1, 2, 3] and metrics["steps"] == 3
    assert len(proposer.sampler_actors) == 2  # two distinct actors drew trajectories
    assert proposer.sampler_nodes == [ray.get_runtime_context().get_node_id()]
    assert wait_for_cpus(ray, 2.0) == 2.0

    designs = proposer.sample(25)
    assert len(designs) == 25 and all(designs)
    assert len(proposer.sampler_actors) == 2
    assert wait_for_cpus(ray, 2.0) == 2.0  # both actors (0.5 CPU each) are gone


def test_same_seed_same_samples_on_actors(ray_session, nci_smiles):
    runs = []
    for _ in range(2):
        proposer = GFlowNetProposer.from_corpus(nci_smiles[:500], config())
        with proposer.samplers():  # one actor start-up for train and sample
            proposer.train(log_reward, steps=2)
            trained_on = proposer.sampler_actors
            runs.append(proposer.sample(20))
            assert proposer.sampler_actors == trained_on
            assert wait_for_cpus(ray_session, 1.0) == 1.0  # 2 x 0.5 held
        assert wait_for_cpus(ray_session, 2.0) == 2.0
    assert runs[0] == runs[1]


def test_without_ray_initialised_actors_fail_clearly(nci_smiles, monkeypatch):
    from sciloop.proposers import actors

    monkeypatch.setattr(actors.ray, "is_initialized", lambda: False)
    proposer = GFlowNetProposer.from_corpus(nci_smiles[:100], config())
    with pytest.raises(RuntimeError, match="ray.init"):
        proposer.sample(4)
