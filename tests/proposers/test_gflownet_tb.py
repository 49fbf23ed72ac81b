"""Trajectory balance on a tiny enumerable world: the exact terminal distribution.

Alphabet {[C], [N], [O]}, at most 3 tokens: 39 sequences. The policy's distribution over
sequences is computed exactly (log_prob of every sequence, no sampling) and compared with
p*(tau) = R(decode(tau)) / Z over *sequences* (sum-L1, not the mean over states).
"""

import pytest
import torch

from sciloop.proposers.gflownet import GFlowNetConfig, GFlowNetProposer
from sciloop.proposers.selfies_env import SelfiesEnv


def log_reward(smiles: list[str]) -> torch.Tensor:
    return torch.tensor([1.5 * s.count("N") - 0.5 * s.count("O") for s in smiles])


@pytest.mark.parametrize("offline,prefetch", [((), False), (("NNN", "CNO", "C"), True)])
def test_tb_matches_exact_target(offline, prefetch, enumerate_sequences):
    env = SelfiesEnv.from_corpus(["C", "N", "O"], max_len=3)
    tokens = enumerate_sequences(env)
    assert len(tokens) == 3 + 9 + 27
    log_r = log_reward(env.decode_batch(tokens))
    log_z_star = torch.logsumexp(log_r, 0)
    p_star = (log_r - log_z_star).exp()

    config = GFlowNetConfig(num_actors=0, hidden=32, num_layers=1, lr=1e-2, lr_log_z=0.1,
                            epsilon=0.1, batch_size=64, seed=0,
                            prefetch=prefetch)
    proposer = GFlowNetProposer(env, config)
    metrics = proposer.train(log_reward, steps=200, offline=offline)
    assert metrics["num_replay"] == (16 if offline else 0)

    with torch.no_grad():
        p_theta = proposer.policy.log_prob(tokens).exp()
    assert p_theta.sum().item() == pytest.approx(1.0, abs=1e-5)
    assert (p_theta - p_star).abs().sum().item() < 0.05
    assert abs(proposer.log_z.item() - log_z_star.item()) < 0.1


def test_tb_with_prior_matches_prior_times_reward(enumerate_sequences):
    """With prior_weight w, the target is p_prior(tau)^w R(x) / Z, p_prior the pretrained policy."""
    env = SelfiesEnv.from_corpus(["C", "N", "O"], max_len=3)
    tokens = enumerate_sequences(env)
    config = GFlowNetConfig(num_actors=0, hidden=32, num_layers=1, lr=1e-2, lr_log_z=0.1,
                            epsilon=0.1, batch_size=64, seed=0, prior_weight=1.0)
    corpus = ["CCC", "CC", "CCO", "CCC", "C"]  # a prior that likes carbon chains
    proposer = GFlowNetProposer(env, config, corpus=corpus)
    proposer.pretrain(100)
    assert proposer.prior is not None
    with torch.no_grad():
        log_prior = proposer.prior.log_prob(tokens)
    log_target = log_reward(env.decode_batch(tokens)) + log_prior
    p_star = (log_target - torch.logsumexp(log_target, 0)).exp()
    p_reward_only = (log_reward(env.decode_batch(tokens))
                     - torch.logsumexp(log_reward(env.decode_batch(tokens)), 0)).exp()
    assert (p_star - p_reward_only).abs().sum() > 0.5  # the prior really changes the target

    proposer.train(log_reward, steps=300)
    with torch.no_grad():
        p_theta = proposer.policy.log_prob(tokens).exp()
    assert (p_theta - p_star).abs().sum().item() < 0.05
    assert abs(proposer.log_z.item() - torch.logsumexp(log_target, 0).item()) < 0.1
    clone = GFlowNetProposer(env, config)
    clone.load_state_dict(proposer.state_dict())  # the prior travels with the checkpoint
    assert torch.equal(clone.prior.log_prob(tokens), log_prior)
