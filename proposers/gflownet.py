"""The campaign's GFlowNet proposer: the GFlowNet core on token sequences, behind `Proposer`.

A thin layer over `trainer.GFlowNetTrainer` with a `SelfiesEnv` (molecules) or a `SequenceEnv`
(any alphabet) and a GRU `SequencePolicy`: it turns designs into states and back, clamps the
campaign's log-rewards, and draws every trajectory through one seam, `_sample_trajectories`
(in-process, or a Ray sampler pool).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .base import LogRewardFn, ProgressFn
from .policy import SequencePolicy
from .sequence_env import SequenceEnv
from .trainer import CoreConfig, GFlowNetTrainer
from .trajectories import Trajectories, sample_trajectories


@dataclass
class GFlowNetConfig:
    """Hyper-parameters of `GFlowNetProposer`.

    Attributes:
        steps: suggested training steps per round (the caller passes it to `train`).
        batch_size: trajectories per training step (on-policy + offline).
        objective: a registered objective (`proposers.objective.OBJECTIVES`: tb, db, subtb,
            soft_dqn, mdqn) or a `module:Class` path.
        subtb_lambda: geometric weight of sub-trajectory balance (`subtb`).
        munchausen_alpha: Munchausen weight (`soft_dqn`; `mdqn` takes 0.15 when 0).
        lr: Adam learning rate of the policy (also used by `pretrain`).
        lr_log_z: Adam learning rate of `log_z` (TB).
        epsilon: weight of uniform exploration mixed into the sampling policy.
        replay_fraction: share of each batch made of `offline` designs, if given.
        max_len: maximum SELFIES tokens per molecule (used by `from_corpus`).
        hidden: GRU width.
        num_layers: GRU layers.
        num_actors: Ray sampler actors (0: in-process), alive inside `samplers()`.
        actor_num_cpus: CPUs each actor declares (fractional, so actors never block a node).
        actor_num_gpus: GPUs each actor declares (fractional: actors share a GPU).
        actor_resources: custom Ray resources each actor declares.
        pretrain_steps: default number of maximum-likelihood steps for `pretrain()`.
        sample_temperature: softmax temperature used by `sample` (1 = the trained policy).
        log_reward_min: log-rewards are clamped below at this value (no -inf in the loss).
        grad_clip: max gradient norm of the policy.
        reset_log_z: at the first step of every `train` call, set `log_z` to its TB
            minimiser on that batch (the reward changes every round).
        prior_weight: weight w of the pretrained policy as a prior: with w > 0, `pretrain`
            freezes a copy of the policy, p_prior, and training targets
            p(x) proportional to p_prior(x)^w R(x) (relative trajectory balance for TB).
            Without it, a nearly flat reward over ~60^40 sequences makes the exact optimum
            close to uniform random token strings.
        learner_threads: torch threads during `pretrain`/`train`/`sample` (restored after);
            1 avoids oversubscribing small machines where actors share the cores. 0 keeps
            the process setting.
        seed: seed of every random draw (samplers get seeds derived from it).
        device: where the learner's networks and losses live ("auto": a visible CUDA device,
            else the CPU; `devices.resolve_device`); trajectories are drawn on the CPU.
    """

    steps: int = 200
    batch_size: int = 64
    objective: str = "tb"
    subtb_lambda: float = 0.9
    munchausen_alpha: float = 0.0
    lr: float = 1e-3
    lr_log_z: float = 1e-1
    epsilon: float = 0.05
    replay_fraction: float = 0.25
    max_len: int = 40
    hidden: int = 256
    num_layers: int = 2
    num_actors: int = 2
    actor_num_cpus: float = 0.5
    actor_num_gpus: float = 0.0
    actor_resources: dict[str, float] = field(default_factory=dict)
    pretrain_steps: int = 0
    sample_temperature: float = 1.0
    log_reward_min: float = -100.0
    grad_clip: float = 10.0
    reset_log_z: bool = True
    learner_threads: int = 1
    prior_weight: float = 0.0
    seed: int = 0
    device: str = "auto"

    def core(self) -> CoreConfig:
        """The core trainer's configuration."""
        return CoreConfig(
            objective=self.objective, subtb_lambda=self.subtb_lambda,
            munchausen_alpha=self.munchausen_alpha, batch_size=self.batch_size, lr=self.lr,
            lr_log_z=self.lr_log_z, epsilon=self.epsilon, offline_fraction=self.replay_fraction,
            prior_weight=self.prior_weight, reset_log_z=self.reset_log_z,
            grad_clip=self.grad_clip, seed=self.seed, device=self.device)


