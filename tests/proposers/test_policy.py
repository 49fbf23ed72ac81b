"""SequencePolicy: sampled log-probs equal teacher-forced ones, masks hold, P_F normalises."""

import pytest
import torch

from sciloop.proposers.policy import SequencePolicy
from sciloop.proposers.selfies_env import SelfiesEnv


@pytest.fixture
def env():
    return SelfiesEnv.from_corpus(["CCO", "CN=C", "C#N", "FC(Cl)Br"], max_len=6)


@pytest.fixture
def policy(env):
    torch.manual_seed(1)
    return SequencePolicy(env.action_masks(), env.eos, hidden=16, num_layers=2)


@pytest.mark.parametrize("epsilon,temperature", [(0.0, 1.0), (0.3, 1.7)])
def test_log_prob_matches_rollout(policy, epsilon, temperature):
    tokens, log_pf = policy.rollout(300, torch.Generator().manual_seed(0), epsilon, temperature)
    with torch.no_grad():
        assert torch.allclose(policy.log_prob(tokens), log_pf, atol=1e-4)


def test_samples_respect_masks(env, policy):
    tokens = policy.sample(500, torch.Generator().manual_seed(0), epsilon=0.5)
    assert tokens.shape == (500, env.max_len) and tokens.dtype == torch.long
    assert (tokens[:, 0] != env.eos).all()  # no empty molecule
    is_eos = tokens == env.eos
    after_first_eos = torch.cumsum(is_eos.long(), dim=1) > 0
    assert (tokens[after_first_eos] == env.eos).all()  # padded with EOS after the stop
    assert (~is_eos).all(dim=1).any()  # some reach max_len (forced stop, log-prob 0)


def test_forbidden_action_has_zero_probability(env, policy):
    empty = torch.full((1, env.max_len), env.eos)
    with torch.no_grad():
        assert policy.log_prob(empty).item() == float("-inf")


def test_terminal_distribution_sums_to_one(enumerate_sequences):
    env = SelfiesEnv.from_corpus(["C", "N", "O"], max_len=3)
    torch.manual_seed(0)
    policy = SequencePolicy(env.action_masks(), env.eos, hidden=8, num_layers=1)
    tokens = enumerate_sequences(env)
    with torch.no_grad():
        assert policy.log_prob(tokens).exp().sum().item() == pytest.approx(1.0, abs=1e-5)

