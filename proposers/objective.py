"""The objective interface and a registry of the objective modules (one file each).

A new objective is one new file with a class following `Objective`, plus one line in
`OBJECTIVES`; or, without touching sciloop, a `module:Class` import path named in config
(`proposer.objective: my_module:MyObjective`), built as `Class(settings)`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import torch

from .trajectories import Scored

Averaging = Literal["trajectories", "transitions"]
"""What an objective's loss is a mean over."""


class Objective(Protocol):
    """A GFlowNet training objective on a scored batch.

    Attributes:
        uses_log_z: whether it trains a scalar `log Z` parameter (TB).
        uses_target: whether it needs the batch scored by a target network (soft-DQN).
        averages_over: what the loss is a mean over, "trajectories" (TB, SubTB) or
            "transitions" (DB, soft-DQN): a data-parallel learner weights each rank's
            gradient by its count of these.
    """

    uses_log_z: bool
    uses_target: bool
    averages_over: Averaging

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


@dataclass(frozen=True)
class ObjectiveSettings:
    """What an objective may read from the trainer's settings.

    Attributes:
        subtb_lambda: geometric weight of sub-trajectory balance.
        munchausen_alpha: Munchausen weight of soft-DQN (0: plain soft-DQN).
        munchausen_clip: lower clip of the Munchausen log-policy term.
    """

    subtb_lambda: float = 0.9
    munchausen_alpha: float = 0.0
    munchausen_clip: float = -100.0


MDQN_ALPHA = 0.15
"""Munchausen weight of `mdqn` when none is set (the value our exactness tests use)."""


def _tb(s: ObjectiveSettings) -> Objective:
    from .objective_tb import TrajectoryBalance
    return TrajectoryBalance()


def _db(s: ObjectiveSettings) -> Objective:
    from .objective_db import DetailedBalance
    return DetailedBalance()


def _subtb(s: ObjectiveSettings) -> Objective:
    from .objective_subtb import SubTrajectoryBalance
    return SubTrajectoryBalance(s.subtb_lambda)


def _soft_dqn(s: ObjectiveSettings) -> Objective:
    from .objective_soft_dqn import SoftDQN
    return SoftDQN(s.munchausen_alpha, s.munchausen_clip)


def _mdqn(s: ObjectiveSettings) -> Objective:
    from .objective_soft_dqn import SoftDQN
    return SoftDQN(s.munchausen_alpha or MDQN_ALPHA, s.munchausen_clip)


OBJECTIVES: dict[str, Callable[[ObjectiveSettings], Objective]] = {
    "tb": _tb,  # trajectory balance (Malkin et al. 2022)
    "db": _db,  # detailed balance (Bengio et al. 2023)
    "subtb": _subtb,  # sub-trajectory balance (Madan et al. 2023)
    "soft_dqn": _soft_dqn,  # soft Q-learning (Tiapkin et al. 2024); Munchausen when alpha > 0
    "mdqn": _mdqn,  # Munchausen-DQN (Tiapkin et al. 2024)
}


def objective_names() -> list[str]:
    """The registered objective names (config choices are derived from these)."""
    return list(OBJECTIVES)


def check_objective(name: str) -> str:
    """`name` if it is registered or a `module:Class` path, else a ValueError listing the names."""
    if name in OBJECTIVES or (":" in name and all(name.partition(":")[::2])):
        return name
    raise ValueError(f"unknown GFlowNet objective {name!r}: choose from {', '.join(OBJECTIVES)} "
                     f"or give 'module:Class'")


def make_objective(name: str, subtb_lambda: float = 0.9, munchausen_alpha: float = 0.0,
                   munchausen_clip: float = -100.0) -> Objective:
    """Builds an objective by registered name or `module:Class` import path.

    Raises:
        ValueError: an unknown name (the message lists the registered ones).
    """
    settings = ObjectiveSettings(subtb_lambda, munchausen_alpha, munchausen_clip)
    if name in OBJECTIVES:
        return OBJECTIVES[check_objective(name)](settings)
    module, _, attr = check_objective(name).partition(":")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"GFlowNet objective {name!r}: cannot import it ({exc})") from None
    return cls(settings)
