"""Does the loop learn? sciloop vs random screening of a real library on the quickstart objective.

Both get the same oracle (celecoxib rediscovery) and a 1,000-call budget, 3 seeds each, in one
process run. Random screening draws from rdkit's bundled NCI set (~4.9k molecules), the same
library sciloop's first 100 labels come from. Prints best and top-10 mean against oracle calls
(mean +- std over seeds) and the verdict of the acceptance test: sciloop's final top-10 mean
must exceed screening's by more than the sum of their standard deviations.

    python benchmarks/quickstart_vs_random.py [--seeds 0 1 2] [--budget 1000] [--out runs/bench]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from sciloop.oracles.molecular import builtin_oracles
from sciloop.pipeline.campaign import Campaign
from sciloop.pipeline.domain import load_library
from sciloop.pipeline.ledger import Ledger
from sciloop.pipeline.auc import top_k_mean

ROOT = Path(__file__).resolve().parents[1]


def curve(values: list[float | None], budget: int, every: int = 100) -> dict[str, list[float]]:
    """Best and top-10 mean of the labels seen after every `every` calls (failures count as calls)."""
    out: dict[str, list[float]] = {"best": [], "top10": []}
    for n in range(every, budget + 1, every):
        seen = [v for v in values[:n] if v is not None]
        out["best"].append(max(seen, default=float("nan")))
        out["top10"].append(top_k_mean(seen, 10, empty=float("nan")))
    return out


def run_sciloop(seed: int, budget: int, out: Path, console: Console) -> list[float | None]:
    run_dir = out / f"sciloop-seed{seed}"
    shutil.rmtree(run_dir, ignore_errors=True)
    rounds = (budget - 100) // 100
    Campaign.from_config(ROOT / "configs" / "quickstart.yaml",
                         [f"seed={seed}", f"rounds={rounds}", f"budget={budget}", f"run_dir={run_dir}",
                          "tracking.experiment=bench-quickstart"], console=console).run()
    return Ledger(run_dir / "ledger.sqlite").call_values()


def run_screening(seed: int, budget: int) -> list[float | None]:
    library = load_library("nci")
    picks = random.Random(seed).sample(library, budget)
    oracle = builtin_oracles()["celecoxib_rediscovery"]()
    return [r.value for r in oracle.score(picks)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    console = Console()
    curves: dict[str, list[dict[str, list[float]]]] = {"sciloop": [], "screening": []}
    seconds: dict[str, list[float]] = {"sciloop": [], "screening": []}
    for seed in args.seeds:
        for method, fn in (("screening", lambda seed=seed: run_screening(seed, args.budget)),
                           ("sciloop", lambda seed=seed: run_sciloop(seed, args.budget, args.out, console))):
            t = time.monotonic()
            values = fn()
            seconds[method].append(time.monotonic() - t)
            curves[method].append(curve(values, args.budget))
            console.log(f"{method} seed {seed}: {len(values)} calls, top-10 "
                        f"{curves[method][-1]['top10'][-1]:.3f} in {seconds[method][-1]:.0f}s")

    def stat(method: str, key: str, i: int) -> tuple[float, float]:
        xs = np.array([c[key][i] for c in curves[method]])
        return float(xs.mean()), float(xs.std(ddof=1) if len(xs) > 1 else 0.0)

    table = Table(title=f"celecoxib rediscovery, {len(args.seeds)} seeds, mean +- std "
                        f"({platform.processor() or platform.machine()}, {os.cpu_count()} CPUs)")
    table.add_column("oracle calls", justify="right")
    for method in ("sciloop", "screening"):
        table.add_column(f"{method} best", justify="right")
        table.add_column(f"{method} top-10", justify="right")
    for i, n in enumerate(range(100, args.budget + 1, 100)):
        cells = [str(n)]
        for method in ("sciloop", "screening"):
            for key in ("best", "top10"):
                m, s = stat(method, key, i)
                cells.append(f"{m:.3f} +- {s:.3f}")
        table.add_row(*cells)
    console.print(table)
    (sm, ss), (rm, rs) = stat("sciloop", "top10", -1), stat("screening", "top10", -1)
    margin = sm - rm
    verdict = "PASS" if margin > ss + rs else "FAIL"
    console.print(f"final top-10 mean: sciloop {sm:.3f} +- {ss:.3f}, screening {rm:.3f} +- {rs:.3f}; "
                  f"margin {margin:.3f} vs sum of stds {ss + rs:.3f}: {verdict}")
    console.print(f"wall time per run: sciloop {np.mean(seconds['sciloop']):.0f}s, "
                  f"screening {np.mean(seconds['screening']):.1f}s")


if __name__ == "__main__":
    main()
