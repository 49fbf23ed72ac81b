"""Random screening of a fixed library: the honest baseline for molecule design."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import LogRewardFn


class ScreeningProposer:
    """Visits a fixed library in one seeded random order, pass after pass.

    The library is deduplicated (first occurrence kept). The campaign drops every design that
    already has a result, so a design the selection passed over in one round is offered again
    on the next pass: the library is used up only when all of it is labelled (the round then
    stops with "no new valid design"). A resumed proposer continues where it stopped.

    Args:
        library: candidate designs (SMILES).
        seed: seed of the visiting order.

    >>> p = ScreeningProposer(["CCO", "CCN", "c1ccccc1"], seed=0)
    >>> first, second = p.sample(2), p.sample(2)
    >>> len(set(first + second[:1])), second[1] == first[0]
    (3, True)
    """

    def __init__(self, library: Sequence[str], seed: int = 0) -> None:
        self.library: list[str] = list(dict.fromkeys(library))
        if not self.library:
            raise ValueError("screening needs a non-empty library")
        self.seed = seed
        self._order = np.random.default_rng(seed).permutation(len(self.library))
        self._cursor = 0

    def train(
        self, log_reward_fn: LogRewardFn, steps: int, offline: Sequence[str] = (), **_: Any
    ) -> dict[str, float]:
        """No-op: screening does not learn."""
        return {}

    def sample(self, n: int) -> list[str]:
        """The next `n` designs of the visiting order, starting it again at its end (at most
        the whole library: no design twice in one call)."""
        size = len(self.library)
        idx = [self._order[(self._cursor + i) % size] for i in range(min(n, size))]
        self._cursor += len(idx)
        return [self.library[i] for i in idx]

    def state_dict(self) -> dict[str, Any]:
        """Returns the seed, library size and how many designs were drawn (over all passes)."""
        return {"seed": self.seed, "size": len(self.library), "cursor": self._cursor}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resumes the visiting order saved by `state_dict` (same library required)."""
        if state["size"] != len(self.library):
            raise ValueError(
                f"state is for a library of {state['size']} designs, not {len(self.library)}"
            )
        self.seed = state["seed"]
        self._order = np.random.default_rng(self.seed).permutation(len(self.library))
        self._cursor = state["cursor"]
