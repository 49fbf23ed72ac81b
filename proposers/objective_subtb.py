"""Sub-trajectory balance (Madan et al. 2023), lambda-weighted."""

from __future__ import annotations

import torch

from .objective import Averaging
from .trajectories import Scored


class SubTrajectoryBalance:
    """Balance on every sub-trajectory `s_i .. s_j` (`0 <= i < j <= T`, `s_T = s_f`):

    `delta_ij = log F(s_i) + sum_{t=i}^{j-1} [log P_F(s_{t+1}|s_t) - log P_B(s_t|s_{t+1})]
    - log F(s_j)`, with `log F(s_f) := log R(x)`;
    `L(tau) = sum_{i<j} lambda^(j-i) delta_ij^2 / sum_{i<j} lambda^(j-i)`, averaged over the
    batch. `lambda -> 0` approaches DB, large `lambda` approaches TB with `Z = F(s_0)`.

    Args:
        lam: the geometric weight `lambda > 0`.
    """

    uses_log_z = False
    uses_target = False
    averages_over: Averaging = "trajectories"

    def __init__(self, lam: float = 0.9) -> None:
        if lam <= 0:
            raise ValueError("lambda must be positive")
        self.lam = lam

    def loss(self, s: Scored, log_reward: torch.Tensor, log_z: torch.Tensor,
             target: Scored | None = None) -> torch.Tensor:
        t_max, n = s.log_pf.shape
        steps = s.log_pf - s.log_pb  # T x n, 0 when padded
        cum = torch.cat([steps.new_zeros(1, n), steps.cumsum(0)])  # (T+1) x n, C_k
        node = torch.arange(t_max + 1, device=steps.device)
        lengths = s.valid.sum(0)  # the sink sits at position `lengths`
        # delta[i, j] = F_i + C_j - C_i - F_j for every pair, per trajectory
        a = (s.log_flow - cum).T  # n x (T+1)
        b = (cum - s.log_flow).T
        delta = a.unsqueeze(2) + b.unsqueeze(1)  # n x (T+1) x (T+1)
        span = (node.view(1, -1) - node.view(-1, 1)).float()  # j - i
        inside = node.view(1, -1, 1) <= lengths.view(-1, 1, 1)
        pair = (span > 0) & inside & inside.transpose(1, 2)
        weight = self.lam ** span * pair
        per_traj = (weight * delta.pow(2)).sum((1, 2)) / weight.sum((1, 2))
        return per_traj.mean()

    def log_partition(self, logits0: torch.Tensor, log_flow0: torch.Tensor,
                      log_z: torch.Tensor) -> torch.Tensor:
        return log_flow0
