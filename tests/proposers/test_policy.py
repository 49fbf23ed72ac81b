"""SequencePolicy (GRU): its recurrent fast path agrees with re-reading each prefix."""

import pytest
import torch

from sciloop.proposers.exact import enumerate_states, terminal_distribution
from sciloop.proposers.hypergrid import HypergridEnv
from sciloop.proposers.policy import SequencePolicy
from sciloop.proposers.selfies_env import SelfiesEnv
from sciloop.proposers.sequence_env import SequenceEnv
from sciloop.proposers.trajectories import sample_trajectories, score


class PrefixReader(torch.nn.Module):
    """The same policy without the fast path: every state re-read from `env.encode`."""

    def __init__(self, policy: SequencePolicy) -> None:
        super().__init__()
        self.policy = policy

    def forward(self, x):
        return self.policy(x)


ENVS = {
    "selfies": lambda: SelfiesEnv.from_corpus(["CCO", "CN=C", "C#N", "FC(Cl)Br"], max_len=6),
    "dna_variable": lambda: SequenceEnv("ACGT", max_len=7, min_len=2),
    "bits_fixed": lambda: SequenceEnv("01", max_len=8),
}


@pytest.fixture(params=sorted(ENVS))
def env(request):
    return ENVS[request.param]()


@pytest.fixture
def policy(env):
    torch.manual_seed(1)
    return SequencePolicy.for_env(env, hidden=16, num_layers=2)


@pytest.mark.parametrize("epsilon,temperature", [(0.0, 1.0), (0.3, 1.7)])
def test_recurrent_sampling_equals_prefix_reading(env, policy, epsilon, temperature):
    fast = sample_trajectories(env, policy, 200, torch.Generator().manual_seed(0),
                               epsilon, temperature)
    slow = sample_trajectories(env, PrefixReader(policy), 200,
                               torch.Generator().manual_seed(0), epsilon, temperature)
    assert torch.equal(fast.states, slow.states) and torch.equal(fast.actions, slow.actions)
    assert len(set(map(tuple, fast.terminal.tolist()))) > 20  # not a degenerate draw


def test_teacher_forced_score_equals_prefix_reading(env, policy):
    traj = sample_trajectories(env, policy, 100, torch.Generator().manual_seed(2), 0.5)
    log_r = torch.randn(100)
    fast = score(env, policy, traj, log_r)
    slow = score(env, PrefixReader(policy), traj, log_r)
    for name in ("log_pf", "log_pb", "log_flow", "q", "v_next", "log_z"):
        assert torch.allclose(getattr(fast, name), getattr(slow, name), atol=1e-5), name
    fast.log_pf.sum().backward()  # gradients flow through the fast path
    assert policy.gru.weight_hh_l0.grad is not None


def test_samples_respect_masks(env, policy):
    traj = sample_trajectories(env, policy, 500, torch.Generator().manual_seed(0), 0.5)
    for t in range(traj.actions.shape[0]):
        a = traj.actions[t]
        live = a >= 0
        allowed = env.forward_mask(traj.states[t][live])
        assert allowed.gather(1, a[live].unsqueeze(1)).all()
    lengths = env.lengths(traj.terminal)
    assert (lengths >= env.min_len).all() and (lengths <= env.max_len).all()


def test_terminal_distribution_sums_to_one():
    env = SelfiesEnv.from_corpus(["C", "N", "O"], max_len=3)
    torch.manual_seed(0)
    policy = SequencePolicy.for_env(env, hidden=8, num_layers=1)
    _, p = terminal_distribution(env, policy, enumerate_states(env))
    assert len(p) == 39 and p.sum().item() == pytest.approx(1.0, abs=1e-9)


def test_recurrent_policy_needs_a_tree():
    grid = HypergridEnv(2, 4)
    policy = SequencePolicy(vocab=2, max_len=6, hidden=8, num_layers=1)
    with pytest.raises(ValueError, match="tree"):
        sample_trajectories(grid, policy, 3)
