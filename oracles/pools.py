"""A pool of Ray actors that run oracle calls: every oracle, stateless or not, runs on one.

The only module besides `runner.py` that imports Ray. An actor is used only once it exists,
holds the unpickled oracle and has finished `setup()`: a call handed to an idle actor starts at
once, so the caller's `submitted` row is written just before the oracle sees the chunk (never
while a call waits for a worker process), and a call's timeout runs from its dispatch.

Nothing here retries: actors run with `max_restarts=0` and `max_task_retries=0` (TRAPS.md), so
a call is made again only when the runner decides to.
"""

from __future__ import annotations

import math
from typing import Any

import ray

from sciloop.oracles.base import declared
from sciloop.oracles.calling import ChunkOutcome, OracleHost


class _RayHost(OracleHost):
    def node(self) -> str:
        return ray.get_runtime_context().get_node_id()


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


class ActorPool:
    """Up to `size` actors, each running `setup()` (when the oracle has one) before its first call.

    Actors are created for one `run` and killed after it (after `teardown()`), so they hold
    their resources only while a batch is scored. A dead or killed actor is replaced while
    there is work left. A call goes only to an idle, set-up actor, so it starts on dispatch.
    """

    def __init__(self, oracle: Any, size: int, runtime_env: dict | None = None):
        self.size = size
        self._cls = ray.remote(_RayHost).options(max_restarts=0, max_task_retries=0,
                                                 **placement(oracle, runtime_env))
        self._oracle_ref = ray.put(oracle)
        self._starting: dict[ray.ObjectRef, Any] = {}  # setup ref -> actor
        self._idle: list[Any] = []
        self._busy: set[Any] = set()
        self._pings: dict[Any, ray.ObjectRef] = {}  # idle actor -> its unanswered liveness ping
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

    def idle(self) -> list[Any]:
        """The actors ready to run a call at once (creating missing ones, which start later)."""
        self._spawn()
        self._collect_started(0)
        return list(self._idle)

    def wait_ready(self, timeout: float) -> None:
        """Block up to `timeout` seconds for an actor to finish its set-up."""
        self._spawn()
        if self._starting:
            ray.wait(list(self._starting), num_returns=1, timeout=timeout)
        self._collect_started(0)

    def answers(self, actor: Any, timeout: float) -> bool:
        """Whether an idle actor still answers (its ping, waited on for at most `timeout` seconds).
        One that died while idle (out of memory, a lost node, its process exiting) is dropped, and
        replaced by `idle()`; one that is slow to answer keeps its ping, and is asked again later."""
        ping = self._pings.get(actor)
        if ping is None:  # not setdefault: its default would send a ping on every ask
            ping = self._pings[actor] = actor.node.remote()
        if not ray.wait([ping], timeout=timeout)[0]:
            return False
        del self._pings[actor]
        try:
            ray.get(ping)
            return True
        except ray.exceptions.RayError:
            self._idle.remove(actor)
            ray.kill(actor, no_restart=True)
            return False

    def submit(self, actor: Any, chunk: list[str]) -> ray.ObjectRef:
        """Start a call on an idle actor; it runs at once."""
        self._idle.remove(actor)
        self._busy.add(actor)
        return actor.score.remote(chunk)

    def take(self, ref: ray.ObjectRef) -> ChunkOutcome:
        """The outcome of a ready call; raises RayError when the actor died."""
        return ray.get(ref)

    def release(self, actor: Any) -> None:
        """The actor's call is done: it is idle again."""
        self._busy.discard(actor)
        self._idle.append(actor)

    def kill(self, actor: Any) -> None:
        """Kill a busy actor (it died, or its call timed out: an actor call cannot be interrupted)."""
        self._busy.discard(actor)
        ray.kill(actor, no_restart=True)

    def close(self, teardown_timeout: float) -> None:
        """Tear every live actor down (waiting at most `teardown_timeout`), then kill it."""
        live = self._idle + list(self._busy)
        refs = [a.teardown.remote() for a in self._idle]
        if refs:
            ray.wait(refs, num_returns=len(refs), timeout=teardown_timeout)
        for actor in live + list(self._starting.values()):
            ray.kill(actor, no_restart=True)
        self._idle, self._busy, self._starting, self._pings = [], set(), {}, {}
