"""Ehrlich functions: closed-form sequence objectives with a known optimum (Stanton et al. 2024).

"Closed-Form Test Functions for Biophysical Sequence Design" (arXiv 2407.00236). An instance
is drawn from a seed:

- a random ergodic transition matrix `A` over the `v` states whose rows keep a shuffled band
  of allowed next states (plus the state itself) and forbid the rest: a sequence is feasible
  when every transition `x_l -> x_{l+1}` has `A > 0`;
- `c` motifs `a^(i)` of length `k`, drawn together as one feasible chain and cut in `c`
  pieces (so a sequence holding all of them exists), each with spacings `s^(i)` (offsets of
  its elements, `s_1 = 0`, span at most `(L - c k) // c + k`);
- `h_i(x) = max_l (1/k) sum_j [x_{l + s_j} = a_j]`, quantized to `q` levels:
  `floor(q h_i) / q`;
- `f(x) = prod_i h_i(x)` for a feasible `x`, `0` for an infeasible one; `f` is in `[0, 1]` and
  the optimum is `1.0`.

The random draws follow the reference implementation (`pytorch-holo`'s
`holo.test_functions.closed_form.Ehrlich`, same torch generator calls in the same order), so
`Ehrlich(num_states=v, length=L, ..., seed=s)` is that library's instance with
`random_seed=s`; `benchmarks/ehrlich_reference.py` stores its values and a test checks them.
Two deliberate differences: an infeasible sequence scores `0` (the paper's definition; the
library returns `-inf`), and `q` must divide `k` (for other `q` the library's quantization
cannot reach 1.0).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from sciloop.oracles.base import OracleResult

if TYPE_CHECKING:
    import torch

#: Default tokens: the 20 amino acids, then letters and digits for larger vocabularies.
AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
_MORE_TOKENS = AMINO_ACIDS + "".join(c for c in string.ascii_letters + string.digits if c not in AMINO_ACIDS)


def default_alphabet(num_states: int) -> str:
    """The first `num_states` default tokens (amino acids first)."""
    if not 1 <= num_states <= len(_MORE_TOKENS):
        raise ValueError(f"num_states must be in 1..{len(_MORE_TOKENS)}; pass an alphabet")
    return _MORE_TOKENS[:num_states]


def _transition_matrix(gen: torch.Generator, v: int) -> torch.Tensor:
    """A random ergodic transition matrix with a shuffled band of allowed moves (+ repeats)."""
    import torch

    bandwidth = int(v * 0.4)
    dense = (torch.randn(v, v, generator=gen) / 0.5).softmax(dim=-1)
    band = torch.zeros(v, v, dtype=torch.bool)
    for i in range(v):
        band[i, [j % v for j in range(i - bandwidth, i + bandwidth + 1)]] = True
    allowed = band[torch.randperm(v, generator=gen)] | torch.eye(v, dtype=torch.bool)
    matrix = torch.where(allowed, dense, torch.zeros_like(dense))
    matrix = matrix / matrix.sum(dim=-1, keepdim=True)
    power = torch.linalg.matrix_power(matrix.double(), (v - 1) ** 2 + 1)  # Wielandt bound: primitive iff > 0
    if not bool((power > 0).all()):
        raise ValueError("the sampled transition matrix is not ergodic; choose another seed")
    return matrix


def _stationary(matrix: torch.Tensor) -> torch.Tensor:
    """The stationary distribution of `matrix` (least squares with the sum-to-one row)."""
    import torch

    v = matrix.shape[0]
    a = torch.cat([(torch.eye(v) - matrix).T, torch.ones(1, v)], dim=0)
    b = torch.zeros(v + 1, 1)
    b[-1] = 1.0
    q, r = torch.linalg.qr(a)
    return torch.linalg.solve(r, q.T @ b).squeeze(-1)


def _chain(gen: torch.Generator, first_dist: torch.Tensor, matrix: torch.Tensor, steps: int) -> list[int]:
    """One sample path of the Markov chain: first state from `first_dist`, then `matrix`."""
    import torch

    path = torch.zeros(1, steps, dtype=torch.int64)
    path[:, 0] = torch.multinomial(first_dist, 1, replacement=True, generator=gen)
    for t in range(1, steps):
        path[:, t] = torch.multinomial(matrix[path[:, t - 1]], 1, generator=gen).squeeze(-1)
    return path[0].tolist()


@dataclass(kw_only=True)
class Ehrlich:
    """An Ehrlich function on fixed-length token sequences, optimum 1.0, infeasible 0.0.

    Args:
        num_states: vocabulary size `v` (ignored when `alphabet` is given).
        alphabet: one character per state (default: amino acids, then letters and digits).
        length: sequence length `L`.
        num_motifs: number of motifs `c`.
        motif_length: elements per motif `k` (`c * k <= L`).
        quantization: levels `q` of each motif's score (default `k`: no quantization);
            `q` must divide `k`.
        epistasis_factor: `e` of the reference library's response `h (1 + e h (h - 1))`
            (0: the paper's plain product).
        seed: draws the transition matrix, motifs and spacings.

    A design of the wrong length or with a token outside the alphabet fails with
    "invalid design"; a well-formed but infeasible one scores 0.

    >>> f = Ehrlich(num_states=20, length=32, num_motifs=2, motif_length=4, seed=0)
    >>> f.score([f.optimal_solution()])[0].value
    1.0
    """

    num_states: int = 20
    alphabet: str | None = None
    length: int = 32
    num_motifs: int = 2
    motif_length: int = 4
    quantization: int | None = None
    epistasis_factor: float = 0.0
    seed: int = 0
    name: str = "ehrlich"
    num_objectives: int = 1
    num_cpus: float = 0.25
    num_gpus: float = 0.0
    timeout_s: float | None = 60.0
    batch_size: int = 256
    idempotent: bool = True
    transition_matrix: np.ndarray = field(init=False, repr=False, compare=False)
    motifs: list[tuple[int, ...]] = field(init=False, repr=False)
    offsets: list[tuple[int, ...]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        import torch  # only to draw the instance exactly as the reference library does

        if self.alphabet is None:
            self.alphabet = default_alphabet(self.num_states)
        if len(set(self.alphabet)) != len(self.alphabet):
            raise ValueError(f"alphabet has repeated tokens: {self.alphabet!r}")
        self.num_states = v = len(self.alphabet)
        c, k, q = self.num_motifs, self.motif_length, self.quantization or self.motif_length
        if c < 1 or k < 2:
            raise ValueError("need num_motifs >= 1 and motif_length >= 2")
        if c * k > self.length:
            raise ValueError(f"{c} motifs of length {k} do not fit in length {self.length}")
        if not 1 <= q <= k or k % q:
            raise ValueError(f"quantization {q} must divide motif_length {k}")
        self.quantization = q
        gen = torch.Generator().manual_seed(self.seed)
        matrix = _transition_matrix(gen, v)
        chain = _chain(gen, _stationary(matrix), matrix, c * k)
        self.motifs = [tuple(chain[i * k:(i + 1) * k]) for i in range(c)]
        slack = (self.length - c * k) // c
        self.offsets = []
        for _ in range(c):
            weights = torch.rand(k - 1, generator=gen)
            gaps = 1 + (slack * (weights / weights.sum())).floor().to(torch.int64)
            self.offsets.append((0, *torch.cumsum(gaps, 0).tolist()))
        self.transition_matrix = matrix.double().numpy()
        self._index = {t: i for i, t in enumerate(self.alphabet)}

    def encode(self, design: str) -> np.ndarray | None:
        """State indices of `design`, or None when it is not a sequence of this instance."""
        if len(design) != self.length:
            return None
        try:
            return np.fromiter((self._index[t] for t in design), dtype=np.int64, count=self.length)
        except KeyError:
            return None

    def decode(self, states) -> str:
        return "".join(self.alphabet[int(s)] for s in states)  # type: ignore[index]

    def is_feasible(self, design: str) -> bool:
        """Well-formed, and every transition has non-zero probability."""
        x = self.encode(design)
        return x is not None and bool((self.transition_matrix[x[:-1], x[1:]] > 0).all())

    def motif_scores(self, X: np.ndarray) -> np.ndarray:
        """Quantized presence `h_i` of each motif: `n x c` for `n x L` state indices."""
        q, k = self.quantization, self.motif_length
        out = np.empty((len(X), self.num_motifs))
        for i, (motif, offsets) in enumerate(zip(self.motifs, self.offsets)):
            idx = np.arange(self.length - offsets[-1])[:, None] + np.asarray(offsets)[None, :]
            hits = (X[:, idx] == np.asarray(motif)).sum(-1).max(-1)  # best placement
            out[:, i] = np.floor(hits / (k // q)) / q  # type: ignore[operator]
        return out

    def values(self, X: np.ndarray) -> np.ndarray:
        """`f` for `n x L` state indices (0 where infeasible)."""
        X = np.asarray(X, dtype=np.int64).reshape(-1, self.length)
        h = self.motif_scores(X)
        h = h * (1.0 + self.epistasis_factor * h * (h - 1.0))
        feasible = (self.transition_matrix[X[:, :-1], X[:, 1:]] > 0).all(-1)
        return np.where(feasible, h.prod(-1), 0.0)

    def score(self, batch: list[str]) -> list[OracleResult]:
        encoded = [self.encode(d) if isinstance(d, str) else None for d in batch]
        good = [x for x in encoded if x is not None]
        values = iter(self.values(np.stack(good)).tolist() if good else [])
        return [OracleResult.failure("invalid design") if x is None else OracleResult(next(values))
                for x in encoded]

    def optimal_solution(self) -> str:
        """A sequence scoring 1.0: each motif spelled out at its offsets, gaps filled by repeats.

        Repeats are always allowed, consecutive motif elements and the step from one motif to
        the next are transitions of the chain the motifs were drawn from, so it is feasible.
        """
        out: list[int] = []
        for motif, offsets in zip(self.motifs, self.offsets):
            for j, state in enumerate(motif):
                out += [state] * ((offsets[j + 1] - offsets[j]) if j + 1 < len(motif) else 1)
        out += [out[-1]] * (self.length - len(out))
        return self.decode(out)

    def sample_feasible(self, n: int, seed: int = 0) -> list[str]:
        """`n` random feasible sequences (uniform first state, then the transition matrix)."""
        rng = np.random.default_rng(seed)
        X = np.empty((n, self.length), dtype=np.int64)
        X[:, 0] = rng.integers(self.num_states, size=n)
        cum = self.transition_matrix.cumsum(-1)
        cum[:, -1] = 1.0  # no rounding gap past the last state
        for t in range(1, self.length):
            u = rng.random(n)[:, None]
            X[:, t] = np.minimum((u > cum[X[:, t - 1]]).sum(-1), self.num_states - 1)
        return [self.decode(row) for row in X]
