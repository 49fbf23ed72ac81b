"""Ray workers for oracle calls: stateless tasks, or a pool of actors that set up once.

The only module besides `runner.py` that imports Ray. Nothing here retries: tasks run with
`max_retries=0`, actors with `max_restarts=0` and `max_task_retries=0` (TRAPS.md), so a call is
made again only when the runner decides to.
"""

from __future__ import annotations

import math
from typing import Any, Iterator

import ray

from sciloop.oracles.base import declared
from sciloop.oracles.calling import ChunkOutcome, OracleHost, call_chunk


def _node_id() -> str:
    return ray.get_runtime_context().get_node_id()


def _task_body(oracle: Any, chunk: list[str]) -> Iterator[ChunkOutcome | None]:
    """A streaming task: first `None` (the call has started), then the outcome."""
    yield None
    yield call_chunk(oracle, chunk, _node_id())


class _RayHost(OracleHost):
    def node(self) -> str:
        return _node_id()


def uses_actors(oracle: Any) -> bool:
    """An oracle with `setup` or `teardown` runs on actors; a stateless one on tasks."""
    return callable(getattr(oracle, "setup", None)) or callable(getattr(oracle, "teardown", None))


def placement(oracle: Any, runtime_env: dict | None = None) -> dict[str, Any]:
    """The Ray resource options one call of `oracle` declares."""
    opts: dict[str, Any] = dict(num_cpus=float(declared(oracle, "num_cpus", 1.0)),
                                num_gpus=float(declared(oracle, "num_gpus", 0.0)))
    resources = dict(declared(oracle, "resources", {}))
    if resources:
        opts["resources"] = resources
    if runtime_env:
        opts["runtime_env"] = runtime_env
    return opts


def fitting_workers(oracle: Any, cap: int) -> int:
    """How many calls of `oracle` the cluster can run at once (at least 1, at most `cap`)."""
    explicit = getattr(oracle, "num_workers", None)
    if explicit:
        return max(1, min(int(explicit), cap))
    total = ray.cluster_resources()
    need = {"CPU": float(declared(oracle, "num_cpus", 1.0)), "GPU": float(declared(oracle, "num_gpus", 0.0))}
    need |= {k: float(v) for k, v in dict(declared(oracle, "resources", {})).items()}
    fits = [math.floor(total.get(k, 0.0) / v + 1e-9) for k, v in need.items() if v > 0]
    return max(1, min([cap, *fits]))


class TaskPool:
    """Stateless calls as Ray tasks; a slot is just a permit to have one more call running.

    A task may wait for a worker process to start (seconds on a loaded machine), so the task
    streams a start signal first: the runner starts the call's clock when it arrives.
    """

    starts_on_dispatch = False

    def __init__(self, oracle: Any, size: int, runtime_env: dict | None = None):
        self.size = size
        self._ref = ray.put(oracle)
        self._task = ray.remote(_task_body).options(num_returns="streaming", max_retries=0,
                                                     retry_exceptions=False,
                                                     **placement(oracle, runtime_env))
        self._busy = 0

    def free_slots(self) -> list[Any]:
        return [None] * (self.size - self._busy)

    def wait_ready(self, timeout: float) -> None:
        """Tasks need no set-up."""

    def submit(self, slot: Any, chunk: list[str]) -> Any:
        self._busy += 1
        return self._task.remote(self._ref, chunk)

    def take(self, handle: Any) -> ChunkOutcome | None:
        """The next item of a ready call: None (it started) or its outcome; raises RayError."""
        return ray.get(next(handle))

    def done(self, slot: Any, ref: Any) -> None:
        self._busy -= 1

    def lost(self, slot: Any, ref: Any) -> None:
        self._busy -= 1

    def abort(self, slot: Any, ref: Any) -> None:
        ray.cancel(ref, force=True)  # kills the worker process running the call
        self._busy -= 1

    def close(self, teardown_timeout: float) -> None:
        """Nothing stays alive between tasks."""


class ActorPool:
    """Up to `size` actors, each running `setup()` once before its first call.

    Actors are created for one `run` and killed after it (after `teardown()`), so they hold
    their resources only while a batch is scored. A dead or killed actor is replaced while
    there is work left. A call goes only to an idle, set-up actor, so it starts on dispatch.
    """

    starts_on_dispatch = True

    def __init__(self, oracle: Any, size: int, runtime_env: dict | None = None):
        self.size = size
        self._cls = ray.remote(_RayHost).options(max_restarts=0, max_task_retries=0,
                                                 **placement(oracle, runtime_env))
        self._oracle_ref = ray.put(oracle)
        self._starting: dict[ray.ObjectRef, Any] = {}  # setup ref -> actor
        self._idle: list[Any] = []
        self._busy: set[Any] = set()
        self.setup_error: str | None = None

    def _spawn(self) -> None:
        while len(self._starting) + len(self._idle) + len(self._busy) < self.size:
            actor = self._cls.remote(self._oracle_ref)
            self._starting[actor.setup.remote()] = actor

    def _collect_started(self, timeout: float) -> None:
        if not self._starting:
            return
        ready, _ = ray.wait(list(self._starting), num_returns=len(self._starting), timeout=timeout)
        for ref in ready:
            actor = self._starting.pop(ref)
            try:
                ray.get(ref)
            except ray.exceptions.RayError as exc:
                self.setup_error = str(exc).strip().splitlines()[-1][:500] if str(exc).strip() else type(exc).__name__
                ray.kill(actor, no_restart=True)
                continue
            self._idle.append(actor)

    def free_slots(self) -> list[Any]:
        self._spawn()
        self._collect_started(0)
        return list(self._idle)

    def wait_ready(self, timeout: float) -> None:
        """Block up to `timeout` seconds for an actor to finish its set-up."""
        self._spawn()
        if self._starting:
            ray.wait(list(self._starting), num_returns=1, timeout=timeout)
        self._collect_started(0)

    def submit(self, slot: Any, chunk: list[str]) -> ray.ObjectRef:
        self._idle.remove(slot)
        self._busy.add(slot)
        return slot.score.remote(chunk)

    def take(self, handle: ray.ObjectRef) -> ChunkOutcome:
        """The outcome of a ready call; raises RayError when the actor died."""
        return ray.get(handle)

    def done(self, slot: Any, ref: Any) -> None:
        self._busy.discard(slot)
        self._idle.append(slot)

    def lost(self, slot: Any, ref: Any) -> None:
        self._busy.discard(slot)
        ray.kill(slot, no_restart=True)

    def abort(self, slot: Any, ref: Any) -> None:
        self.lost(slot, ref)  # an actor call cannot be interrupted: the actor goes

    def close(self, teardown_timeout: float) -> None:
        """Tear every live actor down (waiting at most `teardown_timeout`), then kill it."""
        live = self._idle + list(self._busy)
        refs = [a.teardown.remote() for a in self._idle]
        if refs:
            ray.wait(refs, num_returns=len(refs), timeout=teardown_timeout)
        for actor in live + list(self._starting.values()):
            ray.kill(actor, no_restart=True)
        self._idle, self._busy, self._starting = [], set(), {}
