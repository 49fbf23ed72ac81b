"""Environments of the GFlowNet core: masks, transitions, parents, enumeration, exact DP."""

import pytest
import torch

from sciloop.proposers.exact import enumerate_states, target_distribution, terminal_distribution
from sciloop.proposers.hypergrid import HypergridEnv, HypergridReward
from sciloop.proposers.mlp_policy import MLPPolicy
from sciloop.proposers.sequence_env import SequenceEnv
from sciloop.proposers.trajectories import sample_trajectories, score


def test_hypergrid_masks_steps_parents():
    env = HypergridEnv(ndim=3, height=4)
    s = torch.tensor([[0, 0, 0], [3, 1, 0], [3, 3, 3]])
    fm = env.forward_mask(s)
    assert fm.tolist() == [[True, True, True, True], [False, True, True, True],
                           [False, False, False, True]]
    assert env.step(s[:2], torch.tensor([2, 3])).tolist() == [[0, 0, 1], [3, 1, 0]]
    assert env.backward_mask(s).sum(1).tolist() == [0, 2, 3]
    assert env.encode(s).shape == (3, 12)
    assert env.to_designs(s[1:2]) == ["3,1,0"]


def test_hypergrid_reward_matches_formula():
    reward = HypergridReward(height=8)
    # ax = |x/7 - 0.5|: x=1 -> 0.357 (ring and band), x=0 -> 0.5 (band), x=3 -> 0.071
    states = torch.tensor([[1, 1], [0, 0], [3, 3], [1, 0]])
    assert reward(states).exp().tolist() == pytest.approx([2.6, 0.6, 0.1, 0.6])


def test_sequences_fixed_and_variable_length():
    fixed = SequenceEnv("ACGT", max_len=3)
    s = fixed.initial(2)
    assert not fixed.forward_mask(s)[:, fixed.stop].any()  # fixed length: no early stop
    s = fixed.step(s, torch.tensor([2, 0]))
    assert fixed.to_designs(s) == ["G", "A"]
    assert fixed.backward_mask(s).sum(1).tolist() == [1, 1]  # a tree: one parent
    var = SequenceEnv("01", max_len=2, min_len=1)
    full = var.from_designs(["10", "1"])
    assert var.forward_mask(full).tolist() == [[False, False, True], [True, True, True]]
    assert var.step(full, torch.tensor([2, 0])).tolist() == [[1, 0], [1, 0]]


@pytest.mark.parametrize("env", [HypergridEnv(2, 4), SequenceEnv("01", 4, 1), SequenceEnv("ab", 3)],
                         ids=["grid", "bits-variable", "bits-fixed"])
def test_enumeration_and_dp(env):
    graph = enumerate_states(env)
    assert len(torch.unique(graph.states, dim=0)) == len(graph.states)
    assert torch.equal(graph.index(graph.states), torch.arange(len(graph.states)))
    torch.manual_seed(0)
    policy = MLPPolicy(env.input_dim, env.n_actions, hidden=16, layers=1)
    states, p = terminal_distribution(env, policy, graph)
    assert p.sum().item() == pytest.approx(1.0, abs=1e-9)
    x, p_star, _ = target_distribution(env, lambda s: torch.zeros(len(s)), graph)
    assert torch.equal(x, states) and torch.allclose(p_star, torch.full_like(p_star, 1 / len(x)))
    # sampled terminal frequencies agree with the DP (loose: 4k samples)
    traj = sample_trajectories(env, policy, 4000, torch.Generator().manual_seed(1))
    freq = torch.bincount(graph.index(traj.terminal), minlength=len(graph.states)).double()
    assert (freq[graph.index(states)] / 4000 - p).abs().max() < 0.03


def test_scored_log_pf_matches_sampling_path():
    env = HypergridEnv(2, 5)
    torch.manual_seed(0)
    policy = MLPPolicy(env.input_dim, env.n_actions, hidden=16, layers=1, learn_pb=True)
    traj = sample_trajectories(env, policy, 50, torch.Generator().manual_seed(0), epsilon=0.3)
    assert (traj.actions[traj.lengths - 1, torch.arange(50)] == env.stop).all()
    s = score(env, policy, traj, torch.zeros(50))
    assert (s.log_pf[~s.valid] == 0).all() and (s.log_pb[s.is_stop] == 0).all()
    # the exact probability of each sampled trajectory's path is exp(sum log_pf) <= 1
    assert (s.log_pf.sum(0) <= 0).all()


def test_replay_buffer_keeps_best_distinct_terminals():
    from sciloop.proposers.replay import ReplayBuffer

    env = HypergridEnv(2, 6)
    torch.manual_seed(0)
    policy = MLPPolicy(env.input_dim, env.n_actions, hidden=16, layers=1)
    buffer = ReplayBuffer(capacity=10)
    reward = HypergridReward(6)
    for seed in range(5):
        traj = sample_trajectories(env, policy, 40, torch.Generator().manual_seed(seed))
        buffer.add(traj, reward(traj.terminal))
    assert len(buffer) == 10
    assert len(torch.unique(buffer.traj.terminal, dim=0)) == 10  # distinct
    assert torch.equal(reward(buffer.traj.terminal), buffer.log_reward)
    batch, log_r = buffer.sample(7, torch.Generator().manual_seed(0))
    assert len(batch) == 7 and torch.equal(reward(batch.terminal), log_r)
