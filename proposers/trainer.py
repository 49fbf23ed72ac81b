"""The GFlowNet core trainer: any `DiscreteEnv`, any objective, reward passed per call.

A log-reward function maps a batch of terminal states to log-rewards; it is an argument of
`train`, never stored. Besides on-policy batches the trainer supports offline trajectories
of labelled designs mixed into each batch (as GFlowNet-AL does), a replay buffer,
maximum-likelihood pretraining and a frozen prior (`prior_weight`). Trajectories are drawn
through `self.sampler` (in-process by default; a Ray sampler pool can replace it).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .devices import on_device, resolve_device, to_cpu
from .env import DiscreteEnv
from .mlp_policy import MLPPolicy
from .objective import make_objective
from .replay import ReplayBuffer, concat_trajectories
from .trajectories import Trajectories, from_terminal, sample_trajectories, score

StateLogReward = Callable[[torch.Tensor], torch.Tensor]
"""Maps `n x state_dim` terminal states to `n` log-rewards."""

BatchMean = Callable[[torch.Tensor], float]
"""The mean of a per-trajectory tensor over the whole batch."""

Sampler = Callable[[int, float], Trajectories]
"""Draws `n` trajectories from the current policy with `epsilon` uniform exploration."""


@dataclass
class CoreConfig:
    """Hyper-parameters of `GFlowNetTrainer`.

    Attributes:
        objective: "tb", "db", "subtb" or "soft_dqn" (Munchausen when `munchausen_alpha > 0`).
        batch_size: trajectories per step.
        lr: Adam learning rate of the networks.
        lr_log_z: Adam learning rate of `log Z` (TB).
        epsilon: weight of uniform exploration mixed into the sampling policy.
        replay_fraction: share of each batch replayed from a buffer of the best distinct
            terminal states seen in the current `train` call (0: on-policy only).
        replay_capacity: trajectories kept by that buffer.
        offline_fraction: share of each batch made of offline trajectories, walked back
            from the terminal states passed as `train(..., offline=...)` (labelled designs).
        prior_weight: weight `w` of a frozen prior (the policy as `pretrain` leaves it):
            with `w > 0` every objective targets `R(x)^(1/T) p_prior(x)^w`, i.e. its terminal
            log-reward becomes `log R(x) / T + w log p_prior(x)` (relative TB for TB). Needs a
            tree environment, where `log p_prior(x)` is the trajectory's `sum log P_F`.
        reset_log_z: at the first step of every `train` call, set TB's `log Z` to its
            minimiser on that batch, `mean(log R + log P_B - log P_F)`: the reward changes
            between calls and Adam moves `log Z` by about `lr_log_z` per step.
        reward_temperature: the policy targets `R(x)^(1/T)` (`log R / T`).
        learn_pb: learn P_B (else uniform over parents; ignored by soft-DQN).
        hidden: MLP width.
        layers: MLP hidden layers.
        subtb_lambda: geometric weight of sub-trajectory balance.
        munchausen_alpha: Munchausen weight (soft-DQN); the temperature is `1 / (1 - alpha)`.
        target_update: Polyak rate of the soft-DQN target network (1: no target network).
        lr_decay: multiplies every learning rate after each step (1: constant).
        grad_clip: max gradient norm.
        seed: seed of the initialisation and of every draw.
        device: where the networks, `log Z` and the losses live ("auto": a visible CUDA device,
            else the CPU; see `devices.resolve_device`). Trajectories are drawn on the CPU.
    """

    objective: str = "tb"
    batch_size: int = 64
    lr: float = 1e-3
    lr_log_z: float = 1e-1
    epsilon: float = 0.0
    replay_fraction: float = 0.0
    replay_capacity: int = 1000
    offline_fraction: float = 0.0
    prior_weight: float = 0.0
    reset_log_z: bool = False
    reward_temperature: float = 1.0
    learn_pb: bool = False
    hidden: int = 256
    layers: int = 2
    subtb_lambda: float = 0.9
    munchausen_alpha: float = 0.0
    target_update: float = 1.0
    lr_decay: float = 1.0
    grad_clip: float = 10.0
    seed: int = 0
    device: str = "auto"


class GFlowNetTrainer:
    """Trains a policy (default `MLPPolicy`) on `env` with the configured objective.

    Args:
        env: the environment.
        config: hyper-parameters.
        policy: the policy module (default: an `MLPPolicy` sized from `config`); any module
            returning a `PolicyOutput`, e.g. `SequencePolicy` on sequence environments.

    Attributes:
        sampler: where `train` draws its on-policy trajectories; replace it to sample
            elsewhere (e.g. on Ray actors) with the same signature.
        prior: the frozen prior policy (set by `pretrain` when `prior_weight > 0`).
        last_online: the on-policy part of the last training batch.

    >>> env = HypergridEnv(2, 8)
    >>> gfn = GFlowNetTrainer(env, CoreConfig(objective="db"))
    >>> gfn.train(HypergridReward(8), steps=1000)
    >>> x = gfn.sample(100)  # terminal states, `100 x 2`
    """

    def __init__(self, env: DiscreteEnv, config: CoreConfig | None = None,
                 policy: torch.nn.Module | None = None) -> None:
        self.env = env
        self.config = cfg = config or CoreConfig()
        self.objective = make_objective(cfg.objective, cfg.subtb_lambda, cfg.munchausen_alpha)
        if self.objective.uses_target and cfg.learn_pb:
            raise ValueError("soft-DQN needs a fixed P_B (learn_pb=False)")
        if cfg.prior_weight > 0 and not env.is_tree:
            raise ValueError("prior_weight needs a tree environment (exact log p_prior(x))")
        torch.manual_seed(cfg.seed)
        self.device = resolve_device(cfg.device)
        self.policy = (policy if policy is not None else MLPPolicy(
            env.input_dim, env.n_actions, cfg.hidden, cfg.layers, cfg.learn_pb)).to(self.device)
        self.log_z = torch.nn.Parameter(torch.zeros((), device=self.device))
        groups = [{"params": list(self.policy.parameters()), "lr": cfg.lr}]
        if self.objective.uses_log_z:
            groups.append({"params": [self.log_z], "lr": cfg.lr_log_z})
        self.optimizer = torch.optim.Adam(groups)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, cfg.lr_decay)
        self.target = _frozen(self.policy) \
            if self.objective.uses_target and cfg.target_update < 1 else None
        self.prior: torch.nn.Module | None = None
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.sampler: Sampler = self.sample_trajectories
        self.trajectories_seen = 0
        self.last_online: Trajectories | None = None

    def train(
        self,
        log_reward_fn: StateLogReward,
        steps: int,
        progress: Callable[[int, dict[str, float]], None] | None = None,
        offline: torch.Tensor | None = None,
    ) -> dict[str, float]:
        """Runs `steps` steps on batches of sampled, offline and replayed trajectories.

        Each step draws the on-policy part through `self.sampler` (with `epsilon`
        exploration), adds `offline_fraction` of the batch walked back from `offline`
        terminal states, calls `log_reward_fn` once on those, then adds `replay_fraction`
        from the buffer (rewards kept from this call) and takes one Adam step.

        Args:
            log_reward_fn: terminal states -> log-rewards (the reward of this call).
            steps: training steps.
            progress: called as `progress(step, metrics)` after every step (1-based).
            offline: `k x state_dim` terminal states of known designs (labelled data).

        Returns:
            Metrics of the last step: `loss`, `log_z`, `mean_log_reward` and
            `max_log_reward` (on-policy samples, before the temperature), `num_offline`,
            `num_replay`, `steps`, `cuda` (1: the learner is on a CUDA device); `{}` if `steps <= 0`.
        """
        cfg = self.config
        n_off = round(cfg.batch_size * cfg.offline_fraction) \
            if offline is not None and len(offline) else 0
        n_replay = round(cfg.batch_size * cfg.replay_fraction)
        n_online = max(1, cfg.batch_size - n_off - n_replay)
        buffer = ReplayBuffer(cfg.replay_capacity) if n_replay else None
        metrics: dict[str, float] = {}
        for step in range(1, steps + 1):
            traj = self.sampler(n_online, cfg.epsilon)
            self.last_online = traj
            if n_off:
                idx = torch.randint(len(offline), (n_off,), generator=self.generator)
                traj = concat_trajectories(traj, from_terminal(self.env, offline[idx],
                                                               self.generator))
            raw = log_reward_fn(traj.terminal).detach().float().flatten().cpu()
            if raw.shape[0] != len(traj):
                raise ValueError(f"log_reward_fn gave {raw.shape[0]} values for {len(traj)}")
            log_r = raw / cfg.reward_temperature
            if buffer is not None:
                if len(buffer):
                    old, old_r = buffer.sample(n_replay, self.generator)
                    buffer.add(traj, log_r)
                    traj, log_r = concat_trajectories(traj, old), torch.cat([log_r, old_r])
                else:
                    buffer.add(traj, log_r)
            loss = self.update(traj, log_r, reset_log_z=cfg.reset_log_z and step == 1)
            metrics = {"loss": loss, "log_z": self.log_partition(),
                       "mean_log_reward": float(raw[:n_online].mean()),
                       "max_log_reward": float(raw[:n_online].max()),
                       "num_offline": float(n_off), "num_replay": float(len(traj) - n_online
                                                                        - n_off),
                       "steps": float(step), "cuda": float(self.device.type == "cuda")}
            if progress is not None:
                progress(step, metrics)
        return metrics

    def update(self, traj: Trajectories, log_reward: torch.Tensor,
               reset_log_z: bool = False) -> float:
        """One Adam step of the objective on a batch (on- or off-policy); returns the loss.

        `log_reward` is the reward's part of the target; the prior's part, if any, is added
        here. `backward` then `apply_gradients`: a data-parallel learner
        (`data_parallel.DistributedTrainer`) reduces the gradients between the two. The batch
        may be on the CPU: it is moved to `self.device`.
        """
        loss = self.backward(traj, log_reward, reset_log_z)
        self.apply_gradients()
        self.trajectories_seen += len(traj)
        return float(loss)

    def backward(self, traj: Trajectories, log_reward: torch.Tensor, reset_log_z: bool = False,
                 batch_mean: BatchMean = lambda x: float(x.mean())) -> torch.Tensor:
        """Zeroes the gradients and back-propagates the objective on a batch.

        Args:
            traj: the batch.
            log_reward: `n` log-rewards (the reward's part; the prior's is added here).
            reset_log_z: first set TB's `log Z` to its minimiser on the batch.
            batch_mean: the mean of a per-trajectory `n` tensor over the whole batch (a
                data-parallel rank holds a share of it and passes an all-reduced mean).

        Returns:
            The loss on `traj` (detached scalar).
        """
        traj, log_reward = traj.to(self.device), log_reward.to(self.device)
        log_reward = log_reward + self.prior_log_prob(traj)
        scored = score(self.env, self.policy, traj, log_reward)
        if reset_log_z and self.objective.uses_log_z:
            with torch.no_grad():
                gap = log_reward - scored.log_pf.sum(0) + scored.log_pb.sum(0)
                self.log_z.fill_(batch_mean(gap))
        target = None
        if self.target is not None:
            with torch.no_grad():
                target = score(self.env, self.target, traj, log_reward)
        loss = self.objective.loss(scored, log_reward, self.log_z, target)
        self.optimizer.zero_grad()
        loss.backward()
        return loss.detach()

    def apply_gradients(self) -> None:
        """Clips the gradients, steps Adam and the learning-rate schedule, moves the target."""
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        if self.target is not None:
            rate = self.config.target_update
            with torch.no_grad():
                for p_bar, p in zip(self.target.parameters(), self.policy.parameters()):
                    p_bar.lerp_(p, rate)

    @torch.no_grad()
    def prior_log_prob(self, traj: Trajectories) -> torch.Tensor:
        """`w log p_prior(x)` per trajectory (zeros without a prior): `n` tensor on the learner's device."""
        traj = traj.to(self.device)
        zeros = torch.zeros(len(traj), device=self.device)
        if self.prior is None or self.config.prior_weight == 0:
            return zeros
        return self.config.prior_weight * score(self.env, self.prior, traj, zeros).log_pf.sum(0)

    def pretrain(self, designs: torch.Tensor, steps: int, batch_size: int | None = None) -> float:
        """Maximum likelihood on terminal states `designs` (`k x state_dim`), then the prior.

        Minimises `-(sum log P_F(tau) - sum log P_B(tau | x))` over trajectories walked back
        from the designs: the exact negative log-likelihood on a tree, a bound on a DAG. Uses
        its own Adam (the training optimiser's state is untouched). With `prior_weight > 0`
        the policy is then frozen into `self.prior`.

        Returns:
            The loss of the last step (nats per design; nan if `steps == 0`).
        """
        if len(designs) == 0:
            raise ValueError("pretrain needs at least one design")
        batch_size = batch_size or self.config.batch_size
        optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.config.lr)
        zeros = torch.zeros(batch_size, device=self.device)
        nll = float("nan")
        for _ in range(steps):
            idx = torch.randint(len(designs), (batch_size,), generator=self.generator)
            walked = from_terminal(self.env, designs[idx], self.generator).to(self.device)
            s = score(self.env, self.policy, walked, zeros)
            loss = -(s.log_pf.sum(0) - s.log_pb.sum(0)).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.config.grad_clip)
            optimizer.step()
            nll = float(loss.detach())
        self.freeze_prior()
        return nll

    def freeze_prior(self) -> None:
        """With `prior_weight > 0`, a frozen copy of the policy as it is now becomes the prior."""
        if self.config.prior_weight > 0:
            self.prior = _frozen(self.policy)

    def sample_trajectories(self, n: int, epsilon: float = 0.0) -> Trajectories:
        """`n` trajectories from the policy mixed with `epsilon` uniform exploration (on the CPU)."""
        return sample_trajectories(self.env, self.runner, n, self.generator, epsilon)

    @property
    def runner(self) -> torch.nn.Module:
        """The policy as a CPU sampler drives it: CPU states in, CPU outputs back."""
        return on_device(self.policy, self.device)

    def sample(self, n: int) -> torch.Tensor:
        """`n` terminal states from the trained policy: `n x state_dim`."""
        return self.sampler(n, 0.0).terminal

    @torch.no_grad()
    def log_partition(self) -> float:
        """The objective's estimate of `log Z` (TB: the parameter; DB/SubTB: `log F(s_0)`)."""
        s0 = self.env.initial(1)
        out = self.policy(self.env.encode(s0).to(self.device))
        logits0 = out.logits.masked_fill(~self.env.forward_mask(s0).to(self.device), float("-inf"))
        return float(self.objective.log_partition(logits0[0], out.log_flow[0], self.log_z))

    def state_dict(self) -> dict[str, Any]:
        """Policy, `log Z`, optimiser, target, prior and RNG state (CPU tensors, copies)."""
        return {
            "policy": _cpu(self.policy), "log_z": self.log_z.detach().cpu().clone(),
            "optimizer": to_cpu(copy.deepcopy(self.optimizer.state_dict())),
            "scheduler": self.scheduler.state_dict(),
            "target": None if self.target is None else _cpu(self.target),
            "prior": None if self.prior is None else _cpu(self.prior),
            "generator": self.generator.get_state(),
            "trajectories_seen": self.trajectories_seen,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a state from `state_dict` (same environment and config)."""
        self.policy.load_state_dict(state["policy"])
        with torch.no_grad():
            self.log_z.copy_(state["log_z"])
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.scheduler.load_state_dict(state["scheduler"])
        if self.target is not None and state["target"] is not None:
            self.target.load_state_dict(state["target"])
        self.prior = None
        if state["prior"] is not None:
            self.prior = _frozen(self.policy)
            self.prior.load_state_dict(state["prior"])
        self.generator.set_state(state["generator"])
        self.trajectories_seen = state["trajectories_seen"]


def _frozen(policy: torch.nn.Module) -> torch.nn.Module:
    """A copy of `policy` that takes no gradients."""
    return copy.deepcopy(policy).requires_grad_(False)


def _cpu(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}
