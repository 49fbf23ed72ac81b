"""Children of the labelled sequences, screened by the surrogate: the `offspring` proposer for strings.

`SequenceOffspringProposer.train` draws parents among the labelled designs the way Mol GA draws
them (`parents.quantile_parents`: an equal share from each of 25 log-spaced top quantiles), makes
each child by a crossover of two parents (uniform, one-point or two-point, one of the three at
random; with `min_length` below `length`, one-point cuts each parent at its own point, which makes
new lengths) or, for a `mutate_fraction` share, from one parent alone, then replaces each position by a
random token of the alphabet with probability `mutation_rate` (default `1 / length`; a child from
one parent changes at least one position). Children outside `min_length .. length`, repeats and
labelled designs are dropped; the rest are scored with the campaign's log-reward and `sample(n)`
returns the `n` best. The random stream is the proposer's only state: a resumed campaign breeds
the same children.

Light to import: numpy only, no rdkit (a sequence campaign runs without it) and no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .parents import ScreenedOffspring, quantile_parents

if TYPE_CHECKING:
    from .base import LogRewardFn, ProgressFn

__all__ = ["SequenceOffspringConfig", "SequenceOffspringProposer", "breed_sequences"]



@dataclass
class SequenceOffspringConfig:
    """Settings of `SequenceOffspringProposer`.

    Attributes:
        alphabet: one character per token.
        length: the longest sequence.
        min_length: the shortest (None: every sequence has `length`).
        children: children bred per `train` call (the pool the surrogate screens).
        quantiles: Mol GA's parent sampling: log-spaced top quantiles, each an equal share.
        mutation_rate: probability that a position is replaced by a random token (None: `1 / length`).
        mutate_fraction: share of children made from one parent alone (no crossover).
        seed: seed of the proposer's only random generator.
    """

    alphabet: str
    length: int
    min_length: int | None = None
    children: int = 1000
    quantiles: int = 25
    mutation_rate: float | None = None
    mutate_fraction: float = 0.0
    seed: int = 0

    @property
    def rate(self) -> float:
        """The per-position mutation probability."""
        return 1.0 / self.length if self.mutation_rate is None else self.mutation_rate


def _crossover(a: str, b: str, rng: np.random.Generator, variable: bool = False) -> str:
    """Uniform, one-point or two-point crossover (one at random); the child has `a`'s length, its
    positions past `b`'s end from `a`. With `variable` (lengths may differ), a one-point child is
    `a`'s head and `b`'s tail cut at two points drawn apart, so new lengths arise."""
    n = min(len(a), len(b))
    kind = int(rng.integers(3))
    if kind == 1 and variable:
        return a[: int(rng.integers(len(a) + 1))] + b[int(rng.integers(len(b) + 1)):]
    if kind == 0:  # uniform
        take_b = rng.random(n) < 0.5
        return "".join(b[i] if take_b[i] else a[i] for i in range(n)) + a[n:]
    cuts = sorted(int(c) for c in rng.integers(0, n + 1, size=kind))
    if kind == 1:
        return a[: cuts[0]] + b[cuts[0]: n] + a[n:]
    return a[: cuts[0]] + b[cuts[0]: cuts[1]] + a[cuts[1]:]


def _mutate(seq: str, alphabet: str, rate: float, rng: np.random.Generator, at_least_one: bool) -> str:
    """Each position replaced by a uniform token with probability `rate` (at least one position
    drawn when `at_least_one`; a drawn token may equal the old one only if the alphabet has one token)."""
    if not seq:
        return seq
    hit = rng.random(len(seq)) < rate
    if at_least_one and not hit.any():
        hit[int(rng.integers(len(seq)))] = True
    chars = list(seq)
    for i in np.flatnonzero(hit):
        choices = alphabet.replace(chars[i], "") or alphabet
        chars[i] = choices[int(rng.integers(len(choices)))]
    return "".join(chars)


def breed_sequences(parents: Sequence[str], config: SequenceOffspringConfig,
                    rng: np.random.Generator) -> list[str]:
    """Children of consecutive parent pairs, in order (one per pair; a child outside the allowed
    lengths is dropped). Repeats are kept: the caller deduplicates."""
    lo = config.min_length or config.length
    out = []
    for a, b in zip(parents[::2], parents[1::2]):
        alone = bool(config.mutate_fraction) and rng.random() < config.mutate_fraction
        child = a if alone else _crossover(a, b, rng, variable=lo < config.length)
        child = _mutate(child, config.alphabet, config.rate, rng, at_least_one=alone)
        if lo <= len(child) <= config.length:
            out.append(child)
    return out


class SequenceOffspringProposer(ScreenedOffspring):
    """Breeds children of the labelled sequences and keeps the best by the campaign's reward.

    Args:
        config: settings.
    """

    config: SequenceOffspringConfig

    def train(self, log_reward_fn: LogRewardFn, steps: int, offline: Sequence[str] = (),
              progress: ProgressFn | None = None) -> dict[str, float]:
        """Breeds `config.children` children of `offline` (the labelled designs, best first; none
        of them is returned) and scores them with `log_reward_fn`. `steps` and `progress` are not
        used: one generation, whose parents all carry real labels.

        Returns:
            `children` (new and distinct) and their `mean_log_reward`.
        """
        parents = quantile_parents(list(offline), 2 * self.config.children, self.rng, self.config.quantiles)
        return self.screen(breed_sequences(parents, self.config, self.rng), offline, log_reward_fn)
