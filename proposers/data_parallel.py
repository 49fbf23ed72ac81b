"""Data-parallel GFlowNet learner: one gradient step split over N Ray actors (torch.distributed).

Each rank (a Ray actor holding a `DistributedTrainer`) computes the objective on its share of
the batch; one all-reduce per step sums the gradients, each weighted by the rank's count of
what the loss averages over (`Objective.averages_over`: trajectories for TB and SubTB,
transitions for DB and soft-DQN), so the reduced gradient is the gradient of the whole batch's
loss, as one process would compute it; then every rank clips and steps its own Adam on the
same gradient and the replicas stay identical. TB's `reset_log_z` is set from an all-reduced
mean over the whole batch, never from a rank's share.

The process group is formed once (`DataParallelLearner.__init__`) and lives across calls
(rounds): gloo on CPU, NCCL when every rank holds its own CUDA device (one GPU per rank: NCCL
cannot place two ranks on one GPU, so fractional GPUs are refused). Rank 0 chooses a free port
on its host (127.0.0.1 with `loopback`, the default); parameters are broadcast from rank 0 at
every (re)formation; collectives time out after `timeout_s`, after which `rebuild` forms a new
group on the surviving ranks. Each rank's trainer lives on the rank's device (its GPU under
NCCL), the reduction buffers with it; trajectories are drawn on the CPU.

>>> with DataParallelLearner(env, CoreConfig(batch_size=64), DataParallelConfig(2)) as dp:
...     dp.train(log_reward_fn, steps=100)   # the reward is shipped to every rank (pickled)
...     dp.update([traj_a, traj_b], [log_r_a, log_r_b])  # or a step on given shares
...     state = dp.state_dict()              # rank 0's trainer state
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Self

import numpy as np
import ray
import torch
import torch.distributed as dist
from torch import nn

from .actors import pack, part_seed, split, unpack
from .env import DiscreteEnv
from .trainer import CoreConfig, GFlowNetTrainer, StateLogReward
from .trajectories import Trajectories


@dataclass(frozen=True)
class DataParallelConfig:
    """Where and how the ranks run.

    Attributes:
        num_ranks: Ray actors (ranks) sharing each step.
        num_cpus: CPUs each rank declares (fractional, so ranks never hold a node's CPUs).
        num_gpus: GPUs each rank declares: 0 (gloo, on CPU) or 1 (NCCL, one GPU per rank).
        num_threads: torch intra-op threads per rank.
        timeout_s: collective timeout: a dead rank blocks the others this long.
        loopback: rendezvous on 127.0.0.1 (all ranks on one node); else on rank 0's node IP.
    """

    num_ranks: int = 2
    num_cpus: float = 0.5
    num_gpus: float = 0.0
    num_threads: int = 1
    timeout_s: float = 30.0
    loopback: bool = True

    def __post_init__(self) -> None:
        if self.num_ranks < 1:
            raise ValueError("num_ranks must be >= 1")
        if self.num_gpus not in (0, 1):
            raise ValueError("num_gpus must be 0 (gloo) or 1 (NCCL): NCCL cannot place two "
                             "ranks on one GPU, and a rank uses one device")
        if self.timeout_s <= 0:
            raise ValueError("timeout_s must be positive")


class DistributedTrainer(GFlowNetTrainer):
    """A `GFlowNetTrainer` whose `update` is one rank's share of a data-parallel step.

    Needs a formed default process group (`torch.distributed`); `train` works as on one
    process, on this rank's share of the batch (`config.batch_size`), drawn with a generator
    seeded per rank, with collectives in lockstep across ranks (same `steps` everywhere).

    Args:
        env: the environment.
        config: hyper-parameters; `batch_size` is this rank's share.
        policy: the policy module (default: an `MLPPolicy` sized from `config`).
    """

    def reseed(self, seed: int, rank: int, world_size: int) -> None:
        """Seeds this rank's draws (on-policy, offline, replay) apart from the other ranks'."""
        self.generator.manual_seed(part_seed(seed, world_size, rank))

    def update(self, traj: Trajectories, log_reward: torch.Tensor,
               reset_log_z: bool = False) -> float:
        """This rank's part of one step; returns the loss of the whole batch (all ranks)."""
        loss = self.backward(traj, log_reward, reset_log_z, self.global_mean)
        weight = len(traj) if self.objective.averages_over == "trajectories" \
            else int(traj.lengths.sum())
        params = self.trained_parameters()
        grads = [p.grad.flatten() * weight if p.grad is not None else p.new_zeros(p.numel())
                 for p in params]
        flags = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=self.device)
        tail = torch.tensor([float(loss) * weight, weight, len(traj)], dtype=torch.float32, device=self.device)
        flat = self._all_reduce(torch.cat([*grads, flags, tail]))
        total = float(flat[-2])
        offset = 0
        for p, has_grad in zip(params, flat[-3 - len(params):-3].tolist()):
            chunk = flat[offset: offset + p.numel()]
            offset += p.numel()
            p.grad = (chunk / total).view_as(p).to(p.dtype) if has_grad else None
        self.apply_gradients()
        self.trajectories_seen += int(flat[-1])
        return float(flat[-3]) / total

    def trained_parameters(self) -> list[nn.Parameter]:
        """Every parameter the optimiser steps, in a fixed order (policy, then `log Z`)."""
        return [p for group in self.optimizer.param_groups for p in group["params"]]

    def global_mean(self, x: torch.Tensor) -> float:
        """The mean of a per-trajectory tensor over every rank's share."""
        out = self._all_reduce(torch.stack([x.detach().sum().float().to(self.device),
                                            torch.tensor(float(len(x)), device=self.device)]))
        return float(out[0] / out[1])

    def broadcast_state(self) -> None:
        """Every rank takes rank 0's policy, `log Z`, target and prior (identical replicas)."""
        tensors = [*self.policy.state_dict().values(), self.log_z.data]
        for extra in (self.target, self.prior):
            if extra is not None:
                tensors += list(extra.state_dict().values())
        for t in tensors:
            buf = t.detach().to(self.device)
            dist.broadcast(buf, src=0)
            with torch.no_grad():
                t.copy_(buf)

    def _all_reduce(self, x: torch.Tensor) -> torch.Tensor:
        buf = x.to(self.device)
        dist.all_reduce(buf, op=dist.ReduceOp.SUM)
        return buf


