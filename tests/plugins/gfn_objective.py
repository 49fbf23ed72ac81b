"""A fixture plugin: a GFlowNet objective reached from a config by `module:Class` alone.

Trajectory balance on a tempered reward, `(log Z + log P_F - log R / 2)^2`: one new file, no
registration line (`proposer.objective: gfn_objective:HalfTemperedTB`).
"""

import torch

from sciloop.proposers.objective import ObjectiveSettings
from sciloop.proposers.objective_tb import TrajectoryBalance


class HalfTemperedTB(TrajectoryBalance):
    """Trajectory balance towards `R(x)^(1/2)`; counts its calls (the test reads `calls`)."""

    calls = 0

    def __init__(self, settings: ObjectiveSettings):
        super().__init__()
        self.settings = settings

    def loss(self, s, log_reward: torch.Tensor, log_z: torch.Tensor, target=None) -> torch.Tensor:
        type(self).calls += 1
        return super().loss(s, log_reward / 2, log_z, target)
