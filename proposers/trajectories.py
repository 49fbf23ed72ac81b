"""Sampling trajectories on a `DiscreteEnv` and scoring them under a policy.

Both run vectorised over the batch, with one Python loop over time steps only.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .env import DiscreteEnv
from .mlp_policy import MLPPolicy

NEG_INF = float("-inf")


@dataclass
class Trajectories:
    """A batch of `n` complete trajectories, padded to `T` transitions.

    Attributes:
        states: `(T + 1) x n x state_dim`; after the stop, rows repeat the terminal state.
        actions: `T x n` LongTensor; `stop` at the last transition, -1 after.
        lengths: `n` transitions per trajectory (the stop included, so >= 1).
    """

    states: torch.Tensor
    actions: torch.Tensor
    lengths: torch.Tensor

    @property
    def terminal(self) -> torch.Tensor:
        """The terminal states `x`: `n x state_dim`."""
        return self.states[self.lengths - 1, torch.arange(len(self.lengths))]

    def __len__(self) -> int:
        return len(self.lengths)


def masked_log_softmax(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """log-softmax of `logits` over the True entries of `mask` (-inf elsewhere)."""
    return torch.log_softmax(logits.masked_fill(~mask, NEG_INF), dim=-1)


@torch.no_grad()
def sample_trajectories(
    env: DiscreteEnv,
    policy: MLPPolicy,
    n: int,
    generator: torch.Generator | None = None,
    epsilon: float = 0.0,
    temperature: float = 1.0,
) -> Trajectories:
    """Rolls out `n` trajectories from `(1 - epsilon) P_F^(1/temperature) + epsilon U`.

    Args:
        env: the environment.
        policy: gives the forward logits.
        n: number of trajectories.
        generator: RNG of the action draws.
        epsilon: weight of the uniform distribution over allowed actions.
        temperature: softmax temperature of the policy part.
    """
    states = env.initial(n)
    done = torch.zeros(n, dtype=torch.bool)
    all_states, all_actions = [states], []
    lengths = torch.zeros(n, dtype=torch.long)
    for _ in range(env.max_steps):
        live = (~done).nonzero().squeeze(1)  # the policy runs on unfinished rows only
        cur = states[live]
        mask = env.forward_mask(cur)
        probs = masked_log_softmax(policy(env.encode(cur)).logits / temperature, mask).exp()
        if epsilon > 0:
            probs = (1 - epsilon) * probs + epsilon * mask / mask.sum(-1, keepdim=True)
        actions = torch.full((n,), -1, dtype=torch.long)
        actions[live] = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        lengths += (~done).long()
        states = env.step(states, actions.clamp(min=0).masked_fill(done, env.stop))
        done = done | (actions == env.stop)
        all_states.append(states)
        all_actions.append(actions)
        if bool(done.all()):
            break
    return Trajectories(torch.stack(all_states), torch.stack(all_actions), lengths)


@dataclass
class Scored:
    """Per-transition quantities of a batch under a policy (`T x n`, zero when padded).

    The sink `s_f` follows the stop: transition `t` goes from `s_t` to `s_{t+1}`, and the
    stop transition goes from `x` to `s_f` with `log P_B(x | s_f) = 0`.

    Attributes:
        valid: `T x n` bool, `t < lengths`.
        is_stop: `T x n` bool, the stop transition.
        log_pf: `log P_F(s_{t+1} | s_t)`.
        log_pb: `log P_B(s_t | s_{t+1})` (0 at the stop).
        log_flow: `(T + 1) x n` `log F(s_t)`; at `t = lengths` (the sink) it is `log R(x)`.
        q: raw logit of the taken action (the soft-Q value).
        v_next: `T x n` `logsumexp` of the allowed logits at `s_{t+1}` (0 at the sink).
        log_z: `n` log-flow of the initial state (`log F(s_0)`).
    """

    valid: torch.Tensor
    is_stop: torch.Tensor
    log_pf: torch.Tensor
    log_pb: torch.Tensor
    log_flow: torch.Tensor
    q: torch.Tensor
    v_next: torch.Tensor
    log_z: torch.Tensor


def score(
    env: DiscreteEnv, policy: MLPPolicy, traj: Trajectories, log_reward: torch.Tensor
) -> Scored:
    """Evaluates `policy` on every visited state of `traj` in one forward pass.

    Args:
        env: the environment.
        policy: the policy (gradients flow).
        traj: the batch.
        log_reward: `n` log-rewards of the terminal states.
    """
    t_max, n = traj.actions.shape
    cols = torch.arange(n)
    visited = torch.arange(t_max + 1).unsqueeze(1) < traj.lengths.unsqueeze(0)  # s_0 .. x
    row = torch.full((t_max + 1, n), -1, dtype=torch.long)  # (t, i) -> row of `flat`
    row[visited] = torch.arange(int(visited.sum()))
    flat = traj.states[visited]
    out = policy(env.encode(flat))
    fmask = env.forward_mask(flat)
    logp_all = masked_log_softmax(out.logits, fmask)
    v_all = out.logits.masked_fill(~fmask, NEG_INF).logsumexp(-1)

    valid = visited[:-1]
    is_stop = valid & (traj.actions == env.stop)
    inner = valid & ~is_stop  # s_{t+1} is a real state
    actions = traj.actions.clamp(min=0)
    here, nxt = row[:-1][valid], row[1:][inner]
    zeros = torch.zeros(t_max, n)
    a_valid = actions[valid].unsqueeze(1)
    log_pf = zeros.masked_scatter(valid, logp_all[here].gather(1, a_valid).squeeze(1))
    q = zeros.masked_scatter(valid, out.logits[here].gather(1, a_valid).squeeze(1))
    v_next = zeros.masked_scatter(inner, v_all[nxt])
    a_inner = actions[inner].unsqueeze(1)
    if out.back_logits is not None:
        bmask = env.backward_mask(flat[nxt])
        lpb = masked_log_softmax(out.back_logits[nxt], bmask).gather(1, a_inner).squeeze(1)
    else:
        lpb = env.uniform_log_pb(flat[nxt])
    log_pb = zeros.masked_scatter(inner, lpb)
    log_flow = torch.zeros(t_max + 1, n).masked_scatter(visited, out.log_flow)
    log_flow = log_flow.index_put((traj.lengths, cols), log_reward.to(log_flow.dtype))  # sink
    return Scored(valid, is_stop, log_pf, log_pb, log_flow, q, v_next, out.log_flow[row[0]])