class RankActor:
    """One rank: a `DistributedTrainer` in its own process (made a Ray actor at the edge).

    Args:
        env: the environment (pickled to the actor).
        config: hyper-parameters of the whole batch (`batch_size` is split over the ranks).
        make_policy: builds the policy module (None: an `MLPPolicy` from `config`).
        num_threads: torch intra-op threads.
    """

    def __init__(self, env: DiscreteEnv, config: CoreConfig,
                 make_policy: Callable[[], nn.Module] | None, num_threads: int) -> None:
        torch.set_num_threads(num_threads)
        ctx = ray.get_runtime_context() if ray.is_initialized() else None
        self.node_id = ctx.get_node_id() if ctx is not None else "local"
        self.gpu_ids = tuple(str(g) for g in ray.get_gpu_ids()) if ctx is not None else ()
        cuda = bool(self.gpu_ids) and torch.cuda.is_available()
        self.device = torch.device("cuda", 0) if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(self.device)
        policy = make_policy() if make_policy is not None else None
        self.config = config = dataclasses.replace(config, device=str(self.device))
        self.trainer = DistributedTrainer(env, config, policy)

    def where(self) -> tuple[str, tuple[str, ...], int]:
        """Node id, GPU ids Ray assigned, process id."""
        return self.node_id, self.gpu_ids, os.getpid()

    def rendezvous(self, loopback: bool) -> tuple[str, int]:
        """An address and a free port on this host for the group's TCP store (rank 0)."""
        host = "127.0.0.1" if loopback else ray.util.get_node_ip_address()
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((host, 0))
            return host, int(s.getsockname()[1])

    def join(self, host: str, port: int, rank: int, world_size: int, timeout_s: float) -> str:
        """Forms the group (blocks until every rank joins), takes rank 0's state; the backend."""
        if self.device.type == "cpu" and host == "127.0.0.1":
            os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")  # this process only
        backend = "nccl" if self.device.type == "cuda" else "gloo"
        dist.init_process_group(backend, init_method=f"tcp://{host}:{port}", rank=rank,
                                world_size=world_size, timeout=timedelta(seconds=timeout_s))
        share = split(self.config.batch_size, world_size)[rank]
        self.trainer.config = dataclasses.replace(self.config, batch_size=share)
        self.trainer.reseed(self.config.seed, rank, world_size)
        self.trainer.broadcast_state()
        return backend

    def leave(self) -> None:
        """Destroys the group (before a rebuild or when the learner closes)."""
        if dist.is_initialized():
            dist.destroy_process_group()

    def update(self, packed: tuple[np.ndarray, ...], log_reward: torch.Tensor,
               reset_log_z: bool) -> float:
        """`DistributedTrainer.update` on this rank's share (packed trajectories)."""
        return self.trainer.update(unpack(packed), log_reward, reset_log_z)

    def train(self, log_reward_fn: StateLogReward, steps: int,
              offline: torch.Tensor | None) -> dict[str, float]:
        """`GFlowNetTrainer.train` on this rank's share, the reward evaluated here."""
        return self.trainer.train(log_reward_fn, steps, offline=offline)

    def gradients(self) -> list[torch.Tensor | None]:
        """The gradients of the last step (reduced and clipped), in `trained_parameters` order."""
        return [None if p.grad is None else p.grad.detach().cpu().clone()
                for p in self.trainer.trained_parameters()]

    def state_dict(self) -> dict[str, Any]:
        return self.trainer.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.trainer.load_state_dict(state)


