"""A fixture plugin: a design domain reached from a config by `module:Class` alone.

Necklaces: strings of beads read around a circle, so every rotation of a string is the same
design. The key is the smallest rotation; similarity is 1 - the Hamming distance of the keys.
The GFlowNet appends beads (`SequenceEnv`), the MLP reads one-hot rows. One new file, no
registration line (`domain: {name: domain_plugin:Necklaces, beads: RGB, length: 6}`); the oracle
`domain_plugin:score` is in the same file.
"""

import random

import numpy as np
from pydantic import Field

from sciloop.pipeline.domain_settings import DomainSettings


class NecklaceSettings(DomainSettings):
    beads: str = Field("RGB", min_length=2, description="one character per bead colour")
    length: int = Field(6, ge=2, description="beads per necklace")


def score(designs: list[str]) -> list[float]:
    """Share of neighbouring beads (around the circle) that differ in colour."""
    return [sum(d[i] != d[i - 1] for i in range(len(d))) / len(d) for d in designs]


class Necklaces:
    """Strings of `length` beads up to rotation."""

    Settings = NecklaceSettings
    inputs = ("vectors",)  # what its featurizer gives a surrogate
    proposers = ("gflownet", "screening")
    name = "necklace"
    initial_source = "random"

    def __init__(self, config):
        self.config, settings = config, config.domain
        self.beads, self.length = settings.beads, settings.length

    def invalid_reason(self, design):
        if not isinstance(design, str) or len(design) != self.length:
            return f"not a string of {self.length} beads"
        if set(design) - set(self.beads):
            return f"beads outside {self.beads!r}"
        return None

    def canonical(self, design):
        if self.invalid_reason(design) is not None:
            return None
        return min(design[i:] + design[:i] for i in range(len(design)))

    def initial_designs(self):
        rng = random.Random(self.config.seed)
        drawn = ("".join(rng.choices(self.beads, k=self.length)) for _ in range(self.config.initial.library_size))
        return list(dict.fromkeys(self.canonical(d) for d in drawn))

    def environment(self, library, max_len):
        from sciloop.proposers.sequence_env import SequenceEnv

        return SequenceEnv(self.beads, max_len=self.length, min_len=self.length)

    def featurizer(self, member):
        from sciloop.surrogates.sequences import OneHotFeaturizer

        return OneHotFeaturizer(self.beads, max_len=self.length)

    def similarity(self, a, b):
        x = np.array([[ord(c) for c in self.canonical(d)] for d in a]).reshape(len(a), self.length)
        y = np.array([[ord(c) for c in self.canonical(d)] for d in b]).reshape(len(b), self.length)
        return (x[:, None, :] == y[None, :, :]).mean(-1)
