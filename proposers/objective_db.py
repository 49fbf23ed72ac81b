"""Detailed balance (Bengio et al. 2023, "GFlowNet foundations")."""

from __future__ import annotations

import torch

from .objective import Averaging
from .trajectories import Scored


class DetailedBalance:
    """`L(s -> s') = (log F(s) + log P_F(s'|s) - log F(s') - log P_B(s|s'))^2`.

    For the stop transition `x -> s_f`, `log F(s_f) := log R(x)` and `P_B = 1`, i.e.
    `F(x) P_F(stop|x) = R(x)`. Averaged over all transitions of the batch; `log Z` is the
    learned flow of the initial state, `log F(s_0)`.
    """

    uses_log_z = False
    uses_target = False
    averages_over: Averaging = "transitions"

    def loss(self, s: Scored, log_reward: torch.Tensor, log_z: torch.Tensor,
             target: Scored | None = None) -> torch.Tensor:
        delta = s.log_flow[:-1] + s.log_pf - s.log_flow[1:] - s.log_pb
        return delta[s.valid].pow(2).mean()

    def log_partition(self, logits0: torch.Tensor, log_flow0: torch.Tensor,
                      log_z: torch.Tensor) -> torch.Tensor:
        return log_flow0
