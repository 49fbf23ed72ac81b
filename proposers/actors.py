"""Ray sampler actors: the only module of `proposers/` that imports Ray.

`SamplerActor` is plain Python (usable in-process); `create_samplers` makes it remote at
the edge with fractional CPUs, `kill_samplers` releases them after each stage, and
`SamplerPool` hides whether sampling runs on actors or in-process.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ray
import torch

from .policy import SequencePolicy
from .selfies_env import SelfiesEnv


@dataclass
class SampleBatch:
    """Trajectories drawn by one sampler.

    Attributes:
        tokens: `n x max_len` LongTensor padded with EOS.
        smiles: decoded SMILES, one per row.
        node_id: Ray node that sampled ("local" outside Ray).
        actor_id: Ray actor id ("local" outside an actor).
    """

    tokens: torch.Tensor
    smiles: list[str]
    node_id: str
    actor_id: str


class SamplerActor:
    """Holds an environment and a policy copy; samples with weights it is sent.

    Args:
        env_state: `SelfiesEnv.state_dict()`.
        hidden: policy width.
        num_layers: policy GRU layers.
        num_threads: torch intra-op threads (1 inside an actor).
    """

    def __init__(
        self, env_state: dict[str, Any], hidden: int, num_layers: int, num_threads: int = 1
    ) -> None:
        if num_threads > 0:
            torch.set_num_threads(num_threads)
        self.env = SelfiesEnv.from_state_dict(env_state)
        self.policy = SequencePolicy(self.env.action_masks(), self.env.eos, hidden, num_layers)
        self.policy.eval()
        self.node_id, self.actor_id = _where()

    def sample(
        self,
        weights: dict[str, torch.Tensor],
        n: int,
        seed: int,
        epsilon: float = 0.0,
        temperature: float = 1.0,
    ) -> SampleBatch:
        """Loads `weights` and draws `n` trajectories with a `seed`-ed generator."""
        self.policy.load_state_dict(weights)
        generator = torch.Generator().manual_seed(seed)
        tokens = self.policy.sample(n, generator, epsilon=epsilon, temperature=temperature)
        return SampleBatch(tokens, self.env.decode_batch(tokens), self.node_id, self.actor_id)


def create_samplers(
    num_actors: int, num_cpus: float, env_state: dict[str, Any], hidden: int, num_layers: int
) -> list[Any]:
    """Starts `num_actors` remote `SamplerActor`s holding `num_cpus` each.

    Raises:
        RuntimeError: if Ray is not initialised (the caller owns `ray.init`).
    """
    if not ray.is_initialized():
        raise RuntimeError(
            "Ray is not initialised: call ray.init() first, or use num_actors=0 to sample "
            "in-process"
        )
    remote_cls = ray.remote(num_cpus=num_cpus, max_restarts=0)(SamplerActor)
    return [remote_cls.remote(env_state, hidden, num_layers) for _ in range(num_actors)]


def kill_samplers(actors: Sequence[Any]) -> None:
    """Kills the actors so their CPUs return to the cluster."""
    for actor in actors:
        ray.kill(actor, no_restart=True)


def _where() -> tuple[str, str]:
    if not ray.is_initialized():
        return "local", "local"
    ctx = ray.get_runtime_context()
    actor_id = ctx.get_actor_id()
    return ctx.get_node_id(), actor_id if actor_id is not None else "local"


class SamplerPool:
    """`num_actors` remote samplers, or one in-process sampler when `num_actors == 0`.

    Args:
        env: the environment (sent to each actor as its state dict).
        hidden: policy width.
        num_layers: policy GRU layers.
        num_actors: Ray actors to start (0: sample in the calling process, no Ray).
        num_cpus: CPUs each actor declares.
    """

    def __init__(
        self, env: SelfiesEnv, hidden: int, num_layers: int, num_actors: int, num_cpus: float
    ) -> None:
        self.actors: list[Any] = []
        self.local: SamplerActor | None = None
        if num_actors > 0:
            self.actors = create_samplers(num_actors, num_cpus, env.state_dict(), hidden,
                                          num_layers)
        else:
            self.local = SamplerActor(env.state_dict(), hidden, num_layers, num_threads=0)

    @property
    def size(self) -> int:
        """Number of samplers (a batch is split over them)."""
        return len(self.actors) or 1

    def submit(
        self,
        weights: dict[str, torch.Tensor],
        n: int,
        seeds: Sequence[int],
        epsilon: float = 0.0,
        temperature: float = 1.0,
    ) -> Callable[[], list[SampleBatch]]:
        """Starts drawing `n` trajectories (sampler `i` seeded with `seeds[i]`).

        The weights go to the object store once and are broadcast to every actor.

        Returns:
            A function that waits for and returns the batches.
        """
        if self.local is not None:
            batch = self.local.sample(weights, n, seeds[0], epsilon, temperature)
            return lambda: [batch]
        ref = ray.put(weights)
        k = len(self.actors)
        sizes = [n // k + (i < n % k) for i in range(k)]
        refs = [actor.sample.remote(ref, m, seeds[i], epsilon, temperature)
                for i, (actor, m) in enumerate(zip(self.actors, sizes)) if m > 0]
        return lambda: list(ray.get(refs))

    def close(self) -> None:
        """Kills the actors (their CPUs return to the cluster)."""
        kill_samplers(self.actors)
        self.actors = []
