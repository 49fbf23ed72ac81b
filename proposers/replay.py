"""A replay buffer of high-reward, diverse trajectories for the GFlowNet core."""

from __future__ import annotations

import torch

from .trajectories import Trajectories


def concat_trajectories(a: Trajectories, b: Trajectories) -> Trajectories:
    """Joins two batches, padding the shorter horizon (terminal state repeated, action -1)."""
    t = max(a.actions.shape[0], b.actions.shape[0])

    def pad(x: Trajectories) -> tuple[torch.Tensor, torch.Tensor]:
        extra = t - x.actions.shape[0]
        if extra == 0:
            return x.states, x.actions
        states = torch.cat([x.states, x.states[-1:].expand(extra, -1, -1)])
        actions = torch.cat([x.actions, x.actions.new_full((extra, len(x)), -1)])
        return states, actions

    (sa, aa), (sb, ab) = pad(a), pad(b)
    return Trajectories(torch.cat([sa, sb], 1), torch.cat([aa, ab], 1),
                        torch.cat([a.lengths, b.lengths]))


def select(traj: Trajectories, idx: torch.Tensor) -> Trajectories:
    """The trajectories at `idx`, trimmed to their longest horizon."""
    lengths = traj.lengths[idx]
    t = int(lengths.max())
    return Trajectories(traj.states[: t + 1, idx], traj.actions[:t, idx], lengths)


class ReplayBuffer:
    """Keeps the `capacity` highest-reward trajectories with *distinct* terminal states.

    Diversity comes from the deduplication: one trajectory per terminal state (the first
    kept), so a mode cannot fill the buffer. Rewards are those of the current `train` call;
    the trainer starts an empty buffer per call, as the reward changes every round.

    Args:
        capacity: maximum number of trajectories kept.
    """

    def __init__(self, capacity: int = 1000) -> None:
        self.capacity = capacity
        self.traj: Trajectories | None = None
        self.log_reward = torch.zeros(0)

    def __len__(self) -> int:
        return len(self.log_reward)

    def add(self, traj: Trajectories, log_reward: torch.Tensor) -> None:
        """Adds a batch, then keeps the best distinct terminal states."""
        merged = traj if self.traj is None else concat_trajectories(self.traj, traj)
        log_r = torch.cat([self.log_reward, log_reward.detach().float()])
        order = torch.argsort(log_r, descending=True, stable=True)
        _, group = torch.unique(merged.terminal[order], dim=0, return_inverse=True)
        first = torch.full((int(group.max()) + 1,), len(order), dtype=torch.long)
        first = first.scatter_reduce(0, group, torch.arange(len(order)), reduce="amin")
        keep = order[first.sort().values[: self.capacity]]
        self.traj, self.log_reward = select(merged, keep), log_r[keep]

    def sample(self, n: int, generator: torch.Generator | None = None
               ) -> tuple[Trajectories, torch.Tensor]:
        """`n` trajectories drawn uniformly with replacement, and their log-rewards."""
        if self.traj is None:
            raise ValueError("the buffer is empty")
        idx = torch.randint(len(self), (n,), generator=generator)
        return select(self.traj, idx), self.log_reward[idx]
