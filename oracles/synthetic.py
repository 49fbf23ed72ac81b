"""Synthetic oracles: the hypergrid reward and small toy functions for tests and examples.

- `Hypergrid`: the standard hypergrid reward (Bengio et al. 2021) on designs written as grid
  coordinates, `"3,5"`;
- `TokenCount`: how often a token occurs in a sequence (a one-line objective with an obvious
  optimum);
- `TwoTokenFractions`: a two-objective toy, the fractions of two tokens in a sequence, which
  compete (the Pareto front is every sequence made of those two tokens only).
"""

from __future__ import annotations

from dataclasses import dataclass

from sciloop.oracles.base import OracleResult


@dataclass(kw_only=True)
class Hypergrid:
    """The hypergrid reward on `ndim` coordinates in `0 .. height-1`, written `"3,5"`.

    `R(x) = R0 + R1 * prod_i [0.25 < |x_i/(H-1) - 0.5| <= 0.5]
    + R2 * prod_i [0.3 < |x_i/(H-1) - 0.5| < 0.4]`.

    Args:
        ndim: number of coordinates.
        height: points per coordinate `H`.
        r0, r1, r2: base reward, outer-band bonus, inner-ring bonus.

    A design that is not `ndim` integers in range fails with "invalid design".

    >>> Hypergrid(ndim=2, height=8).score(["0,0", "1,1", "9,0"])[0].value
    0.6
    """

    ndim: int = 2
    height: int = 8
    r0: float = 0.1
    r1: float = 0.5
    r2: float = 2.0
    name: str = "hypergrid"
    num_objectives: int = 1
    num_cpus: float = 0.25
    num_gpus: float = 0.0
    timeout_s: float | None = 60.0
    batch_size: int = 256
    idempotent: bool = True

    def __post_init__(self) -> None:
        if self.ndim < 1 or self.height < 2:
            raise ValueError("need ndim >= 1 and height >= 2")

    def coordinates(self, design: str) -> tuple[int, ...] | None:
        """The grid point of `design`, or None when it is not one."""
        try:
            x = tuple(int(p) for p in str(design).split(","))
        except ValueError:
            return None
        ok = len(x) == self.ndim and all(0 <= c < self.height for c in x)
        return x if ok else None

    def reward(self, x: tuple[int, ...]) -> float:
        ax = [abs(c / (self.height - 1) - 0.5) for c in x]
        band = all(0.25 < a <= 0.5 for a in ax)
        ring = all(0.3 < a < 0.4 for a in ax)
        return self.r0 + self.r1 * band + self.r2 * ring

    def score(self, batch: list[str]) -> list[OracleResult]:
        points = [self.coordinates(d) for d in batch]
        return [OracleResult.failure("invalid design") if x is None else OracleResult(self.reward(x))
                for x in points]


@dataclass(kw_only=True)
class TokenCount:
    """How many times `token` occurs in a sequence (optionally divided by its length)."""

    token: str = "A"
    normalize: bool = False
    name: str = "token_count"
    num_objectives: int = 1
    num_cpus: float = 0.25
    num_gpus: float = 0.0
    timeout_s: float | None = 60.0
    batch_size: int = 256
    idempotent: bool = True

    def score(self, batch: list[str]) -> list[OracleResult]:
        out = []
        for design in batch:
            if not isinstance(design, str) or not design:
                out.append(OracleResult.failure("invalid design"))
                continue
            n = design.count(self.token)
            out.append(OracleResult(n / len(design) if self.normalize else float(n)))
        return out


@dataclass(kw_only=True)
class TwoTokenFractions:
    """Two objectives: the fractions of `first` and of `second` in a sequence (a tuple).

    They compete: raising one lowers the other once the sequence holds only those tokens.
    """

    first: str = "A"
    second: str = "C"
    name: str = "two_token_fractions"
    num_objectives: int = 2
    num_cpus: float = 0.25
    num_gpus: float = 0.0
    timeout_s: float | None = 60.0
    batch_size: int = 256
    idempotent: bool = True

    def score(self, batch: list[str]) -> list[OracleResult]:
        return [OracleResult((d.count(self.first) / len(d), d.count(self.second) / len(d)))
                if isinstance(d, str) and d else OracleResult.failure("invalid design") for d in batch]
