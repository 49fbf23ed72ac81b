"""What the offspring proposers of every domain share: Mol GA's parent sampling (Tripp and
Hernandez-Lobato 2023, `mol_ga.sample_population`) and the screen of the children by the reward.
Light to import (numpy only: no rdkit, no torch)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from .base import LogRewardFn

__all__ = ["ScreenedOffspring", "Seeded", "quantile_parents"]


def quantile_parents(ranked: Sequence[str], n: int, rng: np.random.Generator, quantiles: int = 25) -> list[str]:
    """`n` parents from designs ranked best first: an equal share from each of the top
    `10^-3 ... 10^0` fractions (log-spaced; each at least the best design), drawn with replacement."""
    if not ranked:
        raise ValueError("no labelled design to breed from")
    per = math.ceil(n / quantiles)
    parents: list[str] = []
    for fraction in np.logspace(-3, 0, quantiles):
        top = max(1, math.ceil(fraction * len(ranked)))
        parents.extend(ranked[int(i)] for i in rng.integers(0, top, size=per))
    order = rng.permutation(len(parents))
    return [parents[int(i)] for i in order[:n]]


class Seeded(Protocol):
    """A proposer's settings: a dataclass with the seed of its only random generator."""

    seed: int


class ScreenedOffspring:
    """The part of an offspring proposer that is not breeding: the children of a round, screened by
    the campaign's log-reward, and `sample(n)` of the best. The random stream `rng` (seeded from
    `config.seed`) is the only state a checkpoint needs: a resumed campaign breeds the same children.

    Args:
        config: the proposer's settings, a dataclass with a `seed`.
    """

    def __init__(self, config: Seeded) -> None:
        self.config = config
        self.rng = np.random.default_rng(config.seed)
        self.children: dict[str, float] = {}  # child -> log-reward, from the last `train`
        self._drawn = 0  # children of this round already returned by `sample`

    def screen(self, bred: Iterable[str], offline: Sequence[str], log_reward_fn: LogRewardFn) -> dict[str, float]:
        """Keeps the new, distinct children (none of `offline`), in order, with their log-rewards.

        Returns:
            `children` (how many were kept) and their `mean_log_reward`.
        """
        known = set(offline)
        designs = list(dict.fromkeys(c for c in bred if c not in known))
        log_r = log_reward_fn(designs).double().tolist() if designs else []
        self.children, self._drawn = dict(zip(designs, log_r)), 0
        return {"children": float(len(designs)),
                "mean_log_reward": float(np.mean(log_r)) if log_r else float("nan")}

    def sample(self, n: int) -> list[str]:
        """The `n` children of the last `train` with the highest log-reward; a second draw of the same
        round gives the next `n` (the campaign draws again when children were labelled already)."""
        ranked = sorted(self.children, key=self.children.__getitem__, reverse=True)
        picked, self._drawn = ranked[self._drawn:self._drawn + n], self._drawn + n
        return picked

    def state_dict(self) -> dict[str, Any]:
        return {"config": vars(self.config).copy(), "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.config = type(self.config)(**state["config"])
        self.rng.bit_generator.state = state["rng"]
