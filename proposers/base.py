"""The `Proposer` interface: what the campaign asks of any design generator.

Designs cross this boundary as plain SMILES strings; the reward arrives as a callable
(`LogRewardFn`) on every `train` call and is never stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import torch

LogRewardFn = Callable[[list[str]], torch.Tensor]
"""Maps a list of `n` SMILES to their log-rewards: a float tensor of shape `n`."""

ProgressFn = Callable[[int, dict[str, float]], None]
"""Called as `progress(step, metrics)` after every training step."""


@runtime_checkable
class Proposer(Protocol):
    """A design generator that can be trained on a reward and sampled from.

    Optional: `prepare(offline)`, called before each round's surrogate fit with the `offline`
    designs its `train` will get, to start work that needs labels but no reward (the offspring
    proposer's breeding) so that it overlaps the fit.
    """

    def train(
        self, log_reward_fn: LogRewardFn, steps: int, offline: Sequence[str] = ()
    ) -> dict[str, float]:
        """Trains on `log_reward_fn` for `steps` steps, replaying `offline` designs.

        Args:
            log_reward_fn: SMILES list -> log-rewards (`n` float tensor).
            steps: number of optimisation steps.
            offline: known good designs (SMILES) replayed as off-policy trajectories.

        Returns:
            Summary metrics of the last step, e.g. `loss`, `log_z`, `mean_log_reward`.
        """
        ...

    def sample(self, n: int) -> list[str]:
        """Returns `n` SMILES (duplicates allowed; the campaign dedups)."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Returns everything needed to resume (plain Python / tensors, picklable)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a state produced by `state_dict`."""
        ...
