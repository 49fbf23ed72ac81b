"""`sciloop bench pmo`: the PMO protocol (Gao et al. 2022) on sciloop and two baselines, one harness.

Every method spends the same budget on the same objective and is scored the same way: the
oracle values in the order they were paid for (canonical SMILES; a repeated design costs
nothing; an invalid one is neither scored nor counted), summarised by `pipeline.auc`. Each run
writes one JSON file under `benchmarks/results/pmo/`, so runs accumulate across machines and
sessions; `table()` rebuilds the README table from those files.

Methods:
    sciloop    the campaign of `configs/pmo.yaml` (surrogate + GFlowNet + oracle runner).
    screening  random screening of the corpus (the leaderboard's "screening").
    graph_ga   Jensen's graph genetic algorithm seeded from the corpus (the leaderboard's Graph GA).
"""

from __future__ import annotations

import json
import os
import platform
import random
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sciloop.pipeline.auc import calls_to_reach, top_k_auc, top_k_curve, top_k_mean
from sciloop.pipeline.domain import MoleculeDomain, load_library

METHODS = ("sciloop", "screening", "graph_ga")
ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "pmo"
BENCH_CONFIG = ROOT / "configs" / "pmo.yaml"
PUBLISHED = ROOT / "benchmarks" / "pmo_published_auc_top10.csv"  # copied from the leaderboard
TUNING = ("celecoxib_rediscovery", "thiothixene_rediscovery", "mestranol_similarity", "isomers_c7h8n2o2",
          "median1", "osimertinib_mpo", "fexofenadine_mpo", "sitagliptin_mpo", "valsartan_smarts", "qed")
"""The objectives hyper-parameters may be tuned on (issue #9); the other ten are evaluation only."""


def published() -> dict[str, dict[str, str]]:
    """The leaderboard's rows by objective, for the 20 objectives that need no downloaded model."""
    import csv

    with open(PUBLISHED) as fh:
        return {row["objective"]: row for row in csv.DictReader(fh) if row["needs_downloaded_model"] == "False"}


@dataclass
class RunResult:
    """One benchmark run, as written to its result file."""

    objective: str
    method: str
    seed: int
    budget: int
    calls: int
    auc_top1: float
    auc_top10: float
    auc_top100: float
    final_top10: float
    wall_s: float
    corpus: str
    stage_s: dict[str, float] = field(default_factory=dict)
    calls_to_screening_top10: int | None = None
    machine: str = ""
    commit: str = ""
    started: str = ""
    load_average: tuple[float, float] = (0.0, 0.0)  # 1-minute load at start and end (a busy machine is slower)
    curve_top10: list[tuple[int, float]] = field(default_factory=list)
    config_id: str = ""  # sciloop: `config_id(overrides)`; the table keeps the current config's runs


def config_id(overrides: Sequence[str] = ()) -> str:
    """Identifies the sciloop method of a run: configs/pmo.yaml, the prior it names, the overrides."""
    import hashlib

    from sciloop.pipeline.config import load_config

    digest = hashlib.sha256(BENCH_CONFIG.read_bytes())
    digest.update("\n".join(overrides).encode())
    prior = load_config(BENCH_CONFIG, list(overrides)).proposer.prior_checkpoint
    if prior:
        digest.update(Path(prior).read_bytes())
    return digest.hexdigest()[:12]


class BudgetedOracle:
    """Counts paid calls PMO's way: canonical keys, repeats free, invalid designs not scored."""

    def __init__(self, objective: str, budget: int) -> None:
        from sciloop.oracles.registry import load_oracle

        self.oracle = load_oracle(objective)
        self.budget = budget
        self.domain = MoleculeDomain()
        self.scored: dict[str, float] = {}
        self.values: list[float] = []  # in call order

    @property
    def spent(self) -> bool:
        return len(self.values) >= self.budget

    def __call__(self, designs: Sequence[str]) -> list[float | None]:
        """Scores the new valid designs (up to the budget); None for invalid or unpaid ones."""
        keys = [self.domain.canonical(d) for d in designs]
        new = list(dict.fromkeys(k for k in keys if k is not None and k not in self.scored))
        new = new[: self.budget - len(self.values)]
        if new:
            for key, result in zip(new, self.oracle.score(new)):
                value = result.value if result.ok else 0.0
                self.scored[key] = value
                self.values.append(value)
        return [self.scored.get(k) if k is not None else None for k in keys]


