"""GFlowNet objectives on an enumerable bit-sequence world with a multi-modal reward.

Bits of fixed length L (default 10, 1024 sequences); `M` modes drawn at random (seeded);
`log R(x) = -beta * min_m hamming(x, m) / L` (Tiapkin et al. 2023 use this form). For each
objective it prints, as training proceeds: trajectories sampled, modes found (a mode counts
once some sampled sequence lies within `--mode-radius` of it), the exact sum-L1 between the
policy's terminal distribution (dynamic programming) and R/Z, and the Spearman correlation
between log p_theta(x) and log R(x) over a held-out test set of sequences.

    python benchmarks/sequences.py --steps 300 --objectives tb,db        # quick
"""

from __future__ import annotations

import argparse
import time

import torch

from sciloop.proposers.exact import enumerate_states, l1, target_distribution, terminal_distribution
from sciloop.proposers.sequence_env import SequenceEnv
from sciloop.proposers.trainer import CoreConfig, GFlowNetTrainer

OBJECTIVES = {
    "tb": {},
    "db": {},
    "subtb": {},
    "soft_dqn": {"target_update": 0.2},
    "mdqn": {"target_update": 0.2, "munchausen_alpha": 0.15},
}


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Spearman rank correlation (average ranks for ties)."""

    def ranks(x: torch.Tensor) -> torch.Tensor:
        _, inv, counts = torch.unique(x, return_inverse=True, return_counts=True)
        upper = counts.cumsum(0).double()
        return ((upper - counts + 1 + upper) / 2)[inv]

    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--length", type=int, default=10)
    ap.add_argument("--modes", type=int, default=8)
    ap.add_argument("--beta", type=float, default=6.0)
    ap.add_argument("--mode-radius", type=int, default=0)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--objectives", default=",".join(OBJECTIVES))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(args.seed)
    modes = torch.randint(0, 2, (args.modes, args.length), generator=g)

    def log_reward(states: torch.Tensor) -> torch.Tensor:
        dist = (states.unsqueeze(1) != modes.unsqueeze(0)).sum(-1).min(1).values
        return -args.beta * dist.float() / args.length

    env = SequenceEnv("01", max_len=args.length)
    graph = enumerate_states(env)
    states, p_star, log_z = target_distribution(env, log_reward, graph)
    test = torch.randperm(len(states), generator=g)[: len(states) // 2]
    print(f"{len(states)} sequences, {args.modes} modes, log Z* = {log_z:.3f}")
    for name in args.objectives.split(","):
        gfn = GFlowNetTrainer(env, CoreConfig(objective=name.replace("mdqn", "soft_dqn"),
                                              batch_size=args.batch_size, lr=3e-3, hidden=128,
                                              epsilon=0.05, seed=args.seed, **OBJECTIVES[name]))
        found = torch.zeros(args.modes, dtype=torch.bool)
        t0 = time.perf_counter()
        for step in range(1, args.steps + 1):
            traj = gfn.sample_trajectories(args.batch_size, gfn.config.epsilon)
            x = traj.terminal
            gfn.update(traj, log_reward(x))
            dist = (x.unsqueeze(1) != modes.unsqueeze(0)).sum(-1)  # n x M
            found |= (dist <= args.mode_radius).any(0)
            if step % args.eval_every == 0 or step == args.steps:
                _, p = terminal_distribution(env, gfn.policy, graph)
                rho = spearman(p[test].log(), log_reward(states[test]).double())
                print(f"{name:9s} traj={step * args.batch_size:7d} modes={int(found.sum())}/"
                      f"{args.modes} L1={l1(p, p_star):.4f} spearman={rho:.3f} "
                      f"logZ={gfn.log_partition():.3f} ({time.perf_counter() - t0:.0f}s)",
                      flush=True)


if __name__ == "__main__":
    main()
