"""Round metrics, the closing summary table and its random-screening baseline."""

from __future__ import annotations

import heapq
import math
import random
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from rich.markup import escape
from rich.table import Table

from sciloop.pipeline.auc import top_k_mean


def running_top_k_mean(values: Sequence[float | None], k: int) -> list[float]:
    """After each entry of `values`, the mean of the k best non-None values so far (nan before
    the first): `auc.top_k_mean` of every prefix, in O(n log k) instead of O(n^2 log n)."""
    best: list[float] = []  # a min-heap of the k best so far
    total, out = 0.0, []
    for v in values:
        if v is not None:
            if len(best) < k:
                heapq.heappush(best, v)
                total += v
            elif v > best[0]:
                total += v - heapq.heapreplace(best, v)
        out.append(total / len(best) if best else math.nan)
    return out


@dataclass(frozen=True)
class Screening:
    """Random screening of the campaign's library at the campaign's number of oracle calls: the
    baseline that a campaign must beat. Scored in the driver after the campaign, not counted in
    its budget.

    Attributes:
        library: the library's name.
        calls: designs scored per sample (the campaign's oracle calls).
        samples: seeded random samples averaged.
        best: mean over samples of the best value.
        top10: mean over samples of the top-10 mean.
        seconds: time spent scoring them.
    """

    library: str
    calls: int
    samples: int
    best: float
    top10: float
    seconds: float


def screening_baseline(score: Callable[[list[str]], list[float | None]], library: Sequence[str], calls: int,
                       library_name: str, seed: int = 0, samples: int = 5, chunk: int = 256,
                       max_seconds: float = 60.0,
                       clock: Callable[[], float] = time.monotonic) -> Screening | None:
    """Score up to `samples` seeded random samples of `calls` designs of `library` (a failure
    counts as a call without a value); None when the library is empty or `calls` is 0. No new
    sample starts once `max_seconds` have passed (the first always runs), so a slow built-in
    (the hops: ~10 ms a design) costs a minute or two after a long campaign, not ten.

    Args:
        score: the oracle as designs -> values (None for a failed design), called in chunks.
        library: the designs to screen (the campaign's initial library).
        calls: designs per sample, capped at the library's size.
        library_name: shown in the table.
        seed: sample `i` draws with `random.Random(seed * 1000 + i)`.
        samples: at most this many samples to average; one is a noisy baseline at a few hundred calls.
        chunk: designs per call of `score`.
        max_seconds: start no sample after this long; `Screening.samples` says how many ran.
        clock: seconds, for the cap and `Screening.seconds`.
    """
    n = min(calls, len(library))
    if n <= 0:
        return None
    t0 = clock()
    best: list[float] = []
    top10: list[float] = []
    for i in range(samples):
        if i and clock() - t0 > max_seconds:
            break
        picks = random.Random(seed * 1000 + i).sample(list(library), n)
        values = [v for start in range(0, n, chunk) for v in score(picks[start:start + chunk])]
        finite = [v for v in values if v is not None and math.isfinite(v)]
        best.append(max(finite, default=math.nan))
        top10.append(top_k_mean(finite, 10, empty=math.nan))
    return Screening(library_name, n, len(best), float(np.mean(best)), float(np.mean(top10)), clock() - t0)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def summary_table(rounds: list[dict[str, Any]], title: str, screening: Screening | None = None) -> Table:
    """One row per finished round: oracle calls, best, top-10 mean, prospective Spearman; the
    time in rounds; and, given `screening`, random screening of the same library at the same
    number of calls beside the campaign, with the campaign's gain over it."""
    finished = [r for r in rounds if r.get("stage", "done") == "done" and r.get("metrics")]
    seconds = sum(r["metrics"].get("seconds_total", 0.0) for r in finished)
    caption = ("round 0: the initial screen of the library. Each row as of the round's end (a later "
               "`sciloop label` correction is not in it). calls: in all so far; labels, fails: the round's "
               "own. spearman: the surrogate's rank correlation on each new batch, predicted before its "
               "labels were seen. secs: wall time of the round")
    if screening is not None:
        caption += (f". screening: {screening.samples} seeded random samples of the library "
                    f"{screening.library!r}, {screening.calls} designs each, scored in this process after "
                    f"the campaign (a baseline, not counted in the budget); gain: sciloop minus screening")
    table = Table(title=escape(f"{title}, {_duration(seconds)} in rounds"), caption=caption)
    for col in ("round", "calls", "labels", "fails", "best", "top-10", "spearman", "secs"):
        table.add_column(col, justify="right")

    def fmt(v: Any, spec: str = ".3f") -> str:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return "-"
        return format(int(v) if spec == "d" else v, spec)

    for i, r in enumerate(rounds):
        m = r["metrics"]
        table.add_row(str(r["round"]), fmt(m.get("oracle_calls"), "d"), fmt(m.get("new_labels"), "d"),
                      fmt(m.get("failures"), "d"), fmt(m.get("best")), fmt(m.get("top10_mean")),
                      fmt(m.get("spearman_batch")), fmt(m.get("seconds_total"), ".1f"),
                      end_section=screening is not None and i == len(rounds) - 1)
    if screening is not None and finished:
        last = finished[-1]["metrics"]
        table.add_row("screening", str(screening.calls), "-", "-", fmt(screening.best), fmt(screening.top10),
                      "-", fmt(screening.seconds, ".1f"), style="dim")
        gain = [fmt(last.get(k, math.nan) - v, "+.3f") for k, v in (("best", screening.best),
                                                                     ("top10_mean", screening.top10))]
        table.add_row("gain", "", "", "", *gain, "", "", style="bold")
    return table


