"""Seconds per GFlowNet learner step: one process vs `k` data-parallel gloo ranks (this CPU).

Two measures, both at the same whole-batch size:

- `update`: one gradient step on a fixed batch (the learner's step alone). One process runs
  `GFlowNetTrainer.update` on the whole batch; the ranks run `DataParallelLearner.update` on
  their shares (Ray transfer of the shares, backward, one all-reduce, Adam on every rank).
- `train`: `train(reward, steps)` per step: draw, reward, update; the ranks draw and score
  their own shares (the reward shipped once per call).

Every process and rank runs one torch thread; ranks declare `--rank-cpus` CPUs. The median of
`--repeats` timed calls after a warm-up, and the load average beside the numbers: on a shared
machine the comparison only holds at the load printed. Measures only; it claims nothing.

    nice -n 10 python benchmarks/data_parallel_step.py --batch 256

Measured 2026-12-06 on the shared 2-core development machine (defaults: length 32, MLP 2 x 256,
2 ranks at 0.5 CPU), one run each, s/update and s/train step:
batch 64 (load 8.6): 1 process 0.024 / 0.056, 2 ranks 0.110 / 0.174;
batch 256 (load 6.7, then 6.4): 1 process 0.090 / 0.288, then 0.087 / 0.121; 2 ranks 0.109 /
0.158, then 0.085 / 0.186; batch 1024 (load 7.9): 1 process 0.594 / 0.734, 2 ranks 0.428 / 0.491.
At this load the runs scatter by up to 2x: no speed-up is established below batch 1024.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

import ray
import torch
from proposer_scaling import timed  # this folder: the median after a warm-up

from sciloop.proposers.actors import split
from sciloop.proposers.data_parallel import DataParallelConfig, DataParallelLearner
from sciloop.proposers.replay import select
from sciloop.proposers.sequence_env import SequenceEnv
from sciloop.proposers.trainer import CoreConfig, GFlowNetTrainer


@dataclass(frozen=True)
class GCReward:
    """`log R` = GC share of the sequence times `scale` (picklable, so it ships to ranks)."""

    pad: int
    scale: float = 4.0

    def __call__(self, states: torch.Tensor) -> torch.Tensor:
        gc = ((states == 1) | (states == 2)).sum(-1).float()
        return self.scale * gc / (states != self.pad).sum(-1).clamp(min=1).float()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256, help="trajectories per step (whole)")
    parser.add_argument("--length", type=int, default=32, help="sequence length")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--rank-cpus", type=float, default=0.5)
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measure")
    parser.add_argument("--train-steps", type=int, default=3, help="steps per timed train call")
    args = parser.parse_args()

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    torch.set_num_threads(1)
    env = SequenceEnv("ACGT", max_len=args.length)
    cfg = CoreConfig(batch_size=args.batch, hidden=args.hidden, layers=args.layers, seed=0)
    reward = GCReward(env.pad)
    one = GFlowNetTrainer(env, cfg)
    traj = one.sample_trajectories(args.batch)
    log_r = reward(traj.terminal)
    cuts = torch.tensor([0, *split(args.batch, args.ranks)]).cumsum(0).tolist()
    parts = [select(traj, torch.arange(a, b)) for a, b in zip(cuts[:-1], cuts[1:])]
    rewards = [log_r[a:b] for a, b in zip(cuts[:-1], cuts[1:])]

    rows = [("1 process", timed(lambda: one.update(traj, log_r), args.repeats),
             timed(lambda: one.train(reward, args.train_steps), args.repeats)
             / args.train_steps)]
    ray.init(address="local", num_cpus=2, include_dashboard=False,
             object_store_memory=100_000_000, log_to_driver=False)
    try:
        dp_cfg = DataParallelConfig(args.ranks, num_cpus=args.rank_cpus, num_threads=1)
        with DataParallelLearner(env, cfg, dp_cfg) as dp:
            rows.append((f"{args.ranks} {dp.backend} ranks",
                         timed(lambda: dp.update(parts, rewards), args.repeats),
                         timed(lambda: dp.train(reward, args.train_steps), args.repeats)
                         / args.train_steps))
    finally:
        ray.shutdown()

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\nsequence length {args.length}, MLP {args.layers} x {args.hidden}, batch "
          f"{args.batch}, {os.cpu_count()} CPUs, one torch thread per process, "
          f"load average {load} (1, 5, 15 min)")
    print(f"{'mode':18s} {'s/update':>10s} {'s/train step':>13s}")
    for mode, update_s, train_s in rows:
        print(f"{mode:18s} {update_s:10.4f} {train_s:13.4f}")


if __name__ == "__main__":
    main()
