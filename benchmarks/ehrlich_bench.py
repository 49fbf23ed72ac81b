"""sciloop against holo's genetic algorithm and random sampling on Ehrlich functions, side by side.

Ehrlich functions (Stanton et al. 2024, arXiv 2407.00236) from `pytorch-holo` 0.0.5, at the two
sizes of issue 20: 32 states, length 32 (and 128), 4 motifs of length 4, quantization 4. Per size
and seed (the seed draws the function and the shared initial designs), three methods, each charged
one call per UNIQUE sequence it scores (repeats free, as in PMO):

- `sciloop`: a campaign on the sequence domain with sciloop's own Ehrlich oracle (checked against
  holo's values here too, on every labelled sequence), the `sequence_offspring` proposer and a CNN
  ensemble (UCB); round 0 labels the shared initial designs, then rounds of `--batch` designs;
- `holo_ga`: `holo.optim.DiscreteEvolution` on holo's own function (loss = -f, infeasible = -inf
  as it expects), driven one `step` at a time: its closure scores the particles, charging only
  sequences not seen before, until the budget is spent. Its first generation is the shared initial
  designs (tiled when there are fewer than particles), not copies of one initial solution, so it
  starts from what sciloop starts from. holo-bench runs it with a million particles per step, far
  over these budgets, so its particle count, survival quantile and mutation probability are tuned
  per size (`--tune`): a grid (`GA_GRID`) on tuning seeds that no reported run uses
  (`TUNE_SEEDS`), the setting with the highest mean AUC at the budget wins;
- `random`: the shared initial designs, then feasible random sequences (the function's own
  transition matrix; uniform random sequences are almost never feasible at 32 states).

Reported per method: best-so-far (infeasible counted as 0) at a few budgets (mean and std over
seeds), the AUC of best-so-far (its mean over calls 1..budget, so in [0, 1]), and the calls to
reach the optimum 1.0 (median over seeds, a seed that did not reach it counts as never; and the
fraction that did). Prints the load average before and after; writes
`<results>/ehrlich-<timestamp>.json`.

Needs `pytorch-holo==0.0.5` (installed `--no-deps`, with `pooch`), in the project's environment:

    python benchmarks/ehrlich_bench.py --lengths 32 --seeds 0 1 2 --budget 1000 --tune
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
#: the tuning seeds: no reported run uses them
TUNE_SEEDS = (100, 101)
#: holo GA settings swept per size on TUNE_SEEDS: particles x survival quantile x mutation probability
#: (as a multiple of 1/length); recombination stays at holo's default 0.5. Settings that keep fewer
#: than two survivors are skipped (holo refuses them).
GA_GRID = {"num_particles": (8, 16, 32, 64, 128, 256), "survival_quantile": (0.05, 0.1, 0.25, 0.5),
           "mutations_per_sequence": (1.0, 2.0, 4.0)}


@dataclass(frozen=True)
class Problem:
    """One Ehrlich instance (holo's `random_seed` = `seed`)."""

    num_states: int
    length: int
    seed: int
    num_motifs: int = 4
    motif_length: int = 4
    quantization: int = 4

    def holo(self) -> Any:
        from holo.test_functions.closed_form import Ehrlich

        return Ehrlich(num_states=self.num_states, dim=self.length, num_motifs=self.num_motifs,
                       motif_length=self.motif_length, quantization=self.quantization, random_seed=self.seed)

    def oracle_kwargs(self) -> dict[str, int]:
        return {"num_states": self.num_states, "length": self.length, "num_motifs": self.num_motifs,
                "motif_length": self.motif_length, "quantization": self.quantization, "seed": self.seed}

    def sciloop(self) -> Any:
        from sciloop.oracles.ehrlich import Ehrlich

        return Ehrlich(**self.oracle_kwargs())


class Charged:
    """holo's function behind a per-unique-sequence meter: `values` in the order first scored."""

    def __init__(self, problem: Problem, budget: int) -> None:
        self.f, self.budget = problem.holo(), budget
        self.seen: dict[tuple[int, ...], float] = {}
        self.values: list[float] = []  # infeasible as -inf, as holo returns it

    @property
    def spent(self) -> bool:
        return len(self.values) >= self.budget

    def __call__(self, X: torch.Tensor) -> torch.Tensor:
        """Values of the rows of `X` (n x L states); a new row past the budget is not scored (-inf)."""
        rows = [tuple(int(t) for t in row) for row in X.long()]
        new = list(dict.fromkeys(r for r in rows if r not in self.seen))[: max(0, self.budget - len(self.values))]
        if new:
            vals = self.f.evaluate_true(torch.tensor(new, dtype=torch.long)).tolist()
            for r, v in zip(new, vals):
                self.seen[r] = float(v)
                self.values.append(float(v))
        return torch.tensor([self.seen.get(r, -math.inf) for r in rows], dtype=torch.double)


def initial_designs(problem: Problem, n: int) -> list[str]:
    """`n` distinct feasible sequences shared by every method (seeded by the problem's seed)."""
    designs = problem.sciloop().sample_feasible(4 * n, seed=10_000 + problem.seed)
    return list(dict.fromkeys(designs))[:n]


def states(problem: Problem, designs: Sequence[str]) -> torch.Tensor:
    oracle = problem.sciloop()
    return torch.tensor(np.stack([oracle.encode(d) for d in designs]), dtype=torch.long)


def run_random(problem: Problem, budget: int, initial: list[str]) -> list[float]:
    meter = Charged(problem, budget)
    meter(states(problem, initial))
    oracle, draw = problem.sciloop(), 0
    while not meter.spent:
        draw += 1
        meter(states(problem, oracle.sample_feasible(budget, seed=20_000 + 1000 * problem.seed + draw)))
    return meter.values


def run_holo_ga(problem: Problem, budget: int, initial: list[str], num_particles: int,
                survival_quantile: float, mutations_per_sequence: float, recombine_prob: float = 0.5) -> list[float]:
    """holo's DiscreteEvolution, one `step` per generation, until the budget is spent."""
    from holo.optim import DiscreteEvolution

    torch.manual_seed(problem.seed)  # the optimizer draws from torch's global generator
    meter = Charged(problem, budget)
    X0 = states(problem, initial).float()
    param = torch.nn.Parameter(X0[0].clone())
    opt = DiscreteEvolution([param], vocab=list(range(problem.num_states)),
                            mutation_prob=min(0.99, mutations_per_sequence / problem.length),
                            recombine_prob=recombine_prob, num_particles=num_particles,
                            survival_quantile=survival_quantile)
    opt.state[param]["particles"] = X0[torch.arange(num_particles) % len(X0)].clone()  # first generation
    stalled = 0
    while not meter.spent and stalled < 1000:  # a converged population stops paying: stop waiting
        before = len(meter.values)
        opt.step(lambda particles: -meter(particles[0]))
        stalled = stalled + 1 if len(meter.values) == before else 0
    return meter.values


def run_sciloop(problem: Problem, budget: int, initial: list[str], batch: int, workdir: Path,
                settings: dict[str, Any]) -> list[float]:
    """A sciloop campaign; its labels in selection order, checked against holo's values."""
    from rich.console import Console

    from sciloop.oracles.ehrlich import default_alphabet
    from sciloop.pipeline.campaign import Campaign

    run_dir = workdir / f"sciloop-L{problem.length}-s{problem.seed}"
    pool = run_dir.with_suffix(".txt")
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    pool.write_text("\n".join(initial) + "\n")
    config = {
        "name": f"ehrlich-L{problem.length}", "seed": problem.seed, "batch_size": batch,
        "rounds": math.ceil((budget - len(initial)) / batch), "budget": budget,
        "domain": {"name": "sequence", "alphabet": default_alphabet(problem.num_states),
                   "length": problem.length, "initial_file": str(pool)},
        "initial": {"size": len(initial)},
        "oracle": {"target": "ehrlich", "kwargs": problem.oracle_kwargs(), "batch_size": batch, "num_cpus": 0.5},
        "surrogate": {"member": settings["member"], "members": 4, "hidden": 32, "epochs": settings["epochs"]},
        "acquisition": {"name": "ucb", "beta": settings["beta"], "temperature": 1.0},
        "proposer": {"name": "sequence_offspring", "offspring_children": settings["children"],
                     "offspring_mutate_fraction": settings["mutate_fraction"], "replay_top": 1_000_000,
                     "num_actors": 0, "pool_factor": settings["pool_factor"]},
        "selection": {"min_distance": settings["min_distance"]},
        "tracking": {"experiment": "ehrlich-bench"},
    }
    campaign = Campaign.from_config(config, run_dir=str(run_dir), console=Console(quiet=True))
    campaign.run()
    labels = campaign.ledger.labels()
    holo_values = problem.holo().evaluate_true(states(problem, [lab.design for lab in labels])).tolist()
    for lab, h in zip(labels, holo_values):
        if abs(lab.value - max(h, 0.0)) > 1e-9:
            raise AssertionError(f"sciloop's Ehrlich gives {lab.value} for {lab.design}, holo {h}")
    return holo_values  # as holo reports them: the same scale for every method


def best_so_far(values: Sequence[float], budget: int) -> np.ndarray:
    """Best value after each of `budget` calls (infeasible = 0; a run that stopped early keeps its best)."""
    v = np.maximum(np.asarray(list(values)[:budget], dtype=float), 0.0)
    curve = np.maximum.accumulate(v) if len(v) else np.zeros(1)
    return np.concatenate([curve, np.full(budget - len(curve), curve[-1])]) if len(curve) < budget else curve


def summarise(traces: list[list[float]], budget: int, budgets: Sequence[int]) -> dict[str, Any]:
    curves = np.stack([best_so_far(t, budget) for t in traces])
    hits = [int(np.argmax(c >= 1.0)) + 1 if c[-1] >= 1.0 else math.inf for c in curves]
    median = statistics.median(hits)
    return {
        "seeds": len(traces), "calls": [len(t) for t in traces],
        "best_at": {str(b): {"mean": float(curves[:, b - 1].mean()), "std": float(curves[:, b - 1].std()),
                             "per_seed": curves[:, b - 1].tolist()} for b in budgets},
        "auc": {"mean": float(curves.mean(1).mean()), "std": float(curves.mean(1).std()),
                "per_seed": curves.mean(1).tolist()},
        "calls_to_optimum": {"median": None if math.isinf(median) else median,
                             "fraction_reached": sum(not math.isinf(h) for h in hits) / len(hits),
                             "per_seed": [None if math.isinf(h) else h for h in hits]},
    }


def tune_ga(num_states: int, length: int, budget: int, n_initial: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The GA_GRID setting with the highest mean AUC at `budget` on TUNE_SEEDS, and every row of the sweep."""
    problems = [Problem(num_states, length, seed) for seed in TUNE_SEEDS]
    initials = [initial_designs(p, n_initial) for p in problems]
    rows = []
    for particles, quantile, mutations in itertools.product(*GA_GRID.values()):
        if quantile * particles < 2:
            continue
        setting = {"num_particles": particles, "survival_quantile": quantile, "mutations_per_sequence": mutations}
        curves = [best_so_far(run_holo_ga(p, budget, init, **setting), budget) for p, init in zip(problems, initials)]
        rows.append(setting | {"auc": float(np.mean([c.mean() for c in curves])),
                               "best": float(np.mean([c[-1] for c in curves]))})
    return max(rows, key=lambda r: (r["auc"], r["best"])), rows


def table(name: str, summary: dict[str, dict[str, Any]], budgets: Sequence[int]) -> str:
    head = (f"{name}\n  {'method':<9}" + "".join(f" best@{b:<6}" for b in budgets)
            + "  AUC            to 1.0 (median, reached)")
    lines = [head]
    for method, s in summary.items():
        cells = "".join(f" {s['best_at'][str(b)]['mean']:.3f}±{s['best_at'][str(b)]['std']:.3f}" for b in budgets)
        hit = s["calls_to_optimum"]
        med = "never" if hit["median"] is None else f"{hit['median']:.0f}"
        lines.append(f"  {method:<9}{cells}  {s['auc']['mean']:.3f}±{s['auc']['std']:.3f}  "
                     f"{med}, {hit['fraction_reached']:.0%}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lengths", type=int, nargs="+", default=[32, 128])
    ap.add_argument("--num-states", type=int, default=32)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--budget", type=int, default=1000)
    ap.add_argument("--initial", type=int, default=100, help="shared initial designs (charged to every method)")
    ap.add_argument("--batch", type=int, default=100, help="sciloop's designs per round")
    ap.add_argument("--budgets", type=int, nargs="+", default=None, help="reported budgets (default: 4 steps)")
    ap.add_argument("--methods", nargs="+", default=["sciloop", "holo_ga", "random"])
    ap.add_argument("--tune", action="store_true", help="sweep GA_GRID on TUNE_SEED per size (else --ga-*)")
    ap.add_argument("--ga-particles", type=int, default=64)
    ap.add_argument("--ga-quantile", type=float, default=0.25)
    ap.add_argument("--ga-mutations", type=float, default=1.0, help="mutation probability x length")
    ap.add_argument("--member", default="cnn", choices=["cnn", "mlp"])
    ap.add_argument("--children", type=int, default=2000)
    ap.add_argument("--mutate-fraction", type=float, default=0.0)
    ap.add_argument("--pool-factor", type=int, default=5)
    ap.add_argument("--min-distance", type=float, default=0.05)
    ap.add_argument("--beta", type=float, default=1.0)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--workdir", type=Path, default=None, help="sciloop run directories (default: a temp dir)")
    ap.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "ehrlich")
    args = ap.parse_args(argv)
    budgets = args.budgets or sorted(b for b in {args.initial * 2, args.budget // 4, args.budget // 2, args.budget}
                                     if args.initial <= b <= args.budget)
    settings = {"member": args.member, "children": args.children, "mutate_fraction": args.mutate_fraction,
                "pool_factor": args.pool_factor, "min_distance": args.min_distance, "beta": args.beta,
                "epochs": args.epochs}
    load_before, started = os.getloadavg(), time.time()
    print(f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; {os.cpu_count()} cores",
          flush=True)
    ray_started = False
    if "sciloop" in args.methods:
        from sciloop.pipeline.ray_runtime import start_ray

        ray_started = start_ray(None, 2, None)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="ehrlich-bench-"))
    out: dict[str, Any] = {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                           "budgets": budgets, "sciloop_settings": settings, "sizes": {}}
    try:
        for length in args.lengths:
            ga = {"num_particles": args.ga_particles, "survival_quantile": args.ga_quantile,
                  "mutations_per_sequence": args.ga_mutations}
            size: dict[str, Any] = {"problem": asdict(Problem(args.num_states, length, -1)), "ga_setting": ga}
            if args.tune and "holo_ga" in args.methods:
                t0 = time.time()
                ga, sweep = tune_ga(args.num_states, length, args.budget, args.initial)
                ga = {k: ga[k] for k in ("num_particles", "survival_quantile", "mutations_per_sequence")}
                size |= {"ga_setting": ga, "ga_sweep": sweep}
                print(f"L={length}: holo GA tuned on seeds {TUNE_SEEDS} over {len(sweep)} settings in "
                      f"{time.time() - t0:.0f}s: {ga}", flush=True)
                for row in sorted(sweep, key=lambda r: -r["auc"])[:5]:
                    print(f"    {row}", flush=True)
            traces: dict[str, list[list[float]]] = {m: [] for m in args.methods}
            seconds: dict[str, list[float]] = {m: [] for m in args.methods}
            runners: dict[str, Callable[[Problem, list[str]], list[float]]] = {
                "sciloop": lambda p, init: run_sciloop(p, args.budget, init, args.batch, workdir, settings),
                "holo_ga": lambda p, init, ga=ga: run_holo_ga(p, args.budget, init, **ga),
                "random": lambda p, init: run_random(p, args.budget, init),
            }
            for seed in args.seeds:
                problem = Problem(args.num_states, length, seed)
                initial = initial_designs(problem, args.initial)
                for method in args.methods:
                    t0 = time.time()
                    trace = runners[method](problem, initial)
                    seconds[method].append(time.time() - t0)
                    traces[method].append(trace)
                    curve = best_so_far(trace, args.budget)
                    print(f"L={length} seed={seed} {method}: {len(trace)} calls, best {curve[-1]:.3f}, "
                          f"AUC {curve.mean():.3f}, {seconds[method][-1]:.0f}s, load {os.getloadavg()[0]:.2f}",
                          flush=True)
            summary = {m: summarise(traces[m], args.budget, budgets) | {"seconds": seconds[m]} for m in args.methods}
            size |= {"summary": summary, "traces": {m: [[None if math.isinf(v) else v for v in t] for t in ts]
                                                    for m, ts in traces.items()}}
            out["sizes"][str(length)] = size
            print(table(f"32 states, length {length}, {len(args.seeds)} seeds, budget {args.budget}",
                        summary, budgets), flush=True)
    finally:
        if ray_started:
            import ray

            ray.shutdown()
    load_after = os.getloadavg()
    out |= {"load_average_before": load_before, "load_average_after": load_after,
            "seconds": time.time() - started, "python": sys.version.split()[0]}
    print(f"load average {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; "
          f"{out['seconds']:.0f}s in all", flush=True)
    args.results.mkdir(parents=True, exist_ok=True)
    path = args.results / f"ehrlich-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    main()
