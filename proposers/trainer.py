"""The GFlowNet core trainer: any `DiscreteEnv`, any objective, reward passed per call.

The learner and the sampler share one process here (the SELFIES proposer adds Ray
actors on top). A log-reward function maps a batch of terminal states to log-rewards;
it is an argument of `train`, never stored.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .env import DiscreteEnv
from .mlp_policy import MLPPolicy
from .objective import make_objective
from .replay import ReplayBuffer, concat_trajectories
from .trajectories import Trajectories, sample_trajectories, score

StateLogReward = Callable[[torch.Tensor], torch.Tensor]
"""Maps `n x state_dim` terminal states to `n` log-rewards."""


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
    """

    objective: str = "tb"
    batch_size: int = 64
    lr: float = 1e-3
    lr_log_z: float = 1e-1
    epsilon: float = 0.0
    replay_fraction: float = 0.0
    replay_capacity: int = 1000
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


class GFlowNetTrainer:
    """Trains an `MLPPolicy` on `env` with the configured objective.

    >>> env = HypergridEnv(2, 8)
    >>> gfn = GFlowNetTrainer(env, CoreConfig(objective="db"))
    >>> gfn.train(HypergridReward(8), steps=1000)
    >>> x = gfn.sample(100)  # terminal states, `100 x 2`
    """

    def __init__(self, env: DiscreteEnv, config: CoreConfig | None = None) -> None:
        self.env = env
        self.config = cfg = config or CoreConfig()
        self.objective = make_objective(cfg.objective, cfg.subtb_lambda, cfg.munchausen_alpha)
        if self.objective.uses_target and cfg.learn_pb:
            raise ValueError("soft-DQN needs a fixed P_B (learn_pb=False)")
        torch.manual_seed(cfg.seed)
        self.policy = MLPPolicy(env.input_dim, env.n_actions, cfg.hidden, cfg.layers, cfg.learn_pb)
        self.log_z = torch.nn.Parameter(torch.zeros(()))
        groups = [{"params": list(self.policy.parameters()), "lr": cfg.lr}]
        if self.objective.uses_log_z:
            groups.append({"params": [self.log_z], "lr": cfg.lr_log_z})
        self.optimizer = torch.optim.Adam(groups)
        self.scheduler = torch.optim.lr_scheduler.ExponentialLR(self.optimizer, cfg.lr_decay)
        self.target = copy.deepcopy(self.policy).requires_grad_(False) \
            if self.objective.uses_target and cfg.target_update < 1 else None
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.trajectories_seen = 0

    def train(
        self,
        log_reward_fn: StateLogReward,
        steps: int,
        progress: Callable[[int, dict[str, float]], None] | None = None,
    ) -> dict[str, float]:
        """Runs `steps` steps: sampled trajectories (with `epsilon` exploration) plus replay.

        Returns:
            Metrics of the last step: `loss`, `log_z`, `mean_log_reward` (online samples).
        """
        cfg = self.config
        n_replay = min(cfg.batch_size - 1, round(cfg.batch_size * cfg.replay_fraction))
        buffer = ReplayBuffer(cfg.replay_capacity) if n_replay else None
        metrics: dict[str, float] = {}
        for step in range(1, steps + 1):
            traj = self.sample_trajectories(cfg.batch_size - n_replay, cfg.epsilon)
            log_r = log_reward_fn(traj.terminal).float() / cfg.reward_temperature
            mean_log_r = float(log_r.mean())
            if buffer is not None:
                if len(buffer):
                    old, old_r = buffer.sample(n_replay, self.generator)
                    buffer.add(traj, log_r)
                    traj, log_r = concat_trajectories(traj, old), torch.cat([log_r, old_r])
                else:
                    buffer.add(traj, log_r)
            loss = self.update(traj, log_r)
            metrics = {"loss": loss, "log_z": self.log_partition(),
                       "mean_log_reward": mean_log_r}
            if progress is not None:
                progress(step, metrics)
        return metrics

    def update(self, traj: Trajectories, log_reward: torch.Tensor) -> float:
        """One Adam step of the objective on a batch (on- or off-policy); returns the loss."""
        scored = score(self.env, self.policy, traj, log_reward)
        target = None
        if self.target is not None:
            with torch.no_grad():
                target = score(self.env, self.target, traj, log_reward)
        loss = self.objective.loss(scored, log_reward, self.log_z, target)
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.scheduler.step()
        if self.target is not None:
            rate = self.config.target_update
            with torch.no_grad():
                for p_bar, p in zip(self.target.parameters(), self.policy.parameters()):
                    p_bar.lerp_(p, rate)
        self.trajectories_seen += len(traj)
        return float(loss.detach())

    def sample_trajectories(self, n: int, epsilon: float = 0.0) -> Trajectories:
        """`n` trajectories from the policy mixed with `epsilon` uniform exploration."""
        return sample_trajectories(self.env, self.policy, n, self.generator, epsilon)

    def sample(self, n: int) -> torch.Tensor:
        """`n` terminal states from the trained policy: `n x state_dim`."""
        return self.sample_trajectories(n).terminal

    @torch.no_grad()
    def log_partition(self) -> float:
        """The objective's estimate of `log Z` (TB: the parameter; DB/SubTB: `log F(s_0)`)."""
        s0 = self.env.initial(1)
        out = self.policy(self.env.encode(s0))
        logits0 = out.logits.masked_fill(~self.env.forward_mask(s0), float("-inf"))
        return float(self.objective.log_partition(logits0[0], out.log_flow[0], self.log_z))