def cheap_builtin(domain: str, target: str) -> bool:
    """Whether the oracle is a built-in molecular objective (milliseconds a design), so that the
    screening baseline can be scored in the driver."""
    if domain != "molecule":
        return False
    from sciloop.oracles.molecular import builtin_oracles

    return target in builtin_oracles()


def diversity(sim: np.ndarray) -> float:
    """Mean pairwise distance (1 - similarity) of a set, from its `n x n` similarity matrix
    (nan for fewer than 2 designs)."""
    n = len(sim)
    if n < 2:
        return math.nan
    return float(1.0 - (sim.sum() - np.trace(sim)) / (n * (n - 1)))


def novelty(sim: np.ndarray) -> float:
    """Mean distance of each design to its nearest reference, from their `n x m` similarities."""
    if sim.size == 0:
        return math.nan
    return float(1.0 - sim.max(axis=1).mean())


def count_modes(designs: Sequence[str], scores: Sequence[float], threshold: float,
                similarity: Callable[[Sequence[str], Sequence[str]], np.ndarray],
                max_similarity: float = 0.4) -> int:
    """Distinct high scorers: greedily, best first, designs scoring >= threshold that are less
    similar than `max_similarity` (the domain's `similarity`) to every mode already counted."""
    modes: list[str] = []
    for score, design in sorted(zip(scores, designs), key=lambda t: -t[0]):
        if score < threshold:
            break
        if not modes or float(similarity([design], modes).max()) < max_similarity:
            modes.append(design)
    return len(modes)


def best_table(labels: Sequence[Any], n: int, vectors: dict[str, list[float]], title: str) -> Table:
    """The `n` best labelled designs, best first: rank, value, round, design (and each
    objective of a multi-objective score).

    Args:
        labels: the ledger's `Label`s (key, design, round, value).
        n: how many rows.
        vectors: multi-objective score vectors by key (`Ledger.vectors()`).
        title: the table's title.
    """
    ranked = sorted(labels, key=lambda l: -l.value)[:n]
    width = max((len(vectors[l.key]) for l in ranked if l.key in vectors), default=0)
    table = Table(title=escape(title), caption="round 0 is the initial screen")
    for col in ("#", "value", *(f"v{i + 1}" for i in range(width)), "round"):
        table.add_column(col, justify="right")
    table.add_column("design (its ledger key)", overflow="fold")  # SMILES or a sequence
    for i, l in enumerate(ranked, 1):
        vec = [format(v, ".3f") for v in vectors.get(l.key, [])] + ["-"] * width
        table.add_row(str(i), format(l.value, ".3f"), *vec[:width], str(l.round), escape(l.key))  # [nH] is no style
    return table
