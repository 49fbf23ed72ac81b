"""Soak: 50 small rounds in a row with a flaky oracle; does the driver's memory stay flat?

The oracle raises on 10% of calls and hangs on 2% (past its timeout). Prints the driver's
resident memory at rounds 5 and 50 (logged by every round as `driver_rss_mb`), the growth
(the acceptance bound is 10%), failures by reason and the wall time.

    python benchmarks/soak.py [--rounds 50] [--out runs/soak]
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console

HERE = Path(__file__).resolve().parent


def flaky(smiles: list[str]) -> list[float]:
    """10% of calls raise, 2% hang past the timeout; the rest score the length of the SMILES."""
    roll = random.random()
    if roll < 0.02:
        time.sleep(60)
    if roll < 0.12:
        raise RuntimeError("flaky simulator")
    return [float(len(s)) for s in smiles]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--out", type=Path, default=HERE.parent / "runs" / "soak")
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.chdir(HERE)  # `soak:flaky` imports from here, and the job ships it to the workers
    sys.path.insert(0, str(HERE))
    from sciloop.pipeline.campaign import Campaign
    from sciloop.pipeline.ledger import Ledger

    shutil.rmtree(args.out, ignore_errors=True)
    config = {
        "name": "soak", "seed": 0, "rounds": args.rounds, "batch_size": 8, "run_dir": str(args.out),
        "initial": {"size": 16},
        "oracle": {"target": "soak:flaky", "batch_size": 1, "num_cpus": 0.5, "timeout_s": 5,
                   "max_consecutive_failures": 100},
        "surrogate": {"members": 4, "hidden": 64, "epochs": 30},
        "proposer": {"steps": 10, "batch_size": 32, "hidden": 64, "pretrain_steps": 50, "pool_factor": 4},
        "tracking": {"experiment": "soak"},
    }
    start = time.monotonic()
    Campaign.from_config(config, console=Console(quiet=True)).run()
    ledger = Ledger(args.out / "ledger.sqlite")
    rss = {r["round"]: r["metrics"]["driver_rss_mb"] for r in ledger.rounds()}
    reasons = collections.Counter(reason.split(":")[0] for _, reason in ledger.failures())
    last = max(rss)
    growth = (rss[last] - rss[5]) / rss[5]
    print(f"rounds {last}, oracle calls {ledger.oracle_calls()}, wall {time.monotonic() - start:.0f}s")
    print(f"failures by reason: {dict(reasons)}")
    print(f"driver RSS: round 5 {rss[5]:.0f} MiB, round {last} {rss[last]:.0f} MiB, growth {100 * growth:+.1f}% "
          f"({'within' if growth < 0.10 else 'OVER'} the 10% bound)")


if __name__ == "__main__":
    main()
