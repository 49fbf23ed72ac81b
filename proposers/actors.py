"""Ray sampler pool of the GFlowNet core (and the offspring proposer's breeding tasks); with
`data_parallel.py` (the data-parallel learner), the only modules of `proposers/` that import Ray.

Sampler actors feed one learner: each actor holds the environment and a policy copy, loads
the weights the driver broadcasts once per call (`ray.put` of a CPU state dict), draws its
share of the batch with a seed derived from `(pool seed, step, part)`, and returns
trajectories; the driver scores them with the reward (a surrogate that lives there) and
runs `GFlowNetTrainer.update` (plug the pool into `GFlowNetTrainer.sampler`).

Why not synchronous data-parallel gradients by default (`data_parallel.py` offers them;
`benchmarks/proposer_scaling.py`, shared 2-core machine, load 9-14): the data-parallel step
ran from 7% slower to 41% faster than sampler actors plus a learner; it wins when the batched
update dominates the step, since it splits the update too. It was not chosen because it must
ship the reward to every worker each round (0.05-0.12 s for an 8 MB surrogate ensemble, and a
copy in each worker's memory or GPU), which then has to be picklable and importable there (rdkit generators and user
modules are not, see TRAPS.md); here the reward stays an arbitrary driver-side callable and
the learner's state (Adam, `log Z`, replay, prior) lives in one place for checkpoints. With
the learner on a GPU the update is cheap and the sequential sampling loop, which the actors
spread, dominates (expected; not measured here, no GPU).

Sampling is idempotent: a part's seed depends on the step and part index, never on the
actor, so an actor killed mid-call is restarted by Ray (`max_restarts`,
`max_task_retries`) and its part re-drawn with the same seed. Actors take fractional CPUs
(and `num_gpus`, custom resources) and live only as long as the pool (a context manager,
one per stage), so they never hold every CPU for the whole campaign.

>>> env = SequenceEnv("ACGT", max_len=16)
>>> make_policy = functools.partial(MLPPolicy, env.input_dim, env.n_actions, 64, 2)
>>> trainer = GFlowNetTrainer(env, CoreConfig(hidden=64, layers=2))
>>> with SamplerPool(env, make_policy, num_actors=2, seed=1) as pool:
...     steps = itertools.count()
...     trainer.sampler = lambda n, eps: pool.sample(trainer.policy, n, eps, next(steps))
...     trainer.train(log_reward_fn, steps=100)
...     pool.last_placement  # one `Placement` per part: node, actor, pid, GPU ids, seconds
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import ray
import torch
from torch import nn

from .devices import on_device
from .env import DiscreteEnv
from .replay import concat_trajectories
from .trajectories import Trajectories, sample_trajectories

Weights = Mapping[str, torch.Tensor] | nn.Module
"""A policy state dict, or the policy itself (its state dict is taken)."""


@dataclass(frozen=True)
class Placement:
    """Where one part of a batch was sampled (for the ledger and MLflow).

    Attributes:
        part: index of the part in the concatenated batch (parts are in order).
        n: trajectories in the part.
        seed: seed of the part's generator (`part_seed(pool seed, step, part)`).
        node_id: Ray node id ("local" outside Ray).
        actor_id: Ray actor id ("local" in the calling process).
        pid: process that sampled (changes when a killed actor is restarted).
        gpu_ids: GPU ids Ray assigned to the actor (empty without GPUs).
        device: torch device the policy ran on ("cpu" or "cuda").
        seconds: wall time of the draw inside the sampler (weights loaded, trajectories
            drawn), without Ray's transfer and scheduling.
    """

    part: int
    n: int
    seed: int
    node_id: str
    actor_id: str
    pid: int
    gpu_ids: tuple[str, ...]
    device: str
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (GPU ids as a list), ready for JSON, the ledger or MLflow."""
        out = dataclasses.asdict(self)
        out["gpu_ids"] = list(self.gpu_ids)
        return out


def part_seed(seed: int, step: int, part: int) -> int:
    """Seed of part `part` of call `step` of a pool seeded with `seed` (32-bit).

    The same derivation as the in-process proposer's (`SeedSequence([seed, draw, index])`),
    so a one-sampler pool draws what the proposer draws in-process.
    """
    return int(np.random.SeedSequence([seed, step, part]).generate_state(1)[0])