def run_screening(objective: str, budget: int, seed: int, corpus: list[str]) -> tuple[list[float], dict]:
    """Random screening: the corpus in a seeded random order until the budget is spent."""
    oracle = BudgetedOracle(objective, budget)
    order = random.Random(seed).sample(corpus, len(corpus))
    t = time.monotonic()
    for start in range(0, len(order), 100):
        if oracle.spent:
            break
        oracle(order[start:start + 100])
    return oracle.values, {"oracle": time.monotonic() - t}


def run_graph_ga(objective: str, budget: int, seed: int, corpus: list[str]) -> tuple[list[float], dict]:
    """Jensen's Graph GA with the leaderboard's settings, driven by ask/tell until the budget is
    spent or its own early stop (top-100 flat for 5 generations, as mol_opt ran it; the AUC holds
    the final value for the rest of the budget)."""
    from sciloop.proposers.graph_ga import GraphGA, GraphGAConfig

    oracle = BudgetedOracle(objective, budget)
    ga = GraphGA(corpus, GraphGAConfig(seed=seed))
    times = {"propose": 0.0, "oracle": 0.0}
    while not oracle.spent:
        t = time.monotonic()
        asked = ga.ask()
        times["propose"] += time.monotonic() - t
        if not asked:  # early stop (`ga.stopped` says why)
            break
        t = time.monotonic()
        scores = oracle(asked)
        times["oracle"] += time.monotonic() - t
        told = [(d, s) for d, s in zip(asked, scores) if s is not None]
        ga.tell([d for d, _ in told], [s for _, s in told])
    return oracle.values, times


def run_sciloop(objective: str, budget: int, seed: int, corpus_name: str,
                overrides: Sequence[str] = ()) -> tuple[list[float], dict]:
    """The campaign of `configs/pmo.yaml` in a throw-away run directory; values from its ledger."""
    from sciloop.pipeline.campaign import Campaign
    from sciloop.pipeline.ledger import Ledger

    with tempfile.TemporaryDirectory(prefix=f"pmo-{objective}-") as run_dir:
        campaign = Campaign.from_config(BENCH_CONFIG, [
            f"oracle.target={objective}", f"budget={budget}", f"seed={seed}",
            f"run_dir={run_dir}", f"initial.library={corpus_name}", *overrides])
        campaign.run()
        ledger = Ledger(Path(run_dir) / "ledger.sqlite")
        values = [0.0 if v is None else float(v) for v in ledger.call_values()]
        stages: dict[str, float] = {}
        for r in ledger.rounds():
            for key, value in r["metrics"].items():
                if key.startswith("seconds_") and key != "seconds_total":
                    stages[key.removeprefix("seconds_")] = stages.get(key.removeprefix("seconds_"), 0.0) + value
    return values, stages


