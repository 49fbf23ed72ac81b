"""Core features the molecule proposer needs, on any environment: offline trajectories
walked back from labelled designs, maximum-likelihood pretraining, a frozen prior.

Distributions are computed exactly (`exact.py`), never sampled.
"""

import pytest
import torch

from sciloop.proposers.exact import enumerate_states, l1, target_distribution, terminal_distribution
from sciloop.proposers.hypergrid import HypergridEnv, HypergridReward
from sciloop.proposers.sequence_env import SequenceEnv
from sciloop.proposers.trainer import CoreConfig, GFlowNetTrainer
from sciloop.proposers.trajectories import from_terminal, sample_trajectories

ENVS = [HypergridEnv(3, 4), SequenceEnv("ACGT", 5, 1), SequenceEnv("01", 4)]


@pytest.mark.parametrize("env", ENVS, ids=["grid", "dna", "bits"])
def test_backward_step_undoes_step(env):
    graph = enumerate_states(env)
    states = graph.states[1:]
    mask = env.backward_mask(states)
    rows, acts = mask.nonzero(as_tuple=True)
    parents = env.backward_step(states[rows], acts)
    assert torch.equal(env.step(parents, acts), states[rows])


@pytest.mark.parametrize("env", ENVS, ids=["grid", "dna", "bits"])
def test_from_terminal_gives_valid_trajectories(env):
    x = sample_trajectories(env, _uniform(env), 300, torch.Generator().manual_seed(0)).terminal
    traj = from_terminal(env, x, torch.Generator().manual_seed(1))
    assert torch.equal(traj.terminal, x)
    assert torch.equal(traj.states[0], env.initial(len(x)))
    for t in range(traj.actions.shape[0]):
        a = traj.actions[t]
        live = a >= 0
        assert env.forward_mask(traj.states[t][live]).gather(1, a[live].unsqueeze(1)).all()
        moved = live & (a != env.stop)
        assert torch.equal(env.step(traj.states[t][moved], a[moved]), traj.states[t + 1][moved])
    assert ((traj.actions == env.stop).sum(0) == 1).all()


def test_from_terminal_draws_uniform_parents_on_a_dag():
    env = HypergridEnv(2, 4)
    x = torch.tensor([[1, 1]]).expand(4000, -1)
    first = from_terminal(env, x, torch.Generator().manual_seed(0)).actions[0]
    share = (first == 0).float().mean().item()  # via (1, 0) or (0, 1), each half the time
    assert 0.45 < share < 0.55


def _uniform(env):
    return lambda encoded: _Logits(torch.zeros(len(encoded), env.n_actions))


class _Logits:
    def __init__(self, logits):
        self.logits = logits


def test_offline_trajectories_on_a_dag_keep_the_exact_target():
    """TB on the 2-D grid with half of each batch walked back from 40 fixed designs."""
    env, log_reward = HypergridEnv(2, 8), HypergridReward(8)
    graph = enumerate_states(env)
    states, p_star, log_z_star = target_distribution(env, log_reward, graph)
    offline = states[torch.randperm(len(states), generator=torch.Generator().manual_seed(0))[:40]]
    calls = []

    def counted(x):
        calls.append(len(x))
        return log_reward(x)

    gfn = GFlowNetTrainer(env, CoreConfig(hidden=64, lr=3e-3, epsilon=0.1, offline_fraction=0.5))
    metrics = gfn.train(counted, 400, offline=offline)
    assert metrics["num_offline"] == 32 and set(calls) == {64}  # one call on the whole batch
    _, p_theta = terminal_distribution(env, gfn.policy, graph)
    assert l1(p_theta, p_star) < 0.02
    assert abs(gfn.log_partition() - log_z_star) < 0.1


def test_pretrain_fits_the_designs():
    env = SequenceEnv("01", max_len=6)
    graph = enumerate_states(env)
    designs = env.from_designs(["000111", "010101", "111000"])
    gfn = GFlowNetTrainer(env, CoreConfig(hidden=64, lr=3e-3))
    first = gfn.pretrain(designs, 1)
    last = gfn.pretrain(designs, 300)
    assert last < first and last == pytest.approx(torch.log(torch.tensor(3.0)).item(), abs=0.15)
    states, p = terminal_distribution(env, gfn.policy, graph)
    assert _mass(states, p, designs) > 0.95
    with pytest.raises(ValueError):
        GFlowNetTrainer(HypergridEnv(2, 4), CoreConfig(prior_weight=1.0))  # needs a tree


def _mass(states, p, designs):
    hit = (states.unsqueeze(1) == designs.unsqueeze(0)).all(-1).any(1)
    return p[hit].sum().item()


@pytest.mark.parametrize("objective,extra,steps", [
    ("tb", {}, 300), ("db", {}, 600), ("soft_dqn", {"target_update": 0.2}, 600)])
def test_prior_targets_reward_times_prior(objective, extra, steps):
    """`prior_weight` w: every objective targets R(x) p_prior(x)^w (w = 0.5 here)."""
    env = SequenceEnv("01", max_len=5)
    graph = enumerate_states(env)
    designs = env.from_designs(["00000", "00011", "11100", "11111"])
    config = CoreConfig(objective=objective, hidden=64, lr=3e-3, epsilon=0.1,
                        prior_weight=0.5, **extra)
    gfn = GFlowNetTrainer(env, config)
    gfn.pretrain(designs, 30)  # a soft prior, not yet peaked on the four designs
    assert gfn.prior is not None
    _, p_prior = terminal_distribution(env, gfn.prior, graph)

    def log_reward(x):
        return 1.5 * (x == 1).sum(-1).float() / 5

    states, p_reward, _ = target_distribution(env, log_reward, graph)
    log_target = log_reward(states).double() + 0.5 * p_prior.log()
    p_star = (log_target - log_target.logsumexp(0)).exp()
    assert l1(p_star, p_reward) > 0.3  # the prior matters
    gfn.train(log_reward, steps)
    _, p_theta = terminal_distribution(env, gfn.policy, graph)
    assert l1(p_theta, p_star) < 0.02
    assert abs(gfn.log_partition() - log_target.logsumexp(0).item()) < 0.1
