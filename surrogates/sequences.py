"""Token sequences (proteins, DNA, SELFIES) as fixed-width rows of token ids, cached by design.

``SequenceFeaturizer`` maps a sequence to a row of ``max_len`` token ids (``1 .. V``; ``0``
pads the end), as float64 so the rows travel through BoTorch like any feature rows; the CNN
member embeds them (an embedding is a learned one-hot projection). ``one_hot`` gives the
explicit `n x max_len x V` encoding for models that want it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import Tensor

from .featurizers import FEATURE_DTYPE

__all__ = ["AMINO_ACIDS", "OneHotFeaturizer", "SequenceFeaturizer"]

#: The 20 standard amino acids (one-letter codes).
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
_SELFIES_TOKEN = re.compile(r"\[[^\]]*\]")


class SequenceFeaturizer:
    """Sequences over a fixed alphabet as padded token-id rows (`n x max_len`).

    Example:
        >>> featurizer = SequenceFeaturizer("ACGT", max_len=6)
        >>> featurizer(["ACG", "TTTT"])
        tensor([[1., 2., 3., 0., 0., 0.],
                [4., 4., 4., 4., 0., 0.]], dtype=torch.float64)
    """

    def __init__(self, alphabet: Sequence[str] = AMINO_ACIDS, max_len: int = 64,
                 selfies: bool = False) -> None:
        """Set up the featurizer.

        Args:
            alphabet: The tokens (characters, or bracketed SELFIES tokens), in id order.
            max_len: Row width; longer designs are rejected (``ValueError``).
            selfies: Split designs into ``[...]`` tokens instead of characters.
        """
        tokens = list(alphabet)
        if len(set(tokens)) != len(tokens) or not tokens:
            raise ValueError("the alphabet must be non-empty without repeated tokens")
        if max_len < 1:
            raise ValueError(f"max_len must be >= 1, got {max_len}")
        self.alphabet, self.max_len, self.selfies = tokens, int(max_len), bool(selfies)
        self._ids = {t: i + 1 for i, t in enumerate(tokens)}
        self._cache: dict[str, Tensor] = {}

    @property
    def dim(self) -> int:
        """The feature dimension ``max_len``."""
        return self.max_len

    @property
    def vocab_size(self) -> int:
        """Number of token ids including the padding id 0 (``V + 1``)."""
        return len(self.alphabet) + 1

    def config(self) -> dict:
        """The constructor arguments."""
        return {"alphabet": "".join(self.alphabet) if not self.selfies else self.alphabet,
                "max_len": self.max_len, "selfies": self.selfies}

    def tokens(self, design: str) -> list[str]:
        """Split a design into tokens."""
        if self.selfies:
            parts = _SELFIES_TOKEN.findall(design)
            if "".join(parts) != design:
                raise ValueError(f"invalid design (not a SELFIES string): {design!r}")
            return parts
        return list(design)

    def _row(self, design: str) -> Tensor:
        hit = self._cache.get(design)
        if hit is not None:
            return hit
        if not isinstance(design, str) or not design:
            raise ValueError(f"invalid design (empty or not a string): {design!r}")
        toks = self.tokens(design)
        unknown = [t for t in toks if t not in self._ids]
        if unknown or len(toks) > self.max_len:
            why = f"unknown tokens {unknown[:3]}" if unknown else f"longer than {self.max_len}"
            raise ValueError(f"invalid design ({why}): {design!r}")
        row = torch.zeros(self.max_len, dtype=FEATURE_DTYPE)
        row[: len(toks)] = torch.tensor([self._ids[t] for t in toks], dtype=FEATURE_DTYPE)
        self._cache[design] = row
        return row

    def __call__(self, designs: Sequence[str]) -> Tensor:
        """Token-id rows.

        Args:
            designs: ``n`` sequences.

        Returns:
            A `n x max_len` float64 tensor of token ids (0 = padding).

        Raises:
            ValueError: For an empty design, an unknown token or a too long design.
        """
        return self.ids(designs)

    def ids(self, designs: Sequence[str]) -> Tensor:
        """Token-id rows (what `__call__` gives here): a `n x max_len` float64 tensor."""
        if isinstance(designs, str):
            raise TypeError("designs must be a sequence of strings, not one string")
        rows = [self._row(d) for d in designs]
        return torch.stack(rows) if rows else torch.zeros(0, self.max_len, dtype=FEATURE_DTYPE)

    def one_hot(self, designs: Sequence[str]) -> Tensor:
        """One-hot encoding without the padding id: a `n x max_len x V` float64 tensor."""
        ids = self.ids(designs).long()
        return torch.nn.functional.one_hot(ids, self.vocab_size)[..., 1:].to(FEATURE_DTYPE)

    def is_valid(self, design: str) -> bool:
        """Whether ``design`` featurizes."""
        try:
            self._row(design)
        except ValueError:
            return False
        return True

    def __repr__(self) -> str:
        return f"SequenceFeaturizer(V={len(self.alphabet)}, max_len={self.max_len})"


class OneHotFeaturizer(SequenceFeaturizer):
    """Sequences as flat one-hot rows (`n x (max_len * V)`; padding is all zeros), for members
    that read fixed-width vectors (the MLP).

    Example:
        >>> OneHotFeaturizer("AB", max_len=2)(["BA"])
        tensor([[0., 1., 1., 0.]], dtype=torch.float64)
    """

    @property
    def dim(self) -> int:
        """The feature dimension ``max_len * V``."""
        return self.max_len * len(self.alphabet)

    def __call__(self, designs: Sequence[str]) -> Tensor:
        """Flat one-hot rows: a `n x (max_len * V)` float64 tensor (ValueError as `SequenceFeaturizer`)."""
        return self.one_hot(designs).flatten(1)

    def __repr__(self) -> str:
        return f"OneHotFeaturizer(V={len(self.alphabet)}, max_len={self.max_len})"
