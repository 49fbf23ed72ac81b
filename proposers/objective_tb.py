"""Trajectory balance (Malkin et al. 2022)."""

from __future__ import annotations

import torch

from .objective import Averaging
from .trajectories import Scored


class TrajectoryBalance:
    """`L(tau) = (log Z + sum_t log P_F(s_{t+1}|s_t) - log R(x) - sum_t log P_B(s_t|s_{t+1}))^2`.

    Averaged over the batch; `log Z` is a learned scalar.
    """

    uses_log_z = True
    uses_target = False
    averages_over: Averaging = "trajectories"

    def loss(self, s: Scored, log_reward: torch.Tensor, log_z: torch.Tensor,
             target: Scored | None = None) -> torch.Tensor:
        delta = log_z + s.log_pf.sum(0) - s.log_pb.sum(0) - log_reward
        return delta.pow(2).mean()

    def log_partition(self, logits0: torch.Tensor, log_flow0: torch.Tensor,
                      log_z: torch.Tensor) -> torch.Tensor:
        return log_z