def machine() -> str:
    """The machine a number was measured on, in words."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{socket.gethostname()}: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}, {gpu}"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return out + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def summarise(objective: str, method: str, seed: int, budget: int, values: list[float],
              wall_s: float, corpus: str, stages: dict[str, float],
              screening_top10: float | None = None, load_start: float = 0.0) -> RunResult:
    """The PMO numbers of one run."""
    return RunResult(
        objective=objective, method=method, seed=seed, budget=budget, calls=len(values),
        auc_top1=top_k_auc(values, 1, budget), auc_top10=top_k_auc(values, 10, budget),
        auc_top100=top_k_auc(values, 100, budget), final_top10=top_k_mean(values, 10),
        wall_s=wall_s, corpus=corpus, stage_s={k: round(v, 2) for k, v in stages.items()},
        calls_to_screening_top10=(calls_to_reach(values, 10, screening_top10)
                                  if screening_top10 is not None else None),
        machine=machine(), commit=git_commit(), started=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        load_average=(round(load_start, 2), round(os.getloadavg()[0], 2)),
        curve_top10=[(n, round(v, 4)) for n, v in top_k_curve(values, 10, 100)])


def run_one(objective: str, method: str, seed: int, budget: int, corpus_name: str,
            corpus: list[str], overrides: Sequence[str] = (),
            screening_top10: float | None = None) -> RunResult:
    """Runs one method on one objective and seed; returns its summary (not yet written)."""
    t, load = time.monotonic(), os.getloadavg()[0]
    if method == "screening":
        values, stages = run_screening(objective, budget, seed, corpus)
    elif method == "graph_ga":
        values, stages = run_graph_ga(objective, budget, seed, corpus)
    elif method == "sciloop":
        values, stages = run_sciloop(objective, budget, seed, corpus_name, overrides)
    else:
        raise ValueError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    result = summarise(objective, method, seed, budget, values, time.monotonic() - t, corpus_name,
                       stages, screening_top10, load)
    if method == "sciloop":
        result.config_id = config_id(overrides)
    return result


def write_result(result: RunResult, results_dir: Path = RESULTS) -> Path:
    """Writes `<results_dir>/<objective>/<method>-seed<k>-<time>.json`; returns its path."""
    folder = results_dir / result.objective
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result.method}-seed{result.seed}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(asdict(result), indent=1))
    return path


def bench_pmo(objectives: Sequence[str], seeds: Sequence[int], budget: int = 10_000,
              methods: Sequence[str] = METHODS, corpus_name: str = "moses", overrides: Sequence[str] = (),
              results_dir: Path = RESULTS, log: Callable[[str], None] = print,
              missing_only: bool = False) -> list[RunResult]:
    """Runs every method on every objective and seed (screening first: its final top-10 is the
    target of `calls_to_screening_top10`) and writes one result file per run.

    Each seed draws its own corpus (`load_library(corpus_name, seed=seed)`), the one its sciloop
    campaign starts from. With `missing_only`, an objective and seed that already has a sciloop
    result with this config (`config_id(overrides)`) is skipped, so an interrupted sweep resumes.
    """
    unknown = [o for o in objectives if o not in published()]
    if unknown:
        raise ValueError(f"unknown PMO objectives {unknown}: choose from {sorted(published())}")
    ordered = sorted(methods, key=lambda m: m != "screening")
    done: set[tuple[str, int]] = set()
    if missing_only:
        current = config_id(overrides)  # reads the config and the prior: once, not per result file
        done = {(r["objective"], r["seed"]) for r in load_results(results_dir)
                if r["method"] == "sciloop" and r.get("config_id") == current}
    corpora: dict[int, list[str]] = {}
    results = []
    for objective in objectives:
        for seed in seeds:
            if (objective, seed) in done:
                log(f"{objective:28s} seed {seed}: done already (sciloop with this config), skipped")
                continue
            if seed not in corpora:
                corpora[seed] = load_library(corpus_name, seed=seed)
            corpus = corpora[seed]
            target = None
            for method in ordered:
                result = run_one(objective, method, seed, budget, corpus_name, corpus, overrides, target)
                if method == "screening":
                    target = result.final_top10
                path = write_result(result, results_dir)
                log(f"{objective:28s} {method:10s} seed {seed}: AUC top-10 {result.auc_top10:.3f} "
                    f"(top-1 {result.auc_top1:.3f}, top-100 {result.auc_top100:.3f}), "
                    f"{result.calls} calls, {result.wall_s:.0f} s  -> {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
                results.append(result)
    return results


def load_results(results_dir: Path = RESULTS) -> list[dict[str, Any]]:
    """Every result file under `results_dir`."""
    return [json.loads(p.read_text()) for p in sorted(results_dir.glob("*/*.json"))]