class GFlowNetProposer:
    """GFlowNet over token sequences (the core trainer, a GRU policy): SELFIES molecules
    (`SelfiesEnv`, designs are SMILES) or any alphabet (`SequenceEnv`, designs are the sequences).

    Implements the `Proposer` protocol. With TB the loss per batch is
    `mean((log_z + sum_t log P_F(tau) - log R(x) - w log p_prior(x))^2)`; P_B = 1 because
    the sequence MDP is a tree.

    Args:
        env: the environment: `SelfiesEnv` or a `SequenceEnv` (its `max_len` wins over `config.max_len`).
        config: hyper-parameters.
        corpus: SMILES for the optional maximum-likelihood warm start (`pretrain`).

    Attributes:
        trainer: the core trainer (policy, `log_z`, optimiser, prior).
        last_samples: SMILES of the last on-policy batch (train) or of the last `sample`.
        last_metrics: metrics of the last `train` call.

    >>> proposer = GFlowNetProposer.from_corpus(smiles, GFlowNetConfig(num_actors=0))
    >>> proposer.pretrain(200)  # optional
    >>> proposer.train(log_reward_fn, steps=100, offline=top_designs)
    >>> designs = proposer.sample(256)
    """

    def __init__(
        self, env: SequenceEnv, config: GFlowNetConfig | None = None, corpus: Sequence[str] = ()
    ) -> None:
        self.env = env
        self.config = config = config or GFlowNetConfig()
        self.corpus = list(corpus)
        torch.manual_seed(config.seed)  # parameter init only
        policy = SequencePolicy.for_env(env, config.hidden, config.num_layers)
        self.trainer = GFlowNetTrainer(env, config.core(), policy)
        self.trainer.sampler = self._sample_trajectories
        self.draws = 0  # batches drawn so far: part of every sampler seed
        self.placements: list[dict[str, Any]] = []  # where the draws of the open pool ran
        self._pool: Any = None
        self.last_samples: list[str] = []
        self.last_metrics: dict[str, float] = {}
        self._corpus_states: torch.Tensor | None = None

    @classmethod
    def from_corpus(
        cls, corpus: Sequence[str], config: GFlowNetConfig | None = None, min_count: int = 1
    ) -> GFlowNetProposer:
        """Builds the environment from `corpus` (alphabet, `config.max_len`) and the proposer."""
        from .selfies_env import SelfiesEnv  # rdkit and selfies: molecules only

        config = config or GFlowNetConfig()
        env = SelfiesEnv.from_corpus(corpus, max_len=config.max_len, min_count=min_count)
        return cls(env, config, corpus)

    @classmethod
    def from_prior(
        cls, path: str | Path, config: GFlowNetConfig | None = None, corpus: Sequence[str] = ()
    ) -> GFlowNetProposer:
        """Starts from a pretrained policy saved by `benchmarks/make_prior.py`.

        The checkpoint's environment (alphabet, max_len) and GRU size replace the config's;
        the policy starts from its weights and, with `prior_weight > 0`, a frozen copy of
        them is the prior. `corpus` is only used by a further `pretrain`.

        Raises:
            FileNotFoundError: no checkpoint at `path`.
            ValueError: the file is not a prior checkpoint.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"prior checkpoint not found: {path} (make one with benchmarks/make_prior.py)")
        state = torch.load(path, map_location="cpu", weights_only=True)  # runs no code
        if not isinstance(state, dict) or not {"env", "policy", "meta"} <= state.keys():
            raise ValueError(f"{path} is not a prior checkpoint (needs env, policy and meta)")
        meta = state["meta"]
        config = replace(config or GFlowNetConfig(), hidden=meta["hidden"], num_layers=meta["num_layers"],
                         max_len=state["env"]["max_len"])
        from .selfies_env import SelfiesEnv

        proposer = cls(SelfiesEnv.from_state_dict(state["env"]), config, corpus)
        proposer.policy.load_state_dict(state["policy"])
        proposer.trainer.freeze_prior()
        return proposer

    @property
    def policy(self) -> SequencePolicy:
        """The trained GRU policy."""
        return self.trainer.policy

    @property
    def prior(self) -> SequencePolicy | None:
        """The frozen pretrained policy (after `pretrain` with `prior_weight > 0`)."""
        return self.trainer.prior

    @property
    def log_z(self) -> torch.Tensor:
        """TB's `log Z` parameter."""
        return self.trainer.log_z

    # ---------------------------------------------------------------- training
    def pretrain(self, steps: int | None = None) -> float:
        """Maximum-likelihood warm start on the corpus; freezes the prior if `prior_weight > 0`.

        Args:
            steps: Adam steps (default `config.pretrain_steps`).

        Returns:
            Negative log-likelihood (nats per molecule) of the last batch.
        """
        steps = self.config.pretrain_steps if steps is None else steps
        if self._corpus_states is None:
            self._corpus_states = self.env.from_designs(self.corpus)
        if len(self._corpus_states) == 0:
            raise ValueError("pretrain needs a corpus with molecules the environment can encode")
        with _torch_threads(self.config.learner_threads):
            return self.trainer.pretrain(self._corpus_states, steps)

    def train(
        self,
        log_reward_fn: LogRewardFn,
        steps: int,
        offline: Sequence[str] = (),
        progress: ProgressFn | None = None,
    ) -> dict[str, float]:
        """Trains the policy for `steps` steps on `log_reward_fn`.

        Each step samples `batch_size * (1 - replay_fraction)` trajectories (with `epsilon`
        exploration), adds the rest from `offline` designs (those the environment can
        encode), calls `log_reward_fn` once on the whole decoded batch and takes one step.

        Args:
            log_reward_fn: SMILES list -> log-rewards (`n` float tensor).
            steps: training steps.
            offline: known good designs (SMILES) replayed as off-policy trajectories.
            progress: called as `progress(step, metrics)` after every step (1-based).

        Returns:
            Metrics of the last step: `loss`, `log_z`, `mean_log_reward`, `max_log_reward`
            (on-policy samples), `num_offline`, `num_replay`, `steps`, and `unique_valid`
            (distinct valid molecules among the last on-policy samples); `{}` if `steps <= 0`.
        """
        if steps <= 0:
            return {}
        states = self.env.from_designs(list(offline)) if offline else None

        def state_log_reward(x: torch.Tensor) -> torch.Tensor:
            return self._log_rewards(log_reward_fn, self.env.to_designs(x))

        with _torch_threads(self.config.learner_threads), self.samplers():
            metrics = self.trainer.train(state_log_reward, steps, progress, offline=states)
        assert self.trainer.last_online is not None
        self.last_samples = self.env.to_designs(self.trainer.last_online.terminal)
        metrics["unique_valid"] = float(self.env.unique_valid(self.last_samples))
        self.last_metrics = metrics
        return metrics

    def _log_rewards(self, log_reward_fn: LogRewardFn, smiles: list[str]) -> torch.Tensor:
        log_r = torch.as_tensor(log_reward_fn(smiles), dtype=torch.float32).detach().flatten()
        if log_r.shape[0] != len(smiles):
            raise ValueError(f"log_reward_fn returned {log_r.shape[0]} values for {len(smiles)}")
        low = self.config.log_reward_min
        return torch.nan_to_num(log_r, nan=low, neginf=low).clamp(min=low)

    # ---------------------------------------------------------------- sampling
    def sample(self, n: int) -> list[str]:
        """Samples `n` SMILES from the current policy (no exploration)."""
        if n <= 0:
            return []
        with _torch_threads(self.config.learner_threads), self.samplers():
            traj = self._sample_trajectories(n, 0.0, self.config.sample_temperature)
        self.last_samples = self.env.to_designs(traj.terminal)
        return self.last_samples

    @contextmanager
    def samplers(self) -> Iterator[None]:
        """Keeps one set of Ray sampler actors for every call inside the block.

        With `num_actors > 0` a `SamplerPool` is started on entry (nested blocks reuse it) and
        killed on exit, so actors hold their CPUs for one round's `train` and `sample` only.
        `placements` lists where each part of each draw ran.

        >>> with proposer.samplers():
        ...     proposer.train(log_reward_fn, steps=100)
        ...     designs = proposer.sample(1000)
        """
        cfg = self.config
        if self._pool is not None or cfg.num_actors == 0:
            yield
            return
        from functools import partial

        from .actors import SamplerPool  # Ray only where work is placed

        make_policy = partial(SequencePolicy.for_env, self.env, cfg.hidden, cfg.num_layers)
        self.placements = []
        with SamplerPool(self.env, make_policy, cfg.num_actors, cfg.actor_num_cpus, cfg.actor_num_gpus,
                         cfg.actor_resources or None, seed=cfg.seed) as pool:
            self._pool = pool
            try:
                yield
            finally:
                self._pool = None

    def _sample_trajectories(self, n: int, epsilon: float, temperature: float = 1.0
                             ) -> Trajectories:
        """The one place trajectories are drawn: `n` from the current policy.

        Each draw gets a fresh seed from `(config.seed, draws, sampler index)`, so runs and
        checkpoint resumes are reproducible wherever the draw happens (an in-process draw
        equals a one-actor pool's).
        """
        self.draws += 1
        if self._pool is not None:
            traj = self._pool.sample(self.trainer.policy, n, epsilon, step=self.draws,
                                     temperature=temperature)
            self.placements.extend(p.as_dict() for p in self._pool.last_placement)
            return traj
        generator = torch.Generator().manual_seed(self._seed(0))
        return sample_trajectories(self.env, self.trainer.runner, n, generator, epsilon,
                                   temperature=temperature)

    def _seed(self, sampler_index: int) -> int:
        seq = np.random.SeedSequence([self.config.seed, self.draws, sampler_index])
        return int(seq.generate_state(1)[0])

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Environment, config, trainer (policy, `log_z`, optimiser, prior) and draw count."""
        return {"env": self.env.state_dict(), "config": asdict(self.config),
                "trainer": self.trainer.state_dict(), "draws": self.draws}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a state from `state_dict` (the environment must match)."""
        if state["env"] != self.env.state_dict():
            raise ValueError("checkpoint was saved with a different environment (alphabet/max_len)")
        self.trainer.load_state_dict(state["trainer"])
        self.draws = state["draws"]

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], corpus: Sequence[str] = ()) -> GFlowNetProposer:
        """Rebuilds a proposer (environment included) from a self-contained checkpoint: of
        molecules (SELFIES) or of sequences (whose environment state names a `min_len`)."""
        from .selfies_env import SelfiesEnv
        from .sequence_env import SequenceEnv

        env_cls = SequenceEnv if "min_len" in state["env"] else SelfiesEnv
        proposer = cls(env_cls.from_state_dict(state["env"]), GFlowNetConfig(**state["config"]), corpus)
        proposer.load_state_dict(state)
        return proposer


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Sets torch's intra-op threads to `n` (if > 0) and restores them on exit."""
    before = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)
