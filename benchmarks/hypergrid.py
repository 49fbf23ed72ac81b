"""sciloop vs torchgfn on hypergrids: same grids, model, batch, trajectories and seeds.

Both train trajectory balance with a uniform P_B, an MLP of 2 x 256 hidden units, Adam
(lr 1e-3, log Z lr 0.1), on-policy, one torch thread, in one command (each run in a forked
child of it, so that its memory is its own). Reported per
(grid, library):

- exact sum-L1 `sum_x |p_theta(x) - p*(x)|` and JSD, from dynamic programming over the
  state graph (every grid here is enumerable); torchgfn's own `l1_dist` is the *mean* over
  states, printed too (`mean-L1 = sum-L1 / |X|`);
- empirical sum-L1 of `--eval-samples` samples and the Monte Carlo floor: the median
  empirical L1 of a perfect sampler (samples of p* itself) at that count;
- training trajectories per second (sampling + loss + update) and the peak resident memory
  added by training (each run in a fresh forked process, ru_maxrss minus the RSS at fork).

torchgfn is a benchmark-only extra. torchgfn 2.4.1 declares numpy<2 and pip downgrades
numpy to 1.26 (breaking pandas 3 in the project venv); it runs fine with numpy 2.4.6, so
install it as `pip install torch==2.13.0 torchgfn==2.4.1` and then restore numpy with
`pip install torch==2.13.0 numpy==2.4.6` (what was done here).

    python benchmarks/hypergrid.py --iterations 200 --grids 2x8     # quick
    python benchmarks/hypergrid.py                                  # the issue's grids
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from sciloop.proposers.exact import enumerate_states, jsd, l1, target_distribution, terminal_distribution
from sciloop.proposers.hypergrid import HypergridEnv, HypergridReward
from sciloop.proposers.trainer import CoreConfig, GFlowNetTrainer

GRIDS = {  # name: (ndim, height, R0)
    "2x8": (2, 8, 0.1),
    "4x8": (4, 8, 0.1),
    "2x64": (2, 64, 0.1),
    "2x64-r0.01": (2, 64, 0.01),
    "2x64-r0.001": (2, 64, 0.001),
}


@dataclass
class Result:
    grid: str
    lib: str
    exact_l1: float
    mean_l1: float
    jsd: float
    emp_l1: float
    floor: float
    traj_per_s: float
    peak_mb: float


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_extra_mb(base: int) -> float:
    """Peak RSS of this (forked) process above `base` bytes, in MB."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base) / 2**20


def empirical_l1(samples: torch.Tensor, graph, states: torch.Tensor, p_star: torch.Tensor) -> float:
    idx = graph.index(samples)
    pos = graph.index(states)
    counts = torch.bincount(idx, minlength=len(graph.states)).double()
    return l1(counts[pos] / len(samples), p_star)


