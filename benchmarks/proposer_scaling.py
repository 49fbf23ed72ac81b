"""GFlowNet proposer scaling on CPU: sampler actors vs one process, and vs data-parallel.

One command, one table (issue #6, acceptance 4). Equal batch size in every mode:

- `process (T threads)`: sampling and learning in the calling process, `T` torch threads;
- `k actor(s)`: `SamplerPool` with `k` sampler actors (`--actor-cpus` CPUs each, one torch
  thread) feeding the learner in the driver (`GFlowNetTrainer.update`, the driver's threads);
- `k actors, overlapped`: the same, the next batch drawn while the learner updates (the
  samples lag the learner by one step; trajectory balance is off-policy);
- `k DP workers`: synchronous data-parallel gradients: each worker draws its share, scores
  it with the reward (a surrogate ensemble shipped to the workers once per round), computes
  the gradient; the driver averages and steps Adam, then broadcasts the weights.

- `k plain processes (no Ray)`: `k` spawned processes sampling `batch / k` each, nothing
  returned: what the machine gives two processes at that moment (the scaling ceiling on a
  shared machine).

Columns: `traj/s` of sampling alone, and seconds per training step (sample + reward +
update). `ship` is the per-round cost of sending the surrogate to the DP workers (amortised
over `--steps` in `s/step+ship`). The environment is a fixed-length sequence (`--length`
tokens, so every trajectory has `length + 1` policy calls) and an MLP policy: sampling is a
loop over time steps with small matrix products (as in molecule environments, whose steps
are Python), the update is one batched pass.

    nice -n 10 python benchmarks/proposer_scaling.py                 # defaults
    nice -n 10 python benchmarks/proposer_scaling.py --batch 256 --hidden 512
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import ray
import torch
from torch import nn

from sciloop.proposers.actors import SamplerActor, SamplerPool, part_seed, split
from sciloop.proposers.mlp_policy import MLPPolicy
from sciloop.proposers.sequence_env import SequenceEnv
from sciloop.proposers.trainer import CoreConfig, GFlowNetTrainer
from sciloop.proposers.trajectories import sample_trajectories, score


class Surrogate(nn.Module):
    """A stand-in for the surrogate ensemble: `members` MLPs on the one-hot sequence."""

    def __init__(self, env: SequenceEnv, members: int, hidden: int) -> None:
        super().__init__()
        self.env = env
        self.nets = nn.ModuleList(
            nn.Sequential(nn.Linear(env.input_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                          nn.ReLU(), nn.Linear(hidden, 1)) for _ in range(members))

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Log-reward of terminal states `x` (`n x state_dim`): mean member prediction."""
        enc = self.env.encode(x)
        return torch.stack([net(enc).squeeze(-1) for net in self.nets]).mean(0)


class DPWorker:
    """A data-parallel worker: draws its share, scores it, returns the gradient."""

    def __init__(self, env: SequenceEnv, config: CoreConfig) -> None:
        torch.set_num_threads(1)
        self.trainer = GFlowNetTrainer(env, config)
        self.reward: nn.Module | None = None

    def set_reward(self, reward: nn.Module | None) -> bool:
        self.reward = reward
        return True

    def grads(
        self, weights: dict[str, torch.Tensor], log_z: float, n: int, seed: int
    ) -> tuple[list[torch.Tensor], float]:
        tr, env = self.trainer, self.trainer.env
        tr.policy.load_state_dict(weights)
        with torch.no_grad():
            tr.log_z.fill_(log_z)
        traj = sample_trajectories(env, tr.policy, n, torch.Generator().manual_seed(seed))
        log_r = self.reward(traj.terminal)
        loss = tr.objective.loss(score(env, tr.policy, traj, log_r), log_r, tr.log_z, None)
        tr.optimizer.zero_grad()
        loss.backward()
        params = [*tr.policy.parameters(), tr.log_z]
        return [p.grad.detach().clone() for p in params], float(loss)


