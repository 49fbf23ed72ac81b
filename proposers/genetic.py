"""A graph GA on the surrogate's reward, behind the `Proposer` interface; and a mixture of proposers.

`GeneticProposer.train` evolves molecules *in silico*: Jensen's graph GA (`graph_ga.py`) seeded
with the best labelled designs, its fitness the campaign's log-reward (the acquisition), so no
oracle call is spent while it breeds. This is how the PMO leaderboard's GP BO optimises its
acquisition. `sample(n)` draws children without replacement with probability proportional to
`R = exp(log R)` (Gumbel top-k), so repeated calls give different, reward-weighted pools.

`MixtureProposer` trains several proposers on the same reward and splits each pool between them
(e.g. a GFlowNet for breadth and the GA for local improvements of the best designs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .base import LogRewardFn, ProgressFn
from .graph_ga import GraphGA, GraphGAConfig



@dataclass
class GeneticConfig:
    """Hyper-parameters of `GeneticProposer` (GA settings: the leaderboard's Graph GA)."""

    population_size: int = 120
    offspring_size: int = 70
    mutation_rate: float = 0.067
    seed: int = 0


class GeneticProposer:
    """Graph GA on a log-reward; `steps` = generations per `train` call.

    Args:
        corpus: molecules that fill the first population when fewer labelled designs are given.
        config: GA settings.
    """

    def __init__(self, corpus: Sequence[str], config: GeneticConfig | None = None) -> None:
        self.corpus = list(corpus)
        self.config = config or GeneticConfig()
        self.rng = np.random.default_rng(self.config.seed)
        self.children: dict[str, float] = {}  # design -> log-reward, bred by the last `train`
        self.calls = 0

    def train(self, log_reward_fn: LogRewardFn, steps: int, offline: Sequence[str] = (),
              progress: ProgressFn | None = None) -> dict[str, float]:
        """Breeds for `steps` generations from `offline` (the best labelled designs first).

        Returns:
            `generations` run, `children` bred, and their `mean_log_reward`.
        """
        cfg = self.config
        self.calls += 1
        extra = [self.corpus[i] for i in self.rng.permutation(len(self.corpus))[: cfg.population_size]]
        ga = GraphGA([*offline, *extra], GraphGAConfig(
            population_size=cfg.population_size, offspring_size=cfg.offspring_size,
            mutation_rate=cfg.mutation_rate, seed=cfg.seed * 1_000_003 + self.calls,
            patience=None, initial="first"))
        parents = set()
        shift: float | None = None
        self.children = {}
        generation = 0
        for generation in range(steps + 1):  # generation 0 scores the seed population
            asked = ga.ask()
            if not asked:
                break
            log_r = log_reward_fn(asked).double().tolist()
            if shift is None:
                shift = max(log_r)
            # proportional selection needs positive fitness: R relative to the best seed
            ga.tell(asked, [math.exp(min(max(v - shift, -50.0), 30.0)) for v in log_r])
            if generation == 0:
                parents.update(asked)
            else:
                self.children.update((d, v) for d, v in zip(asked, log_r) if d not in parents)
            if progress is not None and generation:
                progress(generation - 1, {"children": float(len(self.children))})
        values = list(self.children.values())
        return {"generations": float(generation), "children": float(len(values)),
                "mean_log_reward": float(np.mean(values)) if values else float("nan")}

    def sample(self, n: int) -> list[str]:
        """`n` children without replacement, with probability proportional to their reward."""
        if not self.children:
            return []
        designs = list(self.children)
        log_r = np.array([self.children[d] for d in designs])
        keys = log_r + self.rng.gumbel(size=len(designs))
        return [designs[i] for i in np.argsort(-keys)[:n]]

    def state_dict(self) -> dict[str, Any]:
        """Plain values only (a campaign loads checkpoints with `weights_only`)."""
        return {"config": vars(self.config).copy(), "calls": self.calls, "rng": self.rng.bit_generator.state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        config = state["config"]  # a dataclass in checkpoints written before 2026-12-07
        self.config = config if isinstance(config, GeneticConfig) else GeneticConfig(**config)
        self.calls = state["calls"]
        self.rng.bit_generator.state = state["rng"]


class MixtureProposer:
    """Several proposers trained on the same reward; each pool is split by `fractions`.

    Args:
        parts: name -> proposer.
        fractions: name -> share of every pool (normalised).
        steps: name -> training steps per round (a GFlowNet's gradient steps, a GA's generations).
    """

    def __init__(self, parts: dict[str, Any], fractions: dict[str, float], steps: dict[str, int]) -> None:
        if set(parts) != set(fractions) or set(parts) != set(steps):
            raise ValueError("parts, fractions and steps must name the same proposers")
        total = sum(fractions.values())
        self.parts, self.steps = parts, steps
        self.fractions = {k: v / total for k, v in fractions.items()}

    def train(self, log_reward_fn: LogRewardFn, steps: int, offline: Sequence[str] = (),
              progress: ProgressFn | None = None) -> dict[str, float]:
        """Trains every part (its own `steps`; the argument is ignored); metrics prefixed by name."""
        metrics: dict[str, float] = {}
        for name, part in self.parts.items():
            out = part.train(log_reward_fn, self.steps[name], offline=offline, progress=progress)
            metrics.update({f"{name}_{k}": v for k, v in (out or {}).items()})
        return metrics

    def sample(self, n: int) -> list[str]:
        """`round(n * fraction)` designs from each part (the last part takes the rest)."""
        out: list[str] = []
        names = list(self.parts)
        for i, name in enumerate(names):
            m = n - len(out) if i == len(names) - 1 else round(n * self.fractions[name])
            out.extend(self.parts[name].sample(m))
        return out

    @property
    def placements(self) -> list[dict[str, Any]]:
        """Where the parts that use Ray sampled (see `GFlowNetProposer.placements`)."""
        return [p for part in self.parts.values() for p in getattr(part, "placements", [])]

    def samplers(self):  # noqa: ANN201 - a context manager of the GFlowNet part, if any
        """The Ray sampler actors of the parts that have them, for one round."""
        from contextlib import ExitStack

        stack = ExitStack()
        for part in self.parts.values():
            if hasattr(part, "samplers"):
                stack.enter_context(part.samplers())
        return stack

    def state_dict(self) -> dict[str, Any]:
        return {name: part.state_dict() for name, part in self.parts.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, part in self.parts.items():
            part.load_state_dict(state[name])
