"""The objective interface and a factory over the objective modules (one file each)."""

from __future__ import annotations

from typing import Protocol

import torch

from .trajectories import Scored


class Objective(Protocol):
    """A GFlowNet training objective on a scored batch.

    Attributes:
        uses_log_z: whether it trains a scalar `log Z` parameter (TB).
        uses_target: whether it needs the batch scored by a target network (soft-DQN).
    """

    uses_log_z: bool
    uses_target: bool

    def loss(
        self, s: Scored, log_reward: torch.Tensor, log_z: torch.Tensor,
        target: Scored | None = None,
    ) -> torch.Tensor:
        """Scalar loss of the batch.

        Args:
            s: the batch scored by the trained policy.
            log_reward: `n` terminal log-rewards.
            log_z: the `log Z` parameter (used by TB only).
            target: the batch scored by the target network (soft-DQN only).
        """
        ...

    def log_partition(self, logits0: torch.Tensor, log_flow0: torch.Tensor,
                      log_z: torch.Tensor) -> torch.Tensor:
        """The objective's estimate of `log Z` from the initial state's outputs."""
        ...


def make_objective(name: str, subtb_lambda: float = 0.9, munchausen_alpha: float = 0.0,
                   munchausen_clip: float = -100.0) -> Objective:
    """Builds an objective by name: "tb", "db", "subtb", "soft_dqn" (Munchausen if alpha > 0)."""
    from .objective_db import DetailedBalance
    from .objective_soft_dqn import SoftDQN
    from .objective_subtb import SubTrajectoryBalance
    from .objective_tb import TrajectoryBalance

    if name == "tb":
        return TrajectoryBalance()
    if name == "db":
        return DetailedBalance()
    if name == "subtb":
        return SubTrajectoryBalance(subtb_lambda)
    if name in ("soft_dqn", "mdqn"):
        return SoftDQN(munchausen_alpha, munchausen_clip)
    raise ValueError(f"unknown objective {name!r}: tb, db, subtb, soft_dqn")