_RAW: dict[str, SamplerActor] = {}


def _raw_init(env: SequenceEnv, make_policy) -> None:
    torch.set_num_threads(1)
    _RAW["sampler"] = SamplerActor(env, make_policy)


def _raw_sample(weights: dict[str, torch.Tensor], n: int, seed: int) -> int:
    return len(_RAW["sampler"].sample(weights, n, seed)[0])


@dataclass
class Row:
    mode: str
    traj_per_s: float
    s_per_step: float
    ship_s: float = 0.0


def timed(fn, repeats: int) -> float:
    """Median seconds of `fn()` over `repeats` calls after one warm-up call.

    The median, not the mean: the machine is shared, and a call that another process
    delays should not decide the comparison.
    """
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_process(env, cfg, reward, args, threads: int) -> Row:
    torch.set_num_threads(threads)
    trainer = GFlowNetTrainer(env, cfg)
    sample_s = timed(lambda: trainer.sample_trajectories(args.batch), args.repeats)

    def step() -> None:
        traj = trainer.sample_trajectories(args.batch)
        trainer.update(traj, reward(traj.terminal))

    return Row(f"process ({threads} threads)", args.batch / sample_s, timed(step, args.steps))


def run_actors(env, cfg, reward, args, k: int, overlap: bool) -> Row:
    torch.set_num_threads(args.driver_threads)
    trainer = GFlowNetTrainer(env, cfg)
    make_policy = functools.partial(MLPPolicy, env.input_dim, env.n_actions, cfg.hidden,
                                    cfg.layers)
    with SamplerPool(env, make_policy, k, num_cpus=args.actor_cpus, seed=cfg.seed) as pool:
        sample_s = timed(lambda: pool.sample(trainer.policy, args.batch), args.repeats)
        counter = iter(range(1, 10**9))
        pending = [pool.submit(trainer.policy, args.batch, step=0)] if overlap else []

        def step() -> None:
            if overlap:  # draw the next batch while the learner updates on this one
                traj = pending[0].result()
                pending[0] = pool.submit(trainer.policy, args.batch, step=next(counter))
            else:
                traj = pool.sample(trainer.policy, args.batch, step=next(counter))
            trainer.update(traj, reward(traj.terminal))

        per_step = timed(step, args.steps)
        if overlap:
            pending[0].result()
    name = f"{k} actor{'s' if k > 1 else ''}" + (", overlapped" if overlap else "")
    return Row(name, args.batch / sample_s if not overlap else float("nan"), per_step)


def run_plain_processes(env, cfg, args, k: int) -> Row:
    """`k` plain processes (no Ray) sampling `batch / k` each: the machine's ceiling now."""
    make_policy = functools.partial(MLPPolicy, env.input_dim, env.n_actions, cfg.hidden,
                                    cfg.layers)
    weights = make_policy().state_dict()
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(k, ctx, initializer=_raw_init, initargs=(env, make_policy)) as ex:
        def call() -> None:
            list(ex.map(_raw_sample, [weights] * k, split(args.batch, k), range(k)))

        sample_s = timed(call, args.repeats)
    return Row(f"{k} plain process{'es' if k > 1 else ''} (no Ray)", args.batch / sample_s,
               float("nan"))


