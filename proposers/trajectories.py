"""Sampling trajectories on a `DiscreteEnv` and scoring them under a policy.

Both run vectorised over the batch, with one Python loop over time steps only. A policy is
an `nn.Module` mapping `env.encode(states)` to a `PolicyOutput` (`MLPPolicy`); one that sets
`recurrent = True` (`policy.SequencePolicy`, tree environments only) is instead driven by its
action history: `step` while sampling, `along` to score a whole batch in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .env import DiscreteEnv
from .mlp_policy import MLPPolicy, PolicyOutput

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
        return self.states[self.lengths - 1, torch.arange(len(self.lengths), device=self.lengths.device)]

    def __len__(self) -> int:
        return len(self.lengths)

    def to(self, device: torch.device) -> Trajectories:
        """The same batch with its tensors on `device`."""
        return Trajectories(self.states.to(device), self.actions.to(device), self.lengths.to(device))


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
    recurrent = _is_recurrent(env, policy)
    hidden = policy.initial_hidden(n) if recurrent else None
    actions: torch.Tensor | None = None
    for _ in range(env.max_steps):
        live = (~done).nonzero().squeeze(1)  # the policy runs on unfinished rows only
        cur = states[live]
        mask = env.forward_mask(cur)
        if recurrent:  # carry the GRU state instead of re-reading the prefix
            prev = None if actions is None else actions[live]
            out, hidden_live = policy.step(prev, hidden[:, live])
            hidden[:, live] = hidden_live
            logits = out.logits
        else:
            logits = policy(env.encode(cur)).logits
        probs = masked_log_softmax(logits / temperature, mask).exp()
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
    """Evaluates `policy` on every visited state of `traj` in one forward pass, on the
    batch's device (move `traj` and `log_reward` to the policy's first).

    Args:
        env: the environment.
        policy: the policy (gradients flow).
        traj: the batch.
        log_reward: `n` log-rewards of the terminal states.
    """
    t_max, n = traj.actions.shape
    dev = traj.actions.device  # every tensor below lives where the batch does
    cols = torch.arange(n, device=dev)
    visited = torch.arange(t_max + 1, device=dev).unsqueeze(1) < traj.lengths.unsqueeze(0)  # s_0 .. x
    row = torch.full((t_max + 1, n), -1, dtype=torch.long, device=dev)  # (t, i) -> row of `flat`
    row[visited] = torch.arange(int(visited.sum()), device=dev)
    flat = traj.states[visited]
    if _is_recurrent(env, policy):  # one teacher-forced pass over the action histories
        along = policy.along(traj.actions)
        out = PolicyOutput(along.logits[visited], None, along.log_flow[visited])
    else:
        out = policy(env.encode(flat))
    fmask = env.forward_mask(flat)
    logp_all = masked_log_softmax(out.logits, fmask)
    v_all = out.logits.masked_fill(~fmask, NEG_INF).logsumexp(-1)

    valid = visited[:-1]
    is_stop = valid & (traj.actions == env.stop)
    inner = valid & ~is_stop  # s_{t+1} is a real state
    actions = traj.actions.clamp(min=0)
    here, nxt = row[:-1][valid], row[1:][inner]
    zeros = torch.zeros(t_max, n, device=dev)
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
    log_flow = torch.zeros(t_max + 1, n, device=dev).masked_scatter(visited, out.log_flow)
    log_flow = log_flow.index_put((traj.lengths, cols), log_reward.to(log_flow.dtype))  # sink
    return Scored(valid, is_stop, log_pf, log_pb, log_flow, q, v_next, out.log_flow[row[0]])


def _is_recurrent(env: DiscreteEnv, policy: MLPPolicy) -> bool:
    if not getattr(policy, "recurrent", False):
        return False
    if not env.is_tree:
        raise ValueError("a recurrent policy reads action histories: it needs a tree environment")
    return True


@torch.no_grad()
def from_terminal(
    env: DiscreteEnv, terminal: torch.Tensor, generator: torch.Generator | None = None
) -> Trajectories:
    """Trajectories that end at given terminal states, walked back with a uniform P_B.

    On a tree (`env.is_tree`) each is the unique trajectory of its state; on a DAG it is one
    drawn from the uniform backward policy. Used for offline (labelled) designs and for
    pretraining. The states must allow `stop` (be valid terminal states).

    Args:
        env: the environment (implements `backward_step`).
        terminal: `n x state_dim` terminal states.
        generator: RNG of the backward draws (unused on trees).
    """
    n = len(terminal)
    back_states, back_actions = [terminal], []
    cur = terminal
    depth = torch.zeros(n, dtype=torch.long)  # non-stop steps from s_0 to x
    for _ in range(env.max_steps):
        bmask = env.backward_mask(cur)
        moving = bmask.any(1)
        if not bool(moving.any()):
            break
        probs = bmask.float()
        probs[~moving] = 1.0  # a dummy draw at s_0, discarded
        a = torch.multinomial(probs, 1, generator=generator).squeeze(1)
        parent = cur.clone()
        parent[moving] = env.backward_step(cur[moving], a[moving])
        depth += moving.long()
        back_actions.append(a.masked_fill(~moving, -1))
        back_states.append(parent)
        cur = parent
    k_max = len(back_actions)
    stacked = torch.stack(back_states)  # (k_max + 1) x n x d, from x back to s_0
    t = torch.arange(k_max + 2).unsqueeze(1)  # forward time 0 .. k_max + 1
    back_index = torch.where(t <= depth, depth - t, torch.zeros_like(t))
    states = stacked.gather(0, back_index.unsqueeze(2).expand(-1, -1, stacked.shape[2]))
    t_act = t[:-1]
    actions = torch.full((k_max + 1, n), -1, dtype=torch.long)
    if k_max:
        b_actions = torch.stack(back_actions)
        inner = t_act < depth
        src = (depth - t_act - 1).clamp(min=0).expand(-1, n)
        actions = torch.where(inner, b_actions.gather(0, src.clamp(max=k_max - 1)), actions)
    actions = torch.where(t_act == depth, torch.full_like(actions, env.stop), actions)
    return Trajectories(states, actions, depth + 1)
