"""The sequence domain: strings over a fixed alphabet (proteins, DNA), of a fixed or bounded length.

The key is the sequence itself; the initial designs are seeded random sequences or a file; the
GFlowNet appends tokens (`proposers.sequence_env.SequenceEnv`); the surrogate reads flat one-hot
rows (MLP) or token ids (CNN); similarity is 1 - the normalised Hamming distance.

Light to import (no torch, no rdkit): `pipeline.config` reads `SequenceSettings` from here.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, model_validator

from sciloop.pipeline.domain_settings import DomainSettings

if TYPE_CHECKING:
    import numpy as np

    from sciloop.pipeline.config import CampaignConfig
    from sciloop.proposers.sequence_env import SequenceEnv
    from sciloop.surrogates.featurizers import Featurizer

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"


class SequenceSettings(DomainSettings):
    """`domain: {name: sequence, alphabet: ACGT, length: 32}`."""

    alphabet: str = Field(AMINO_ACIDS, min_length=1, description="one character per token, in id order")
    length: int = Field(32, ge=1, description="tokens per sequence (the longest, with min_length)")
    min_length: int | None = Field(None, ge=1, description="shortest sequence (None: every sequence has `length`)")
    initial_file: str | None = Field(None, description=(
        "initial designs, one sequence per line (None: `initial.library_size` seeded random sequences)"))

    @model_validator(mode="after")
    def _consistent(self) -> SequenceSettings:
        if len(set(self.alphabet)) != len(self.alphabet):
            raise ValueError(f"alphabet {self.alphabet!r} repeats a token")
        if self.min_length is not None and self.min_length > self.length:
            raise ValueError(f"min_length {self.min_length} exceeds length {self.length}")
        return self


class SequenceDomain:
    """Sequences over `alphabet` of `min_length .. length` tokens (the registered domain `sequence`).

    Args:
        config: the campaign config; `config.domain` is a `SequenceSettings`.
    """

    name = "sequence"

    def __init__(self, config: CampaignConfig) -> None:
        settings = config.domain
        assert isinstance(settings, SequenceSettings)
        self.config, self.settings = config, settings
        self.alphabet, self.length = settings.alphabet, settings.length
        self.min_length = settings.min_length or settings.length
        self.initial_source = f"file:{Path(settings.initial_file).name}" if settings.initial_file else "random"
        self._tokens = frozenset(self.alphabet)

    def invalid_reason(self, design: str) -> str | None:
        if not isinstance(design, str) or not design:
            return "empty or not a string"
        outside = sorted({c for c in design if c not in self._tokens})
        if outside:
            return f"tokens {''.join(outside[:5])!r} are outside the alphabet {self.alphabet!r}"
        if not self.min_length <= len(design) <= self.length:
            span = str(self.length) if self.min_length == self.length else f"{self.min_length}..{self.length}"
            return f"length {len(design)} is not {span}"
        return None

    def canonical(self, design: str) -> str | None:
        return design if self.invalid_reason(design) is None else None

    def initial_designs(self) -> list[str]:
        """The file's sequences (blank and `#` lines skipped; every other line valid, else a
        ValueError naming its line number), or `initial.library_size` random ones drawn with the
        campaign's seed; distinct, in order."""
        path = self.settings.initial_file
        if path is not None:
            designs = []
            text = Path(path).read_text(encoding="utf-8-sig")  # a spreadsheet's or editor's byte-order mark
            for number, line in enumerate(text.splitlines(), 1):
                design = line.strip()
                if not design or design.startswith("#"):
                    continue
                why = self.invalid_reason(design)
                if why is not None:
                    raise ValueError(f"domain.initial_file {path}: line {number} ({design[:40]!r}): {why}")
                designs.append(design)
        else:
            rng = random.Random(self.config.seed)
            designs = ["".join(rng.choices(self.alphabet, k=rng.randint(self.min_length, self.length)))
                       for _ in range(self.config.initial.library_size)]
        return list(dict.fromkeys(designs))

    def environment(self, library: Sequence[str], max_len: int) -> SequenceEnv:
        """Tokens appended one by one (`max_len` is the molecule's setting: the domain has its own)."""
        from sciloop.proposers.sequence_env import SequenceEnv

        return SequenceEnv(self.alphabet, max_len=self.length, min_len=self.min_length)

    def featurizer(self, member: str) -> Featurizer:
        """Token ids for a member that reads tokens (the CNN), else flat one-hot rows."""
        from sciloop.surrogates.members import member_inputs
        from sciloop.surrogates.sequences import OneHotFeaturizer, SequenceFeaturizer

        kind = SequenceFeaturizer if member_inputs(member) == "tokens" else OneHotFeaturizer
        return kind(self.alphabet, max_len=self.length)

    def similarity(self, a: Sequence[str], b: Sequence[str]) -> np.ndarray:
        """1 - Hamming distance / the longer sequence's length (a shorter sequence differs at each
        position the longer one has and it lacks)."""
        import numpy as np

        def codes(designs: Sequence[str]) -> np.ndarray:
            out = np.full((len(designs), self.length), -1, dtype=np.int16)
            for i, d in enumerate(designs):
                out[i, : len(d)] = [ord(c) for c in d]
            return out

        x, y = codes(a), codes(b)
        matches = ((x[:, None, :] == y[None, :, :]) & (x[:, None, :] >= 0)).sum(-1)
        longer = np.maximum((x >= 0).sum(-1)[:, None], (y >= 0).sum(-1)[None, :])
        return 1.0 - (longer - matches) / np.maximum(longer, 1)

    def picture(self, designs: Sequence[str], scores: Sequence[float], k: int = 12) -> Any:
        """The `k` best sequences as rows of coloured tokens (one colour per token), score on the
        left, with each position's most frequent token among them underneath: a matplotlib figure."""
        from collections import Counter

        import matplotlib.pyplot as plt
        import numpy as np

        best = sorted(zip(scores, designs), reverse=True)[:k]
        ids = {t: i for i, t in enumerate(self.alphabet)}
        grid = np.full((len(best), self.length), np.nan)
        for row, (_, d) in enumerate(best):
            grid[row, : len(d)] = [ids[c] for c in d]
        fig, ax = plt.subplots(figsize=(min(2 + 0.28 * self.length, 40), 0.8 + 0.3 * (len(best) + 1)))
        ax.imshow(grid, cmap="tab20", vmin=0, vmax=max(19, len(self.alphabet) - 1), aspect="auto")
        for row, (_, d) in enumerate(best):
            for col, c in enumerate(d):
                ax.text(col, row, c, ha="center", va="center", fontsize=8, family="monospace")
        consensus = "".join(Counter(d[i] for _, d in best if i < len(d)).most_common(1)[0][0]
                            if any(i < len(d) for _, d in best) else " " for i in range(self.length))
        ax.set_yticks(range(len(best)), [f"{s:.3f}" for s, _ in best])
        ax.set_xticks(range(self.length), list(consensus), family="monospace")
        ax.set(xlabel="most frequent token per position", title=f"top {len(best)} sequences")
        fig.tight_layout()
        return fig

    def drawing(self, design: str) -> str | None:
        """None: a sequence is shown as its text."""
        return None
