"""Children of the labelled designs, screened by the surrogate: Mol GA's breeding, one step at a time.

`OffspringProposer.train` breeds `children` molecules from parents drawn among the labelled
designs the way Mol GA draws them (Tripp and Hernandez-Lobato 2023, `mol_ga.sample_population`:
uniformly from each of 25 log-spaced top quantiles, so the best designs are drawn most and every
rank is drawn sometimes), by Jensen's graph crossover and mutation (`graph_ga.py`). It scores the
children with the campaign's log-reward (the surrogate's acquisition) and `sample(n)` returns the
`n` best. Every child is one crossover away from designs whose labels are known, where the
surrogate is most trustworthy; the surrogate decides which of many children the oracle sees, so
a round of `b` calls takes the best `b` of `children` instead of `b` at random.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from rdkit import Chem, rdBase

if TYPE_CHECKING:  # not at run time: a fresh Ray worker that breeds imports this module, and torch costs ~1 s
    from .base import LogRewardFn, ProgressFn
from .graph_ga import GraphGAConfig, _canonical, crossover, mutate
from .parents import ScreenedOffspring, quantile_parents

__all__ = ["OffspringConfig", "OffspringProposer", "breed", "quantile_parents"]



@dataclass
class OffspringConfig:
    """Settings of `OffspringProposer`.

    Attributes:
        children: crossovers tried per `train` call (the pool the surrogate screens).
        quantiles: Mol GA's parent sampling: this many log-spaced top quantiles, from the top
            0.1% to all labelled designs, each giving an equal share of the parents.
        mutation_rate: probability that a child is mutated (the PMO leaderboard's Graph GA value).
        seed: seed of the proposer's only random generator.
        workers: Ray tasks that breed in parallel (one CPU each) when Ray is running; 0 or 1:
            in this process. The children are the same for any number of workers.
        mutate_fraction: share of children made by mutating one parent alone, no crossover (Mol
            GA's blend uses 0.1: mutations can shrink a molecule, crossovers keep its size).
        immigrant_fraction: share of crossovers whose second parent is drawn uniformly from the
            library (the corpus: a parent costs no oracle call, and almost all were never
            labelled) instead of the labelled designs, so children can carry fragments that no
            labelled design has. 0: no draw is made.
    """

    children: int = 1000
    quantiles: int = 25
    mutation_rate: float = 0.067
    seed: int = 0
    workers: int = 0
    mutate_fraction: float = 0.0
    immigrant_fraction: float = 0.0


#: Crossovers per unit of work: a unit's children come from its own seed, so the children of a
#: round do not depend on how many workers share the units.
UNIT = 100


def breed(pairs: Sequence[tuple[str, str]], mutation_rate: float, seed: int,
          mutate_fraction: float = 0.0) -> list[str]:
    """Canonical children of parent pairs (SMILES), in order; failed crossovers give none. A
    `mutate_fraction` share of the pairs give a mutant of their first parent instead."""
    rng, ga = np.random.default_rng(seed), GraphGAConfig(mutation_rate=mutation_rate)
    out = []
    with rdBase.BlockLogs():
        for pair in pairs:
            a, b = (Chem.MolFromSmiles(p) for p in pair)  # per pair: no pair sees a molecule another touched
            if mutate_fraction and rng.random() < mutate_fraction:
                child = None if a is None else mutate(a, 1.0, rng, ga)
            else:
                child = None if a is None or b is None else crossover(a, b, rng, ga)
                if child is not None:
                    child = mutate(child, mutation_rate, rng, ga)
            smiles = None if child is None else _canonical(child)
            if smiles is not None:
                out.append(smiles)
    return out


class OffspringProposer(ScreenedOffspring):
    """Breeds children of the labelled designs and keeps the best by the campaign's reward.

    Args:
        config: settings (defaults if None).
        library: unlabelled designs, the second parents of `config.immigrant_fraction` of the
            crossovers.
    """

    config: OffspringConfig

    def __init__(self, config: OffspringConfig | None = None, library: Sequence[str] = ()) -> None:
        super().__init__(config or OffspringConfig())
        self.library = list(library)
        self._pending: tuple[list[str], Callable[[], list[list[str]]]] | None = None  # from `prepare`

    def prepare(self, offline: Sequence[str]) -> None:
        """Start breeding the children of `offline` (on Ray tasks when Ray runs) so that it
        overlaps the surrogate's fit; the next `train` with the same `offline` takes them. The
        children and the random stream are those `train` alone would give."""
        self._pending = (list(offline), self._breed(list(offline)))

    def train(self, log_reward_fn: LogRewardFn, steps: int, offline: Sequence[str] = (),
              progress: ProgressFn | None = None) -> dict[str, float]:
        """Breeds `config.children` children of `offline` (the labelled designs, best first; none
        of them is returned), or takes those `prepare(offline)` started, and scores them with
        `log_reward_fn`. `steps` and `progress` are not used: one generation, whose parents all
        carry real labels.

        Returns:
            `children` (new, valid, distinct) and their `mean_log_reward`.
        """
        pending, self._pending = self._pending, None
        collect = pending[1] if pending is not None and pending[0] == list(offline) else self._breed(list(offline))
        return self.screen((c for part in collect() for c in part), offline, log_reward_fn)

    def _breed(self, offline: list[str]) -> Callable[[], list[list[str]]]:
        """Draw the parents and start breeding; returns what waits for the children, by unit."""
        cfg = self.config
        parents = quantile_parents(offline, 2 * cfg.children, self.rng, cfg.quantiles)
        pairs = list(zip(parents[::2], parents[1::2]))
        if cfg.immigrant_fraction and self.library:
            immigrant = self.rng.random(len(pairs)) < cfg.immigrant_fraction
            drawn = self.rng.integers(len(self.library), size=len(pairs))
            pairs = [(a, self.library[j]) if new else (a, b) for (a, b), new, j in zip(pairs, immigrant, drawn)]
        jobs = [(pairs[i:i + UNIT], cfg.mutation_rate, int(self.rng.integers(2**31)), cfg.mutate_fraction)
                for i in range(0, len(pairs), UNIT)]
        if cfg.workers > 1 and len(jobs) > 1:
            from .actors import breed_on_ray  # Ray lives in actors.py; None when Ray is not running

            started = breed_on_ray(breed, jobs)
            if started is not None:
                return started
        return lambda: [breed(*job) for job in jobs]

