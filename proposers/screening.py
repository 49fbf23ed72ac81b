"""Random screening of a fixed library: the honest baseline for molecule design."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .base import LogRewardFn


class LibraryExhaustedError(RuntimeError):
    """Raised when every design of the library has already been proposed."""


class ScreeningProposer:
    """Draws designs from a fixed library without replacement across calls.

    The library is deduplicated (first occurrence kept) and visited in one seeded random
    permutation, so a resumed proposer continues where it stopped.

    Args:
        library: candidate designs (SMILES).
        seed: seed of the visiting order.

    >>> p = ScreeningProposer(["CCO", "CCN", "c1ccccc1"], seed=0)
    >>> len(set(p.sample(2) + p.sample(5)))
    3
    """

    def __init__(self, library: Sequence[str], seed: int = 0) -> None:
        self.library: list[str] = list(dict.fromkeys(library))
        self.seed = seed
        self._order = np.random.default_rng(seed).permutation(len(self.library))
        self._cursor = 0

    @property
    def remaining(self) -> int:
        """Number of designs not yet proposed."""
        return len(self.library) - self._cursor

    def train(
        self, log_reward_fn: LogRewardFn, steps: int, offline: Sequence[str] = (), **_: Any
    ) -> dict[str, float]:
        """No-op: screening does not learn."""
        return {}

    def sample(self, n: int) -> list[str]:
        """Returns the next `n` unseen designs (fewer if the library runs out).

        Raises:
            LibraryExhaustedError: if `n > 0` and nothing is left.
        """
        if n > 0 and self.remaining == 0:
            raise LibraryExhaustedError(
                f"all {len(self.library)} library designs have been proposed"
            )
        idx = self._order[self._cursor : self._cursor + n]
        self._cursor += len(idx)
        return [self.library[i] for i in idx]

    def state_dict(self) -> dict[str, Any]:
        """Returns the seed, library size and how many designs were drawn."""
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