def split(n: int, parts: int) -> list[int]:
    """`n` split into `parts` sizes that differ by at most one (larger ones first)."""
    return [n // parts + (i < n % parts) for i in range(parts)]


def cpu_state_dict(weights: Weights) -> dict[str, torch.Tensor]:
    """A detached CPU copy of a state dict (what goes to the object store)."""
    state = weights.state_dict() if isinstance(weights, nn.Module) else weights
    return {k: v.detach().cpu() for k, v in state.items()}


class SamplerActor:
    """An environment and a policy copy; samples with the weights it is sent.

    Plain Python: `SamplerPool` makes it a Ray actor at the edge, or uses it in-process.
    The policy moves to the GPU when Ray assigned one and CUDA is available; the action
    draws stay on a CPU generator, so a seed gives the same trajectories on any device
    (up to floating-point differences of the policy).

    Args:
        env: the environment (pickled to the actor).
        make_policy: builds the policy module (pickled to the actor; weights come per call).
        num_threads: torch intra-op threads (0: leave the process setting alone).
    """

    def __init__(
        self, env: DiscreteEnv, make_policy: Callable[[], nn.Module], num_threads: int = 0
    ) -> None:
        if num_threads > 0:
            torch.set_num_threads(num_threads)
        self.env = env
        self.node_id, self.actor_id, self.gpu_ids = _where()
        cuda = bool(self.gpu_ids) and torch.cuda.is_available()
        self.device = torch.device("cuda" if cuda else "cpu")
        self.policy = make_policy().to(self.device).eval()
        self.runner = on_device(self.policy, self.device)

    def pid(self) -> int:
        """The process id (tests kill it)."""
        return os.getpid()

    def sample(
        self, weights: Mapping[str, torch.Tensor], n: int, seed: int, epsilon: float = 0.0,
        part: int = 0, temperature: float = 1.0,
    ) -> tuple[Trajectories, Placement]:
        """Loads `weights` and draws `n` trajectories with a `seed`-ed generator."""
        start = time.perf_counter()
        self.policy.load_state_dict(weights)
        generator = torch.Generator().manual_seed(seed)
        traj = sample_trajectories(self.env, self.runner, n, generator, epsilon, temperature)
        where = Placement(part, n, seed, self.node_id, self.actor_id, os.getpid(),
                          self.gpu_ids, self.device.type, time.perf_counter() - start)
        return traj, where

    def sample_packed(
        self, weights: Mapping[str, torch.Tensor], n: int, seed: int, epsilon: float = 0.0,
        part: int = 0, temperature: float = 1.0,
    ) -> tuple[tuple[np.ndarray, ...], Placement]:
        """`sample`, with the trajectories as narrow numpy arrays (see `pack`)."""
        traj, where = self.sample(weights, n, seed, epsilon, part, temperature)
        return pack(traj), where


def _narrow(x: torch.Tensor) -> np.ndarray:
    """`x` as the narrowest numpy integer type that holds its values."""
    lo, hi = (int(x.min()), int(x.max())) if x.numel() else (0, 0)
    for dtype in (np.int8, np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= lo and hi <= info.max:
            return x.cpu().numpy().astype(dtype)
    return x.cpu().numpy()


def pack(traj: Trajectories) -> tuple[np.ndarray, ...]:
    """Trajectories as narrow numpy arrays: Ray ships numpy without pickling it, and the
    states of a sequence environment (`T x n x T` int64) shrink 8x as int8."""
    return _narrow(traj.states), _narrow(traj.actions), _narrow(traj.lengths)


def unpack(arrays: tuple[np.ndarray, ...]) -> Trajectories:
    """The inverse of `pack` (int64 tensors, copied out of the object store)."""
    states, actions, lengths = (torch.from_numpy(np.array(a, dtype=np.int64)) for a in arrays)
    return Trajectories(states, actions, lengths)


def _where() -> tuple[str, str, tuple[str, ...]]:
    if not ray.is_initialized():
        return "local", "local", ()
    ctx = ray.get_runtime_context()
    actor_id = ctx.get_actor_id()
    if actor_id is None:
        return ctx.get_node_id(), "local", ()
    return ctx.get_node_id(), actor_id, tuple(str(g) for g in ray.get_gpu_ids())


def concat(parts: Sequence[Trajectories]) -> Trajectories:
    """Joins batches in order (shorter horizons padded)."""
    return functools.reduce(concat_trajectories, parts)


class PendingSample:
    """A batch being drawn; `result()` waits for it (and records the placement)."""

    def __init__(self, pool: SamplerPool, parts: list[Any]) -> None:
        self._pool, self._parts = pool, parts

    def ready(self) -> list[bool]:
        """Per part: whether it is drawn already (does not wait)."""
        refs = [p for p in self._parts if not isinstance(p, tuple)]
        done = set(ray.wait(refs, num_returns=len(refs), timeout=0)[0]) if refs else set()
        return [isinstance(p, tuple) or p in done for p in self._parts]

    def result(self) -> Trajectories:
        """The concatenated trajectories, parts in order; sets `pool.last_placement`."""
        done = [p if isinstance(p, tuple) else None for p in self._parts]
        refs = [p for p in self._parts if not isinstance(p, tuple)]
        fetched = iter(ray.get(refs)) if refs else iter(())
        pairs = [d if d is not None else _unpacked(next(fetched)) for d in done]
        self._pool.last_placement = [where for _, where in pairs]
        return concat([traj for traj, _ in pairs])


def _unpacked(pair: tuple[tuple[np.ndarray, ...], Placement]) -> tuple[Trajectories, Placement]:
    return unpack(pair[0]), pair[1]


class SamplerPool:
    """`num_actors` Ray sampler actors, or one in-process sampler when `num_actors == 0`.

    A call draws `n` trajectories split over the samplers (part `i` on actor `i`, seeded
    with `part_seed(seed, step, i)`), so the same seed, step, `n` and `num_actors` give
    identical trajectories. `last_placement` lists, per part, where it was sampled.

    Args:
        env: the environment (pickled to each actor).
        make_policy: builds a policy module whose state dict matches the weights sent.
        num_actors: Ray actors to start (0: sample in the calling process, no Ray).
        num_cpus: CPUs each actor declares (fractional, so actors never block a node).
        num_gpus: GPUs each actor declares (fractional shares one GPU between actors).
        resources: custom Ray resources each actor declares (e.g. `{"gfn_node": 0.1}`).
        seed: base of every part's seed.
        max_restarts: restarts of a killed actor, and retries of its in-flight call.

    Raises:
        RuntimeError: `num_actors > 0` and Ray is not initialised (the caller owns it).
    """

    def __init__(
        self,
        env: DiscreteEnv,
        make_policy: Callable[[], nn.Module],
        num_actors: int,
        num_cpus: float = 0.5,
        num_gpus: float = 0.0,
        resources: dict[str, float] | None = None,
        seed: int = 0,
        max_restarts: int = 3,
    ) -> None:
        if num_actors < 0:
            raise ValueError("num_actors must be >= 0")
        self.seed = seed
        self.last_placement: list[Placement] = []
        self.actors: list[Any] = []
        self.local: SamplerActor | None = None
        if num_actors == 0:
            self.local = SamplerActor(env, make_policy)
            return
        if not ray.is_initialized():
            raise RuntimeError(
                "Ray is not initialised: call ray.init() first, or use num_actors=0 to sample "
                "in-process"
            )
        remote_cls = ray.remote(
            num_cpus=num_cpus, num_gpus=num_gpus, resources=resources or None,
            max_restarts=max_restarts, max_task_retries=max_restarts,
            scheduling_strategy="SPREAD",  # one per node first: the nodes share the sampling
        )(SamplerActor)
        threads = max(1, math.floor(num_cpus))
        self.actors = [remote_cls.remote(env, make_policy, threads) for _ in range(num_actors)]

    @property
    def size(self) -> int:
        """Number of samplers (a batch is split into this many parts)."""
        return len(self.actors) or 1

    def submit(
        self, weights: Weights, n: int, epsilon: float = 0.0, step: int = 0,
        temperature: float = 1.0,
    ) -> PendingSample:
        """Starts drawing `n` trajectories; the weights go to the object store once.

        The in-process sampler draws at once; actors draw while the caller goes on (e.g.
        the learner updates on the previous batch).
        """
        if n < 1:
            raise ValueError("n must be >= 1")
        state = cpu_state_dict(weights)
        if self.local is not None:
            seed = part_seed(self.seed, step, 0)
            return PendingSample(self, [self.local.sample(state, n, seed, epsilon, 0, temperature)])
        if not self.actors:
            raise RuntimeError("the pool is closed")
        ref = ray.put(state)
        parts = [actor.sample_packed.remote(ref, m, part_seed(self.seed, step, i), epsilon, i, temperature)
                 for i, (actor, m) in enumerate(zip(self.actors, split(n, self.size))) if m > 0]
        return PendingSample(self, parts)

    def sample(
        self, weights: Weights, n: int, epsilon: float = 0.0, step: int = 0,
        temperature: float = 1.0,
    ) -> Trajectories:
        """Draws `n` trajectories (concatenated in part order) and sets `last_placement`.

        Args:
            weights: the policy state dict (or the policy); moved to CPU and broadcast.
            n: trajectories in all.
            epsilon: weight of uniform exploration.
            step: the training step (or any call counter); part seeds derive from it.
            temperature: softmax temperature of the policy part.
        """
        return self.submit(weights, n, epsilon, step, temperature).result()

    def pids(self) -> list[int]:
        """Process ids of the samplers, in actor order."""
        if self.local is not None:
            return [self.local.pid()]
        return list(ray.get([a.pid.remote() for a in self.actors]))

    def close(self) -> None:
        """Kills the actors (their CPUs and GPUs return to the cluster)."""
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@functools.cache
def _remote(fn: Callable[..., Any]) -> Any:
    return ray.remote(num_cpus=1, max_retries=0)(fn)


def breed_on_ray(fn: Callable[..., list[str]], jobs: list[tuple[Any, ...]]) -> Callable[[], list[list[str]]] | None:
    """Starts `[fn(*job) for job in jobs]` as Ray tasks of one CPU each (`offspring.breed`) and
    returns a function that waits for their results, in order; None when Ray is not running (the
    caller breeds in its own process)."""
    if not ray.is_initialized():
        return None
    task = _remote(fn)
    refs = [task.remote(*job) for job in jobs]
    return lambda: ray.get(refs)