def mc_floor(p_star: torch.Tensor, n: int, reps: int = 5) -> float:
    g = torch.Generator().manual_seed(0)
    vals = []
    for _ in range(reps):
        draws = torch.multinomial(p_star, n, replacement=True, generator=g)
        emp = torch.bincount(draws, minlength=len(p_star)).double() / n
        vals.append(l1(emp, p_star))
    return sorted(vals)[len(vals) // 2]


def run_sciloop(env, reward, args) -> tuple[Callable, Callable, float]:
    cfg = CoreConfig(objective="tb", batch_size=args.batch_size, lr=1e-3, lr_log_z=0.1,
                     hidden=256, layers=2, epsilon=args.epsilon, seed=args.seed)
    gfn = GFlowNetTrainer(env, cfg)
    t0 = time.perf_counter()
    gfn.train(reward, args.iterations)
    dt = time.perf_counter() - t0
    return gfn.policy, gfn.sample, args.iterations * args.batch_size / dt


def run_torchgfn(ndim, height, r0, args) -> tuple[Callable, Callable, float]:
    from gfn.estimators import DiscretePolicyEstimator
    from gfn.gflownet import TBGFlowNet
    from gfn.gym import HyperGrid
    from gfn.preprocessors import KHotPreprocessor
    from gfn.samplers import Sampler
    from gfn.utils.common import set_seed
    from gfn.utils.modules import MLP, DiscreteUniform

    set_seed(args.seed)
    env = HyperGrid(ndim=ndim, height=height, reward_fn_str="original",
                    reward_fn_kwargs={"R0": r0, "R1": 0.5, "R2": 2.0}, validate_modes=False)
    pre = KHotPreprocessor(height=height, ndim=ndim)
    module_pf = MLP(input_dim=pre.output_dim, output_dim=env.n_actions, hidden_dim=256,
                    n_hidden_layers=2)
    pf = DiscretePolicyEstimator(module_pf, env.n_actions, preprocessor=pre, is_backward=False)
    pb = DiscretePolicyEstimator(DiscreteUniform(output_dim=env.n_actions - 1), env.n_actions,
                                 preprocessor=pre, is_backward=True)
    gflownet = TBGFlowNet(pf=pf, pb=pb, init_logZ=0.0)
    sampler = Sampler(estimator=pf)
    opt = torch.optim.Adam(gflownet.pf_pb_parameters(), lr=1e-3)
    opt.add_param_group({"params": gflownet.logz_parameters(), "lr": 0.1})
    t0 = time.perf_counter()
    for _ in range(args.iterations):
        traj = sampler.sample_trajectories(env, n=args.batch_size, save_logprobs=True,
                                           epsilon=args.epsilon)
        opt.zero_grad()
        loss = gflownet.loss(env, traj, recalculate_all_logprobs=False)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(gflownet.parameters(), 10.0)
        opt.step()
    dt = time.perf_counter() - t0

    def logits(states: torch.Tensor) -> torch.Tensor:
        return module_pf(F.one_hot(states, height).flatten(1).float())

    def sample(n: int) -> torch.Tensor:
        with torch.no_grad():
            return sampler.sample_trajectories(env, n=n).terminating_states.tensor.long()

    return logits, sample, args.iterations * args.batch_size / dt


def evaluate(name: str, lib: str, args: argparse.Namespace) -> Result:
    """Trains one library on one grid (in a forked child) and measures it."""
    base = _rss()
    torch.set_num_threads(1)
    ndim, height, r0 = GRIDS[name]
    env = HypergridEnv(ndim, height)
    reward = HypergridReward(height, r0=r0)
    graph = enumerate_states(env)
    states, p_star, _ = target_distribution(env, reward, graph)
    if lib == "sciloop":
        policy, sample, tps = run_sciloop(env, reward, args)
    else:
        policy, sample, tps = run_torchgfn(ndim, height, r0, args)
    peak = peak_extra_mb(base)  # training only: evaluation below allocates more
    with torch.no_grad():
        _, p = terminal_distribution(env, policy, graph)
    emp = empirical_l1(sample(args.eval_samples), graph, states, p_star)
    return Result(name, lib, l1(p, p_star), l1(p, p_star) / len(p), jsd(p, p_star), emp,
                  mc_floor(p_star, args.eval_samples), tps, peak)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grids", default=",".join(GRIDS), help=f"comma list of {list(GRIDS)}")
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--eval-samples", type=int, default=20000)
    ap.add_argument("--epsilon", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--libs", default="sciloop,torchgfn")
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows: list[Result] = []
    fork = multiprocessing.get_context("fork")
    for name in args.grids.split(","):
        for lib in args.libs.split(","):
            with fork.Pool(1) as pool:  # a fresh process per run: its own peak memory
                r = pool.apply(evaluate, (name, lib, args))
            rows.append(r)
            print(f"{r.grid:12s} {r.lib:9s} exactL1={r.exact_l1:.4f} meanL1={r.mean_l1:.2e} "
                  f"JSD={r.jsd:.4f} empL1={r.emp_l1:.4f} (floor {r.floor:.4f} @ "
                  f"{args.eval_samples}) traj/s={r.traj_per_s:.0f} peak=+{r.peak_mb:.1f}MB",
                  flush=True)
    print(f"\n{args.iterations} iterations x {args.batch_size} trajectories, TB, uniform P_B, "
          f"seed {args.seed}; L1 = sum over terminal states (torchgfn's l1_dist = meanL1)")
    print("| grid | lib | exact L1 (sum) | mean L1 | JSD | empirical L1 (floor) | traj/s | peak MB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.grid} | {r.lib} | {r.exact_l1:.4f} | {r.mean_l1:.2e} | {r.jsd:.4f} | "
              f"{r.emp_l1:.4f} ({r.floor:.4f}) | {r.traj_per_s:.0f} | {r.peak_mb:.1f} |")


if __name__ == "__main__":
    main()
