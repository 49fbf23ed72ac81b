"""Fits a surrogate in a Ray task placed by declared resources, and hands it back to the driver.

The ensemble's members are fitted together, vectorised, in one task: a task that declares a GPU
fits all K members on it in a single pass (`device: auto`, the default, resolves to the GPU Ray
assigned, and to the CPU in a task that declared none; the stats say so, `cuda` = 1), which is
what splitting members over tasks would lose.
The task builds its own featurizer (the driver's caches stay home), fits, and returns the
surrogate's `state_dict` (CPU tensors); the driver loads it into its own surrogate (and featurizer
cache) on the driver's own device, so acquisition and selection run where they always do. A fit
is a pure function of its inputs, so Ray may retry it on another node.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .featurizers import Featurizer
from .members import make_surrogate
from .settings import EnsembleConfig


@dataclass(frozen=True)
class Placement:
    """Ray resources of the fit task (as `ray.remote(...)` takes them)."""

    num_cpus: float = 1.0
    num_gpus: float = 0.0
    resources: dict[str, float] = field(default_factory=dict)
    max_retries: int = 2


def fit_on_ray(make_featurizer: Callable[[], Featurizer], config: EnsembleConfig, designs: Sequence[str],
               y: Sequence[float], placement: Placement) -> tuple[dict[str, Any], dict[str, float], dict[str, Any]]:
    """Fits `make_surrogate(make_featurizer(), config)` on `(designs, y)` in one Ray task.

    Args:
        make_featurizer: builds the featurizer inside the task (e.g. a `functools.partial`).
        config: the surrogate's settings.
        designs, y: the labelled designs.
        placement: the task's resources; Ray needs a node that has them.

    Returns:
        The fitted surrogate's `state_dict` (load it into `make_surrogate(featurizer, config)`),
        the fit's statistics, and where it ran: `{"node", "worker", "gpus"}`.
    """
    import ray

    task = ray.remote(_fit).options(num_cpus=placement.num_cpus, num_gpus=placement.num_gpus,
                                    resources=placement.resources or None, max_retries=placement.max_retries)
    return ray.get(task.remote(make_featurizer, config, list(designs), list(y)))


def _fit(make_featurizer: Callable[[], Featurizer], config: EnsembleConfig, designs: list[str],
         y: list[float]) -> tuple[dict[str, Any], dict[str, float], dict[str, Any]]:
    import ray
    import torch

    gpus = [str(g) for g in ray.get_gpu_ids()]
    # `auto` here is the GPU Ray assigned, never one the task did not declare: Ray 2.60 leaves
    # CUDA_VISIBLE_DEVICES alone for a task that asked for no GPU, so the process may see them all
    here = config if config.device != "auto" else config.model_copy(
        update={"device": "cuda" if gpus and torch.cuda.is_available() else "cpu"})
    surrogate = make_surrogate(make_featurizer(), here)
    stats = surrogate.fit(designs, y)
    context = ray.get_runtime_context()
    where = {"node": context.get_node_id(), "worker": context.get_worker_id(), "gpus": gpus}
    state = surrogate.state_dict()
    if "config" in state:  # the driver keeps its own device setting for the fitted model
        state["config"] = {**state["config"], "device": config.device}
    return state, stats, where