class DataParallelLearner:
    """`config.num_ranks` Ray actors taking each GFlowNet gradient step together.

    Args:
        env: the environment (pickled to each rank).
        core: hyper-parameters; `batch_size` is the whole batch, split over the ranks.
        config: ranks, resources, timeout, rendezvous.
        make_policy: builds the policy module on each rank (None: an `MLPPolicy`).

    Raises:
        RuntimeError: Ray is not initialised (the caller owns it), or two NCCL ranks got the
            same GPU.
    """

    def __init__(self, env: DiscreteEnv, core: CoreConfig,
                 config: DataParallelConfig | None = None,
                 make_policy: Callable[[], nn.Module] | None = None) -> None:
        if not ray.is_initialized():
            raise RuntimeError("Ray is not initialised: call ray.init() first")
        self.config = cfg = config or DataParallelConfig()
        remote_cls = ray.remote(num_cpus=cfg.num_cpus, num_gpus=cfg.num_gpus,
                                max_restarts=0, max_task_retries=0)(RankActor)
        self.ranks: list[Any] = [remote_cls.remote(env, core, make_policy, cfg.num_threads)
                                 for _ in range(cfg.num_ranks)]
        self.backend = ""
        try:
            self._form()
        except BaseException:
            self.close()
            raise

    @property
    def size(self) -> int:
        """Ranks in the current group."""
        return len(self.ranks)

    def _form(self) -> None:
        where = ray.get([r.where.remote() for r in self.ranks])
        gpus = [(node, g) for node, ids, _ in where for g in ids]
        if len(set(gpus)) < len(gpus):
            raise RuntimeError(f"two ranks share a GPU ({gpus}): NCCL cannot place them")
        host, port = ray.get(self.ranks[0].rendezvous.remote(self.config.loopback))
        world = len(self.ranks)
        backends = ray.get([r.join.remote(host, port, i, world, self.config.timeout_s)
                            for i, r in enumerate(self.ranks)])
        self.backend = backends[0]

    def update(self, parts: Sequence[Trajectories], log_rewards: Sequence[torch.Tensor],
               reset_log_z: bool = False) -> float:
        """One step on given shares (part `i` on rank `i`); returns the whole batch's loss.

        `log_rewards[i]` is the reward's part of the target of `parts[i]` (as in
        `GFlowNetTrainer.update`).
        """
        if len(parts) != self.size or len(log_rewards) != self.size:
            raise ValueError(f"need one part and one log-reward per rank ({self.size})")
        refs = [r.update.remote(pack(t), lr.detach().cpu(), reset_log_z)
                for r, t, lr in zip(self.ranks, parts, log_rewards)]
        return float(ray.get(refs)[0])

    def train(self, log_reward_fn: StateLogReward, steps: int,
              offline: torch.Tensor | None = None) -> dict[str, float]:
        """`GFlowNetTrainer.train` data-parallel: each rank draws and scores its share.

        The reward goes to every rank once per call (it must pickle: ship a config that
        rebuilds rdkit generators, not the generators). Returns rank 0's metrics; `loss`,
        `log_z` and `steps` are the whole batch's, the reward statistics rank 0's share's.
        """
        reward = ray.put(log_reward_fn)
        return ray.get([r.train.remote(reward, steps, offline) for r in self.ranks])[0]

    def gradients(self) -> list[list[torch.Tensor | None]]:
        """Per rank, the gradients of its last step (equal on every rank)."""
        return ray.get([r.gradients.remote() for r in self.ranks])

    def state_dicts(self) -> list[dict[str, Any]]:
        """Every rank's trainer state (equal on every rank)."""
        return ray.get([r.state_dict.remote() for r in self.ranks])

    def state_dict(self) -> dict[str, Any]:
        """Rank 0's trainer state (a `GFlowNetTrainer.state_dict`)."""
        return ray.get(self.ranks[0].state_dict.remote())

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Loads a `GFlowNetTrainer.state_dict` on every rank."""
        ref = ray.put(state)
        ray.get([r.load_state_dict.remote(ref) for r in self.ranks])

    def rebuild(self) -> int:
        """Forms a new group on the ranks still alive (after a rank died); returns its size.

        Call it once a step failed: the survivors' collectives return after `timeout_s`.
        The batch is then split over the survivors, rank 0's state broadcast to them.
        """
        alive = []
        for r in self.ranks:
            try:
                ray.get(r.where.remote(), timeout=self.config.timeout_s + 30)
                alive.append(r)
            except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                ray.kill(r, no_restart=True)
        if not alive:
            raise RuntimeError("no rank survived")
        ray.get([r.leave.remote() for r in alive])
        self.ranks = alive
        self._form()
        return self.size

    def close(self) -> None:
        """Kills the ranks (their CPUs and GPUs return to the cluster)."""
        for r in self.ranks:
            ray.kill(r, no_restart=True)
        self.ranks = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