def run_data_parallel(env, cfg, reward, args, k: int) -> Row:
    torch.set_num_threads(args.driver_threads)
    trainer = GFlowNetTrainer(env, cfg)
    params = [*trainer.policy.parameters(), trainer.log_z]
    remote = ray.remote(num_cpus=args.actor_cpus)(DPWorker)
    workers = [remote.remote(env, cfg) for _ in range(k)]
    try:
        ray.get([w.set_reward.remote(None) for w in workers])  # workers started
        start = time.perf_counter()  # per round: the surrogate travels to every worker
        ray.get([w.set_reward.remote(ray.put(reward)) for w in workers])
        ship_s = time.perf_counter() - start
        counter = iter(range(10**9))

        def step() -> None:
            t = next(counter)
            weights = ray.put({n: v.detach() for n, v in trainer.policy.state_dict().items()})
            log_z = float(trainer.log_z.detach())
            outs = ray.get([w.grads.remote(weights, log_z, m, part_seed(cfg.seed, t, i))
                            for i, (w, m) in enumerate(zip(workers, split(args.batch, k)))])
            for j, p in enumerate(params):
                p.grad = torch.stack([g[j] for g, _ in outs]).mean(0)
            torch.nn.utils.clip_grad_norm_(trainer.policy.parameters(), cfg.grad_clip)
            trainer.optimizer.step()

        per_step = timed(step, args.steps)
    finally:
        for w in workers:
            ray.kill(w)
    return Row(f"{k} DP workers", float("nan"), per_step, ship_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--length", type=int, default=64, help="sequence length")
    parser.add_argument("--hidden", type=int, default=512, help="policy MLP width")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=256, help="trajectories per step")
    parser.add_argument("--repeats", type=int, default=4, help="timed sampling calls")
    parser.add_argument("--steps", type=int, default=3, help="timed training steps")
    parser.add_argument("--actor-cpus", type=float, default=1.0)
    parser.add_argument("--driver-threads", type=int, default=1,
                        help="torch threads of the learner in the driver")
    parser.add_argument("--members", type=int, default=5, help="surrogate ensemble size")
    parser.add_argument("--surrogate-hidden", type=int, default=512)
    args = parser.parse_args()

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    env = SequenceEnv("ACGT", max_len=args.length)
    cfg = CoreConfig(hidden=args.hidden, layers=args.layers, seed=0, device="cpu")  # CPU processes and actors
    torch.manual_seed(1)
    reward = Surrogate(env, args.members, args.surrogate_hidden)
    mb = sum(p.numel() for p in reward.parameters()) * 4 / 2**20
    ray.init(address="local", num_cpus=2, include_dashboard=False,
             object_store_memory=100_000_000, log_to_driver=False)
    try:
        rows = [run_plain_processes(env, cfg, args, 1), run_plain_processes(env, cfg, args, 2),
                run_process(env, cfg, reward, args, 2), run_process(env, cfg, reward, args, 1)]
        for k in (1, 2):
            rows.append(run_actors(env, cfg, reward, args, k, overlap=False))
        rows.append(run_actors(env, cfg, reward, args, 2, overlap=True))
        rows.append(run_data_parallel(env, cfg, reward, args, 2))
    finally:
        ray.shutdown()

    print(f"\nsequence length {args.length}, MLP {args.layers} x {args.hidden}, batch "
          f"{args.batch}, actors {args.actor_cpus} CPU each, driver {args.driver_threads} "
          f"threads, surrogate {args.members} x {args.surrogate_hidden} ({mb:.1f} MB), "
          f"load average {os.getloadavg()[0]:.2f}")
    one = next(r for r in rows if r.mode == "1 actor")
    print(f"{'mode':30s} {'traj/s':>8s} {'x 1 actor':>9s} {'s/step':>8s} {'ship s':>7s} "
          f"{'s/step+ship':>11s}")
    for r in rows:
        sampled = r.traj_per_s == r.traj_per_s  # not NaN: sampling timed alone
        rate = f"{r.traj_per_s:8.0f} {r.traj_per_s / one.traj_per_s:9.2f}" if sampled \
            else f"{'-':>8s} {'-':>9s}"
        if r.s_per_step != r.s_per_step:  # sampling only
            print(f"{r.mode:30s} {rate} {'-':>8s} {'-':>7s} {'-':>11s}")
            continue
        amortised = r.s_per_step + r.ship_s / args.steps
        print(f"{r.mode:30s} {rate} {r.s_per_step:8.3f} {r.ship_s:7.3f} {amortised:11.3f}")


if __name__ == "__main__":
    main()
