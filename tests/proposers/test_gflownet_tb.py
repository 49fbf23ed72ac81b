"""The molecule proposer on a tiny enumerable SELFIES world: the exact terminal distribution.

Alphabet {[C], [N], [O]}, at most 3 tokens: 39 molecules-as-sequences. The target is
enumerated and the GRU policy's terminal distribution computed by dynamic programming
(`exact.py`, no sampling); sum-L1 over sequences, not the mean over states.
"""

import pytest
import torch

from sciloop.proposers.exact import enumerate_states, l1, target_distribution, terminal_distribution
from sciloop.proposers.gflownet import GFlowNetConfig, GFlowNetProposer
from sciloop.proposers.selfies_env import SelfiesEnv


def log_reward(smiles: list[str]) -> torch.Tensor:
    return torch.tensor([1.5 * s.count("N") - 0.5 * s.count("O") for s in smiles])


def tiny_world():
    env = SelfiesEnv.from_corpus(["C", "N", "O"], max_len=3)
    graph = enumerate_states(env)
    return env, graph


def config(**overrides) -> GFlowNetConfig:
    base = dict(num_actors=0, hidden=32, num_layers=1, lr=1e-2, lr_log_z=0.1, epsilon=0.1,
                batch_size=64, seed=0, replay_fraction=0.25)
    return GFlowNetConfig(**{**base, **overrides})


@pytest.mark.parametrize("objective,offline,steps", [
    ("tb", (), 200), ("tb", ("NNN", "CNO", "C"), 200), ("subtb", (), 300)])
def test_proposer_matches_exact_target(objective, offline, steps):
    env, graph = tiny_world()
    states, p_star, log_z_star = target_distribution(
        env, lambda x: log_reward(env.to_designs(x)), graph)
    assert len(states) == 3 + 9 + 27

    proposer = GFlowNetProposer(env, config(objective=objective))
    metrics = proposer.train(log_reward, steps=steps, offline=offline)
    assert metrics["num_offline"] == (16 if offline else 0)

    _, p_theta = terminal_distribution(env, proposer.policy, graph)
    assert p_theta.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert l1(p_theta, p_star) < 0.05
    assert abs(proposer.trainer.log_partition() - log_z_star) < 0.1


@pytest.mark.parametrize("objective", ["tb", "db"])
def test_prior_weight_targets_prior_times_reward(objective):
    """With prior_weight w, the target is p_prior(x)^w R(x) / Z, p_prior the pretrained policy."""
    env, graph = tiny_world()
    corpus = ["CCC", "CC", "CCO", "CCC", "C"]  # a prior that likes carbon chains
    proposer = GFlowNetProposer(env, config(objective=objective, prior_weight=1.0), corpus)
    proposer.pretrain(100)
    assert proposer.prior is not None
    _, p_prior = terminal_distribution(env, proposer.prior, graph)
    states, p_reward, _ = target_distribution(env, lambda x: log_reward(env.to_designs(x)), graph)
    log_target = log_reward(env.to_designs(states)).double() + p_prior.log()
    p_star = (log_target - torch.logsumexp(log_target, 0)).exp()
    assert l1(p_star, p_reward) > 0.5  # the prior really changes the target

    proposer.train(log_reward, steps=200 if objective == "tb" else 300)
    _, p_theta = terminal_distribution(env, proposer.policy, graph)
    assert l1(p_theta, p_star) < 0.05
    assert abs(proposer.trainer.log_partition() - torch.logsumexp(log_target, 0).item()) < 0.1
    clone = GFlowNetProposer(env, config(objective=objective, prior_weight=1.0))
    clone.load_state_dict(proposer.state_dict())  # the prior travels with the checkpoint
    _, p_clone = terminal_distribution(env, clone.prior, graph)
    assert torch.equal(p_clone, p_prior)
