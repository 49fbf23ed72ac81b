"""GPU check of the proposer's Ray sampler actors and of the policy's training step.

Run once on a machine with a CUDA GPU (issue #6: actors sharing one GPU; issue #9: CUDA speed).
Uses the PMO policy (the shipped SELFIES GRU prior, `configs/priors/moses-selfies-gru.pt`):

1. `samplers`: `SamplerPool` with `k` actors, each declaring `1/k` GPU (they share one) or no
   GPU (CPU actors, one torch thread each); trajectories per second for a batch of `--batch`,
   the devices and GPU ids the actors reported, and the GPU's utilisation during the timed
   draws (`nvidia-smi`, sampled every 100 ms).
2. `mle step`: one maximum-likelihood step of the policy (the prior's training step, as in
   `benchmarks/make_prior.py`) on `--mle-batch` MOSES molecules, on the CPU (all threads) and
   on CUDA (the score run with CUDA as torch's default device).

    RAY_AUTH_MODE=disabled python benchmarks/gpu_check.py
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import threading
import time
from functools import partial
from pathlib import Path

import ray
import torch

from sciloop.pipeline.domain import load_library
from sciloop.proposers.actors import SamplerPool
from sciloop.proposers.gflownet import GFlowNetProposer
from sciloop.proposers.policy import SequencePolicy
from sciloop.proposers.trajectories import Trajectories, from_terminal, score

PRIOR = Path(__file__).resolve().parent.parent / "configs" / "priors" / "moses-selfies-gru.pt"


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


def bench_samplers(proposer: GFlowNetProposer, actors: list[int], batch: int, repeats: int, gpu: bool) -> None:
    cfg = proposer.config
    make_policy = partial(SequencePolicy.for_env, proposer.env, cfg.hidden, cfg.num_layers)
    print(f"\nsamplers: {batch} trajectories per draw, {repeats} timed draws after one warm-up")
    print(f"{'actors':>6} {'GPU each':>8} {'traj/s':>8} {'s/draw':>7}  devices (gpu ids)   GPU during draws")
    modes = [(k, 0.0) for k in actors] + ([(k, 1.0 / k) for k in actors] if gpu else [])
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


def mle_seconds(proposer: GFlowNetProposer, traj: Trajectories, device: str, steps: int) -> float:
    """Seconds per maximum-likelihood step (forward, backward, Adam) on `device`."""
    policy = SequencePolicy.for_env(proposer.env, proposer.config.hidden, proposer.config.num_layers)
    policy.load_state_dict(proposer.policy.state_dict())
    policy.to(device)
    optimizer = torch.optim.Adam(policy.parameters(), lr=1e-4)
    moved = Trajectories(traj.states.to(device), traj.actions.to(device), traj.lengths.to(device))
    times = []
    with torch.device(device):
        for _ in range(steps + 1):
            start = time.perf_counter()
            s = score(proposer.env, policy, moved, torch.zeros(len(traj)))
            loss = -(s.log_pf.sum(0) - s.log_pb.sum(0)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            float(loss.detach())  # waits for the device
            times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actors", default="1,2,4,8")
    parser.add_argument("--batch", type=int, default=2048, help="trajectories per timed draw")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mle-batch", type=int, default=256)
    parser.add_argument("--mle-steps", type=int, default=10)
    args = parser.parse_args()

    gpu = torch.cuda.is_available()
    print(f"torch {torch.__version__}, ray {ray.__version__}, {os.cpu_count()} CPUs, "
          f"GPU: {torch.cuda.get_device_name(0) if gpu else 'none'}")
    proposer = GFlowNetProposer.from_prior(PRIOR)
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=os.cpu_count(), num_gpus=torch.cuda.device_count(), include_dashboard=False,
             object_store_memory=2 * 1024**3, log_to_driver=False)
    try:
        bench_samplers(proposer, [int(k) for k in args.actors.split(",")], args.batch, args.repeats, gpu)
    finally:
        ray.shutdown()

    designs = proposer.env.from_designs(load_library("moses", size=4 * args.mle_batch, seed=0))
    traj = from_terminal(proposer.env, designs[: args.mle_batch], torch.Generator().manual_seed(0))
    print(f"\nmle step: {len(traj)} molecules, median of {args.mle_steps} steps after one warm-up")
    print(f"  cpu ({torch.get_num_threads()} threads): {mle_seconds(proposer, traj, 'cpu', args.mle_steps):.3f} s/step")
    if gpu:
        try:
            print(f"  cuda: {mle_seconds(proposer, traj, 'cuda', args.mle_steps):.3f} s/step")
        except Exception as exc:  # the score is not written device-agnostic everywhere: report it
            print(f"  cuda: failed: {type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
