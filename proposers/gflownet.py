"""GFlowNet proposer over SELFIES sequences, trained with trajectory balance.

Sampling runs on Ray actors (`actors.SamplerPool`) created per `train`/`sample` call (or
per `samplers()` block) and killed after; the learner (policy, `log_z`, Adam) lives in the
calling process.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from .actors import SampleBatch, SamplerPool
from .base import LogRewardFn, ProgressFn
from .policy import SequencePolicy
from .selfies_env import SelfiesEnv, count_unique_valid


@dataclass
class GFlowNetConfig:
    """Hyper-parameters of `GFlowNetProposer`.

    Attributes:
        steps: suggested training steps per round (the caller passes it to `train`).
        batch_size: trajectories per training step (online + replayed).
        lr: Adam learning rate of the policy (also used by `pretrain`).
        lr_log_z: Adam learning rate of `log_z`.
        epsilon: weight of uniform exploration mixed into the sampling policy.
        replay_fraction: share of each batch replayed from `offline` designs, if given.
        max_len: maximum SELFIES tokens per molecule (used by `from_corpus`).
        hidden: GRU width.
        num_layers: GRU layers.
        num_actors: Ray sampler actors; 0 samples in-process (no Ray needed).
        actor_num_cpus: CPUs each actor declares (fractional, so actors never block a node).
        pretrain_steps: default number of maximum-likelihood steps for `pretrain()`.
        sample_temperature: softmax temperature used by `sample` (1 = the trained policy).
        log_reward_min: log-rewards are clamped below at this value (no -inf in the loss).
        grad_clip: max gradient norm of the policy.
        prefetch: draw the next batch on the samplers while the learner updates on this
            one, so trajectories come from weights one update old (TB is off-policy, so
            the fixed point is unchanged); False samples with the latest weights.
        reset_log_z: at the first step of every `train` call, set `log_z` to its TB
            minimiser on that batch, `mean(log R - log P_F)`: the reward changes every
            round, and Adam alone moves `log_z` by at most about `lr_log_z` per step.
        prior_weight: weight w of the pretrained policy as a prior: with w > 0, `pretrain`
            freezes a copy of the policy, p_prior, and training targets
            p(x) proportional to p_prior(x)^w R(x) (TB with log R + w log p_prior, i.e.
            relative trajectory balance). Without it, a nearly flat reward over ~60^40
            sequences makes the exact TB optimum close to uniform random token strings.
        learner_threads: torch threads of the calling process during `pretrain`/`train`/
            in-process sampling (restored after); 1 avoids oversubscribing small machines
            where actors share the cores (measured 10x slower with 2 threads here). 0 keeps
            the process setting.
        seed: seed of every random draw (actors get seeds derived from it).
    """

    steps: int = 200
    batch_size: int = 64
    lr: float = 1e-3
    lr_log_z: float = 1e-1
    epsilon: float = 0.05
    replay_fraction: float = 0.25
    max_len: int = 40
    hidden: int = 256
    num_layers: int = 2
    num_actors: int = 2
    actor_num_cpus: float = 0.5
    pretrain_steps: int = 0
    sample_temperature: float = 1.0
    log_reward_min: float = -100.0
    grad_clip: float = 10.0
    reset_log_z: bool = True
    prefetch: bool = False
    learner_threads: int = 1
    prior_weight: float = 0.0
    seed: int = 0


class GFlowNetProposer:
    """Trajectory-balance GFlowNet over SELFIES token sequences.

    Loss per batch: `mean((log_z + sum_t log P_F(tau) - log R(x))^2)`; P_B = 1 because the
    sequence MDP is a tree. Implements the `Proposer` protocol.

    Args:
        env: the SELFIES environment (its `max_len` wins over `config.max_len`).
        config: hyper-parameters.
        corpus: SMILES for the optional maximum-likelihood warm start (`pretrain`).

    Attributes:
        sampler_nodes: Ray node ids of the actors used by the last `train`/`sample` call.
        sampler_actors: Ray actor ids of those actors.
        last_samples: SMILES of the last online batch (train) or of the last `sample`.
        last_metrics: metrics of the last training step.

    >>> proposer = GFlowNetProposer.from_corpus(smiles, GFlowNetConfig(num_actors=0))
    >>> proposer.pretrain(200)  # optional
    >>> proposer.train(log_reward_fn, steps=100, offline=top_designs)
    >>> designs = proposer.sample(256)
    """

    def __init__(
        self, env: SelfiesEnv, config: GFlowNetConfig | None = None, corpus: Sequence[str] = ()
    ) -> None:
        self.env = env
        self.config = config = config or GFlowNetConfig()
        self.corpus = list(corpus)
        torch.manual_seed(config.seed)  # parameter init only
        self.policy = SequencePolicy(env.action_masks(), env.eos, config.hidden, config.num_layers)
        self.log_z = torch.nn.Parameter(torch.zeros(()))
        self.optimizer = torch.optim.Adam([
            {"params": list(self.policy.parameters()), "lr": config.lr},
            {"params": [self.log_z], "lr": config.lr_log_z},
        ])
        self.generator = torch.Generator().manual_seed(config.seed)
        self.draws = 0  # batches drawn so far: part of every sampler seed
        self.sampler_nodes: list[str] = []
        self.sampler_actors: list[str] = []
        self.last_samples: list[str] = []
        self.last_metrics: dict[str, float] = {}
        self._corpus_tokens: torch.Tensor | None = None
        self._pool: SamplerPool | None = None
        self.prior: SequencePolicy | None = None  # frozen after `pretrain` if prior_weight > 0

    @classmethod
    def from_corpus(
        cls, corpus: Sequence[str], config: GFlowNetConfig | None = None, min_count: int = 1
    ) -> GFlowNetProposer:
        """Builds the environment from `corpus` (alphabet, `config.max_len`) and the proposer."""
        config = config or GFlowNetConfig()
        env = SelfiesEnv.from_corpus(corpus, max_len=config.max_len, min_count=min_count)
        return cls(env, config, corpus)

    # ---------------------------------------------------------------- training
    def pretrain(self, steps: int | None = None) -> float:
        """Maximum-likelihood warm start on the corpus (teacher forcing).

        Args:
            steps: Adam steps (default `config.pretrain_steps`).

        Returns:
            Negative log-likelihood (nats per molecule) of the last batch.
        """
        steps = self.config.pretrain_steps if steps is None else steps
        if self._corpus_tokens is None:
            self._corpus_tokens = self.env.encode_batch(self.corpus)
        data = self._corpus_tokens
        if len(data) == 0:
            raise ValueError("pretrain needs a corpus with molecules the environment can encode")
        with _torch_threads(self.config.learner_threads):
            nll = self._pretrain_loop(data, steps)
        if self.config.prior_weight > 0:
            self.prior = _frozen(self.policy)
        return nll

    def _pretrain_loop(self, data: torch.Tensor, steps: int) -> float:
        optimizer = torch.optim.Adam(self.policy.parameters(), lr=self.config.lr)
        nll = float("nan")
        for _ in range(steps):
            idx = torch.randint(len(data), (self.config.batch_size,), generator=self.generator)
            loss = -self.policy.log_prob(data[idx]).mean()
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.config.grad_clip)
            optimizer.step()
            nll = loss.item()
        return nll

    def train(
        self,
        log_reward_fn: LogRewardFn,
        steps: int,
        offline: Sequence[str] = (),
        progress: ProgressFn | None = None,
    ) -> dict[str, float]:
        """Trains with trajectory balance for `steps` steps.

        Each step draws `batch_size * (1 - replay_fraction)` trajectories on the samplers
        (with recent policy weights, see `prefetch`, and `epsilon` exploration), adds the rest
        from `offline` designs (if any encode), calls `log_reward_fn` once on the whole
        decoded batch and takes one Adam step.

        Args:
            log_reward_fn: SMILES list -> log-rewards (`n` float tensor).
            steps: training steps.
            offline: known good designs (SMILES) replayed as off-policy trajectories.
            progress: called as `progress(step, metrics)` after every step (1-based).

        Returns:
            Metrics of the last step: `loss`, `log_z`, `mean_log_reward`,
            `max_log_reward` (online samples), `unique_valid` (distinct valid molecules
            among the online samples), `num_replay`, `steps`; `{}` if `steps == 0`.
        """
        cfg = self.config
        if steps <= 0:
            return {}
        replay = self.env.encode_batch(offline)
        n_replay = min(cfg.batch_size - 1, round(cfg.batch_size * cfg.replay_fraction))
        n_replay = n_replay if len(replay) else 0
        n_online = cfg.batch_size - n_replay
        metrics: dict[str, float] = {}
        self.sampler_nodes, self.sampler_actors = [], []
        with _torch_threads(cfg.learner_threads), self.samplers() as pool:
            pending = self._submit(pool, n_online, cfg.epsilon, 1.0)
            for step in range(1, steps + 1):
                tokens, smiles = pending()
                if cfg.prefetch and step < steps:  # sampled during this update
                    pending = self._submit(pool, n_online, cfg.epsilon, 1.0)
                self.last_samples = smiles
                if n_replay:
                    idx = torch.randint(len(replay), (n_replay,), generator=self.generator)
                    tokens = torch.cat([tokens, replay[idx]])
                    smiles = smiles + self.env.decode_batch(replay[idx])
                log_r = self._log_rewards(log_reward_fn, smiles)
                target = log_r
                if self.prior is not None:
                    with torch.no_grad():
                        target = log_r + cfg.prior_weight * self.prior.log_prob(tokens)
                loss = self._tb_update(tokens, target, reset_log_z=cfg.reset_log_z and step == 1)
                if not cfg.prefetch and step < steps:
                    pending = self._submit(pool, n_online, cfg.epsilon, 1.0)
                metrics = {
                    "loss": loss,
                    "log_z": self.log_z.item(),
                    "mean_log_reward": log_r[:n_online].mean().item(),
                    "max_log_reward": log_r[:n_online].max().item(),
                    "unique_valid": float(count_unique_valid(self.last_samples)),
                    "num_replay": float(n_replay),
                    "steps": float(step),
                }
                self.last_metrics = metrics
                if progress is not None:
                    progress(step, metrics)
        return metrics

    def _tb_update(self, tokens: torch.Tensor, log_r: torch.Tensor, reset_log_z: bool) -> float:
        """One Adam step on the trajectory-balance loss; returns the loss."""
        log_pf = self.policy.log_prob(tokens)
        if reset_log_z:
            with torch.no_grad():
                self.log_z.fill_((log_r - log_pf).mean().item())
        loss = (self.log_z + log_pf - log_r).pow(2).mean()
        self.optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.config.grad_clip)
        self.optimizer.step()
        return loss.item()

    def _log_rewards(self, log_reward_fn: LogRewardFn, smiles: list[str]) -> torch.Tensor:
        log_r = torch.as_tensor(log_reward_fn(smiles), dtype=torch.float32).detach().flatten()
        if log_r.shape[0] != len(smiles):
            raise ValueError(f"log_reward_fn returned {log_r.shape[0]} values for {len(smiles)}")
        low = self.config.log_reward_min
        return torch.nan_to_num(log_r, nan=low, neginf=low).clamp(min=low)

    # ---------------------------------------------------------------- sampling
    def sample(self, n: int) -> list[str]:
        """Samples `n` SMILES from the current policy (no exploration), split over actors."""
        if n <= 0:
            return []
        self.sampler_nodes, self.sampler_actors = [], []
        with _torch_threads(self.config.learner_threads), self.samplers() as pool:
            _, smiles = self._submit(pool, n, 0.0, self.config.sample_temperature)()
        self.last_samples = smiles
        return smiles

    @contextmanager
    def samplers(self) -> Iterator[SamplerPool]:
        """Keeps one set of samplers (Ray actors) alive for every call inside the block.

        Without it each `train`/`sample` call starts its actors and kills them after;
        inside it, e.g. a round's `train` then `sample` share one start-up. Actors are
        killed when the outermost block exits.

        >>> with proposer.samplers():
        ...     proposer.train(log_reward_fn, steps=100)
        ...     designs = proposer.sample(1000)
        """
        if self._pool is not None:
            yield self._pool
            return
        cfg = self.config
        self._pool = SamplerPool(self.env, cfg.hidden, cfg.num_layers, cfg.num_actors,
                                 cfg.actor_num_cpus)
        try:
            yield self._pool
        finally:
            self._pool.close()
            self._pool = None

    def _submit(
        self, pool: SamplerPool, n: int, epsilon: float, temperature: float
    ) -> Callable[[], tuple[torch.Tensor, list[str]]]:
        """Starts drawing `n` trajectories with the current weights; call the result to wait."""
        self.draws += 1
        weights = {k: v.detach().cpu().clone() for k, v in self.policy.state_dict().items()}
        seeds = [self._seed(i) for i in range(pool.size)]
        wait = pool.submit(weights, n, seeds, epsilon, temperature)
        return lambda: self._collect(wait())

    def _collect(self, batches: list[SampleBatch]) -> tuple[torch.Tensor, list[str]]:
        self.sampler_nodes = sorted({*self.sampler_nodes, *(b.node_id for b in batches)})
        self.sampler_actors = sorted({*self.sampler_actors, *(b.actor_id for b in batches)})
        tokens = torch.cat([b.tokens for b in batches])
        return tokens, [s for b in batches for s in b.smiles]

    def sample_tokens(self, n: int, epsilon: float = 0.0) -> torch.Tensor:
        """Samples `n` token sequences in-process (`n x max_len`, padded with EOS)."""
        self.draws += 1
        generator = torch.Generator().manual_seed(self._seed(0))
        return self.policy.sample(n, generator, epsilon, self.config.sample_temperature)

    def _seed(self, actor_index: int) -> int:
        seq = np.random.SeedSequence([self.config.seed, self.draws, actor_index])
        return int(seq.generate_state(1)[0])

    # ---------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """Environment, config, policy, `log_z`, optimizer and RNG state (all CPU)."""
        return {
            "env": self.env.state_dict(),
            "config": asdict(self.config),
            "policy": {k: v.detach().cpu().clone() for k, v in self.policy.state_dict().items()},
            "log_z": self.log_z.detach().cpu().clone(),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),  # not live tensors
            "generator": self.generator.get_state(),
            "draws": self.draws,
            "prior": None if self.prior is None else
            {k: v.detach().cpu().clone() for k, v in self.prior.state_dict().items()},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores a state from `state_dict` (the environment must match)."""
        if state["env"] != self.env.state_dict():
            raise ValueError("checkpoint was saved with a different environment (alphabet/max_len)")
        self.policy.load_state_dict(state["policy"])
        with torch.no_grad():
            self.log_z.copy_(state["log_z"])
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.generator.set_state(state["generator"])
        self.draws = state["draws"]
        self.prior = None
        if state.get("prior") is not None:
            self.prior = _frozen(self.policy)
            self.prior.load_state_dict(state["prior"])

    @classmethod
    def from_state_dict(cls, state: dict[str, Any], corpus: Sequence[str] = ()) -> GFlowNetProposer:
        """Rebuilds a proposer (environment included) from a self-contained checkpoint."""
        proposer = cls(SelfiesEnv.from_state_dict(state["env"]),
                       GFlowNetConfig(**state["config"]), corpus)
        proposer.load_state_dict(state)
        return proposer


def _frozen(policy: SequencePolicy) -> SequencePolicy:
    """A copy of `policy` that takes no gradients."""
    prior = copy.deepcopy(policy)
    prior.requires_grad_(False)
    return prior.eval()


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
