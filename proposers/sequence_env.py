"""Token sequences over any alphabet (DNA, protein, bits): an append-only tree MDP.

A state is the prefix built so far, padded with `pad = len(alphabet)`; an action appends a
token or stops. Each state has one parent (drop the last token), so P_B = 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .env import DiscreteEnv


class SequenceEnv(DiscreteEnv):
    """Sequences of `min_len .. max_len` tokens (`min_len == max_len`: fixed length).

    Actions `0 .. V-1` append that token (allowed below `max_len`); action `V` stops
    (allowed from `min_len` tokens on, forced at `max_len`).

    Args:
        alphabet: the tokens (single characters join into a design string, e.g. "ACGT").
        max_len: longest sequence.
        min_len: shortest sequence (default `max_len`: fixed length).

    >>> env = SequenceEnv("01", max_len=8)            # bit strings of length 8
    >>> env = SequenceEnv("ACGT", max_len=20, min_len=1)  # DNA of 1..20 bases
    """

    is_tree = True

    def __init__(self, alphabet: Sequence[str], max_len: int, min_len: int | None = None) -> None:
        min_len = max_len if min_len is None else min_len
        if not 0 <= min_len <= max_len or max_len < 1 or len(alphabet) < 1:
            raise ValueError("need a non-empty alphabet and 0 <= min_len <= max_len, max_len >= 1")
        self.alphabet = list(alphabet)
        self.max_len, self.min_len = max_len, min_len
        self.pad = len(self.alphabet)
        self.state_dim = max_len
        self.n_actions = len(self.alphabet) + 1
        self.input_dim = max_len * (len(self.alphabet) + 1)
        self.max_steps = max_len + 1

    def lengths(self, states: torch.Tensor) -> torch.Tensor:
        """Tokens in each state: `n` LongTensor."""
        return (states != self.pad).sum(-1)

    def initial(self, n: int) -> torch.Tensor:
        return torch.full((n, self.max_len), self.pad, dtype=torch.long)

    def forward_mask(self, states: torch.Tensor) -> torch.Tensor:
        length = self.lengths(states).unsqueeze(1)
        append = (length < self.max_len).expand(-1, self.n_actions - 1)
        return torch.cat([append, length >= self.min_len], dim=1)

    def step(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        move = actions != self.stop
        pos = self.lengths(states).clamp(max=self.max_len - 1)
        token = torch.where(move, actions, states.gather(1, pos.unsqueeze(1)).squeeze(1))
        return states.scatter(1, pos.unsqueeze(1), token.unsqueeze(1))

    def backward_mask(self, states: torch.Tensor) -> torch.Tensor:
        length = self.lengths(states)
        last = states.gather(1, (length - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
        mask = F.one_hot(last.clamp(max=self.pad - 1), self.n_actions - 1).bool()
        return mask & (length > 0).unsqueeze(1)

    def backward_step(self, states: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        last = (self.lengths(states) - 1).clamp(min=0).unsqueeze(1)
        return states.scatter(1, last, self.pad)

    def encode(self, states: torch.Tensor) -> torch.Tensor:
        return F.one_hot(states, self.pad + 1).flatten(1).float()

    def to_designs(self, states: torch.Tensor) -> list[str]:
        return ["".join(self.alphabet[t] for t in row if t != self.pad) for row in states.tolist()]

    def from_designs(self, designs: Sequence[str]) -> torch.Tensor:
        """States of single-character-token design strings (inverse of `to_designs`).

        Strings with a character outside the alphabet or a length outside
        `min_len .. max_len` are dropped.
        """
        index = {tok: i for i, tok in enumerate(self.alphabet)}
        rows = [[index.get(c, -1) for c in d] for d in designs]
        return self.states_of(
            [r for r in rows if -1 not in r and self.min_len <= len(r) <= self.max_len])

    def unique_valid(self, designs: Sequence[str]) -> int:
        """Distinct valid designs among `designs` (here: distinct non-empty strings)."""
        return len({d for d in designs if d})

    def state_dict(self) -> dict[str, Any]:
        """The alphabet and length limits: enough to rebuild the environment."""
        return {"alphabet": list(self.alphabet), "max_len": self.max_len, "min_len": self.min_len}

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> SequenceEnv:
        """Rebuilds an environment saved with `state_dict`."""
        return cls(state["alphabet"], max_len=state["max_len"], min_len=state["min_len"])

    def states_of(self, rows: Sequence[Sequence[int]]) -> torch.Tensor:
        """States of token-index lists (each of `<= max_len` tokens), padded."""
        out = self.initial(len(rows))
        for r, ids in enumerate(rows):
            out[r, : len(ids)] = torch.tensor(list(ids), dtype=torch.long)
        return out
