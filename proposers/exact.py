"""Exact answers on small worlds: enumeration of the state DAG and dynamic programming.

No sampling: the target `R(x)/Z` comes from enumerating every terminal state, and the
policy's terminal distribution from propagating state probabilities level by level,
`p(s') = sum_{s -> s'} p(s) P_F(s'|s)`, `p_T(x) = p(x) P_F(stop|x)`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .env import DiscreteEnv
from .trajectories import masked_log_softmax


@dataclass
class StateGraph:
    """Every state of an environment, grouped by level (steps from the initial state).

    Attributes:
        levels: one `m_k x state_dim` LongTensor per level.
        states: all states, level by level (`N x state_dim`).
        offsets: start row of each level in `states`.
    """

    levels: list[torch.Tensor]
    states: torch.Tensor
    offsets: list[int]

    def index(self, states: torch.Tensor) -> torch.Tensor:
        """Row of each state in `self.states` (`n` LongTensor)."""
        keys = _keys(self.states, self._base)
        order = keys.argsort()
        pos = torch.searchsorted(keys[order], _keys(states, self._base))
        return order[pos]

    @property
    def _base(self) -> int:
        return int(self.states.max()) + 1  # states are non-negative


def _keys(states: torch.Tensor, base: int) -> torch.Tensor:
    powers = base ** torch.arange(states.shape[1], dtype=torch.long)
    return (states * powers).sum(1)


def enumerate_states(env: DiscreteEnv, max_states: int = 2_000_000) -> StateGraph:
    """Breadth-first enumeration of every reachable state (vectorised per level).

    Raises:
        ValueError: if more than `max_states` states are reachable.
    """
    levels = [env.initial(1)]
    total = 1
    while True:
        cur = levels[-1]
        mask = env.forward_mask(cur)
        mask[:, env.stop] = False
        rows, acts = mask.nonzero(as_tuple=True)
        if len(rows) == 0:
            break
        nxt = torch.unique(env.step(cur[rows], acts), dim=0)
        total += len(nxt)
        if total > max_states:
            raise ValueError(f"more than {max_states} states: not a small world")
        levels.append(nxt)
    offsets = [0]
    for lv in levels[:-1]:
        offsets.append(offsets[-1] + len(lv))
    return StateGraph(levels, torch.cat(levels), offsets)


@torch.no_grad()
def terminal_distribution(
    env: DiscreteEnv, policy: torch.nn.Module | Callable[[torch.Tensor], torch.Tensor],
    graph: StateGraph | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The policy's exact distribution over terminal states (float64).

    Args:
        env: the environment.
        policy: a policy module (`MLPPolicy`, `SequencePolicy`; on any device: its inputs are
            moved there), or any function mapping states (`m x state_dim`) to forward logits
            (`m x n_actions`), e.g. another library's policy.
        graph: the enumerated states (computed if None).

    Returns:
        `(states, p)`: every state where stop is allowed (`m x state_dim`) and its
        probability of being the terminal state (`m`, sums to 1).
    """
    graph = graph or enumerate_states(env)
    p = torch.zeros(len(graph.states), dtype=torch.float64)
    p_term = torch.zeros_like(p)
    p[0] = 1.0
    for k, lv in enumerate(graph.levels):
        idx = torch.arange(graph.offsets[k], graph.offsets[k] + len(lv))
        mask = env.forward_mask(lv)
        if isinstance(policy, torch.nn.Module):
            device = next(policy.parameters(), torch.zeros(())).device
            logits = policy(env.encode(lv).to(device)).logits.cpu()
        else:
            logits = policy(lv)
        probs = masked_log_softmax(logits.double(), mask).exp()
        mass = p[idx].unsqueeze(1) * probs  # m_k x A
        p_term[idx] = mass[:, env.stop]
        move = mask.clone()
        move[:, env.stop] = False
        rows, acts = move.nonzero(as_tuple=True)
        if len(rows):
            p.index_add_(0, graph.index(env.step(lv[rows], acts)), mass[rows, acts])
    can_stop = env.forward_mask(graph.states)[:, env.stop]
    return graph.states[can_stop], p_term[can_stop]


def target_distribution(
    env: DiscreteEnv, log_reward_fn: Callable[[torch.Tensor], torch.Tensor],
    graph: StateGraph | None = None,
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """The target `R(x) / Z` over terminal states, in the order of `terminal_distribution`.

    Returns:
        `(states, p_star, log_z_star)`.
    """
    graph = graph or enumerate_states(env)
    can_stop = env.forward_mask(graph.states)[:, env.stop]
    states = graph.states[can_stop]
    log_r = log_reward_fn(states).double()
    log_z = torch.logsumexp(log_r, 0)
    return states, (log_r - log_z).exp(), float(log_z)


def l1(p: torch.Tensor, q: torch.Tensor) -> float:
    """`sum_x |p(x) - q(x)|` (the sum convention; torchgfn reports the mean over states)."""
    return float((p - q).abs().sum())


def jsd(p: torch.Tensor, q: torch.Tensor) -> float:
    """Jensen-Shannon divergence in nats."""
    m = 0.5 * (p + q)

    def kl(a: torch.Tensor) -> torch.Tensor:
        nz = a > 0
        return (a[nz] * (a[nz] / m[nz]).log()).sum()

    return float(0.5 * kl(p) + 0.5 * kl(q))
