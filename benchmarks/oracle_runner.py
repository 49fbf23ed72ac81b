"""How well does the oracle runner parallelise, and what does it cost per design?

A batch of 64 designs on 1 and 2 workers (1 CPU each), with (a) an oracle that sleeps 100 ms
per design and (b) a CPU-bound rdkit oracle (repeated QED, ~40 ms per design, calibrated on
this machine first), each run both as a plain function and as a class with `setup()`. Both
run on a pool of actors created for each `run` (the runner commits a chunk only once an actor
is ready to run it, so a stateless function runs on actors too).

Method. Each case is run once to warm the Ray workers up, then `--repeats` times. For (b),
the serial cost per design is measured in this process right before each repeat (same
designs, same code); the case reports the best (smallest) serial time and the best parallel
time: on a shared machine both minima estimate the uncontended cost, while pairing one serial
measurement with the best of several parallel ones would favour whichever side ran at a quiet
moment. Printed per case:

- ideal: serial time per design x designs / workers;
- measured: wall time of `OracleRunner.run`; efficiency = ideal / measured;
- overhead: (measured - ideal) / designs, which also counts the oracle running slower under
  contention from other processes;
- runner overhead: (measured - time inside the oracle's calls / workers) / designs, the time
  the runner adds around the calls (dispatch, results, start-up), independent of how fast
  the oracle itself ran;
- the start-up (actor creation and `setup()` until the first call is dispatched) and the
  efficiency without it. Actors are created for each `run` (each batch) by design, so they
  hold their CPUs only while a batch is scored: the start-up is a real per-batch cost and
  stays inside "measured".

Acceptance (issue 5): >= 85% efficiency for (b) on 2 workers; runner overhead < 5 ms/design.

    python benchmarks/oracle_runner.py [--designs 64] [--batch-size 8] [--repeats 3] [--out f.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import ray

from sciloop.oracles.base import FunctionOracle
from sciloop.oracles.runner import OracleRunner

SLEEP_S = 0.1


def sleep_oracle(designs: list[str]) -> list[float]:
    """(a) 100 ms per design, no CPU."""
    out = []
    for d in designs:
        time.sleep(SLEEP_S)
        out.append(float(len(d)))
    return out


def qed_oracle(designs: list[str], reps: int = 40) -> list[float]:
    """(b) CPU-bound: QED of each molecule computed `reps` times."""
    from rdkit import Chem, RDLogger
    from rdkit.Chem import QED

    RDLogger.DisableLog("rdApp.*")
    out = []
    for d in designs:
        mol = Chem.MolFromSmiles(d)
        value = 0.0
        for _ in range(reps):
            value = QED.qed(mol)
        out.append(value)
    return out


@dataclass
class WithSetup:
    """The same functions as a class oracle with a `setup()` (run once per actor)."""

    kind: str
    name: str = "bench"
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    timeout_s: float | None = None
    batch_size: int = 8
    idempotent: bool = True
    reps: int = 40

    def setup(self) -> None:
        from rdkit.Chem import QED  # noqa: F401  (the import is the set-up)

    def score(self, batch: list[str]) -> list[float]:
        return sleep_oracle(batch) if self.kind == "sleep" else qed_oracle(batch, self.reps)


@dataclass
class Case:
    oracle: str
    mode: str
    workers: int
    designs: int
    batch_size: int
    serial_per_design_ms: float
    ideal_s: float
    measured_s: float
    efficiency: float
    overhead_ms_per_design: float
    runner_overhead_ms_per_design: float
    startup_s: float
    efficiency_after_startup: float
    in_oracle_s: float


def library(n: int) -> list[str]:
    from rdkit import RDConfig, RDLogger

    RDLogger.DisableLog("rdApp.*")
    path = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"
    smiles = [line.split()[0] for line in path.read_text().splitlines()[1:] if line.strip()]
    from rdkit import Chem

    good = [s for s in smiles if (m := Chem.MolFromSmiles(s)) is not None and 10 <= m.GetNumHeavyAtoms() <= 40]
    return good[:n]


def calibrate_reps(designs: list[str], target_ms: float, trials: int = 5) -> int:
    """Repetitions of QED that make one design (of `designs`, on average) cost about `target_ms`.

    Timed on all the designs (QED's cost depends on the molecule), best of `trials`.
    """
    per_rep = float("inf")
    for _ in range(trials):
        t = time.perf_counter()
        qed_oracle(designs, reps=2)
        per_rep = min(per_rep, (time.perf_counter() - t) / (len(designs) * 2))
    return max(1, round(target_ms / 1000 / per_rep))


def serial_cost(kind: str, designs: list[str], reps: int) -> float:
    """Seconds per design of the oracle called in this process."""
    if kind == "sleep":
        return SLEEP_S
    t = time.perf_counter()
    qed_oracle(designs, reps=reps)
    return (time.perf_counter() - t) / len(designs)


def run_case(oracle, kind: str, designs: list[str], reps: int,
             repeats: int) -> tuple[float, tuple[float, float, float]]:
    """Best serial cost per design, and the best run's (wall time, start-up, in-oracle time)."""
    runner = OracleRunner(oracle, max_workers=oracle_workers(oracle))
    runner.run(designs[:8], lambda c: None, lambda d, r, n: None)  # warm the workers up
    serial, best = float("inf"), (float("inf"), 0.0, 0.0)
    for _ in range(repeats):
        serial = min(serial, serial_cost(kind, designs, reps))
        t = time.perf_counter()
        failures = runner.run(designs, lambda c: None, lambda d, r, n: None)
        wall = time.perf_counter() - t
        assert failures == 0, runner.report
        if wall < best[0]:
            best = (wall, runner.report.startup_s, runner.report.oracle_seconds)
    return serial, best


def oracle_workers(oracle) -> int:
    return int(oracle.num_workers)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--designs", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--qed-ms", type=float, default=40.0, help="target cost of one design of (b)")
    ap.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    designs = library(args.designs)
    reps = calibrate_reps(designs, args.qed_ms)
    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False,
             object_store_memory=100_000_000)
    load = os.getloadavg()
    cases: list[Case] = []
    for kind in ("sleep", "qed"):
        for mode in ("function", "setup"):
            for workers in (1, 2):
                if mode == "function":
                    fn = sleep_oracle if kind == "sleep" else (lambda xs, r=reps: qed_oracle(xs, r))
                    oracle = FunctionOracle(fn, name=kind, num_cpus=1.0, batch_size=args.batch_size)
                else:
                    oracle = WithSetup(kind, name=kind, batch_size=args.batch_size, reps=reps)
                oracle.num_workers = workers  # type: ignore[attr-defined]
                serial_s, (measured, startup, in_oracle) = run_case(oracle, kind, designs, reps, args.repeats)
                n = len(designs)
                ideal = serial_s * n / workers
                c = Case(kind, mode, workers, n, args.batch_size, serial_s * 1e3, ideal, measured,
                         ideal / measured, (measured - ideal) / n * 1e3,
                         (measured - in_oracle / workers) / n * 1e3, startup,
                         ideal / max(1e-9, measured - startup), in_oracle)
                cases.append(c)
                print(f"{c.oracle:5s} {c.mode:8s} workers={c.workers}  serial {c.serial_per_design_ms:6.1f} ms/design  "
                      f"ideal {c.ideal_s:6.2f} s  measured {c.measured_s:6.2f} s  efficiency {c.efficiency:6.1%}  "
                      f"overhead {c.overhead_ms_per_design:6.2f} ms/design  runner overhead "
                      f"{c.runner_overhead_ms_per_design:6.2f} ms/design  (in oracle {c.in_oracle_s:6.2f} s"
                      f"; start-up {c.startup_s:5.2f} s, efficiency without it {c.efficiency_after_startup:6.1%})",
                      flush=True)
    ray.shutdown()
    info = dict(machine=platform.platform(), cpus=os.cpu_count(), ray_cpus=args.num_cpus,
                loadavg_at_start=load, loadavg_at_end=os.getloadavg(), qed_reps=reps)
    print(f"machine: {info}")
    if args.out:
        args.out.write_text(json.dumps(dict(info=info, cases=[asdict(c) for c in cases]), indent=2))


if __name__ == "__main__":
    main()
