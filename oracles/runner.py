"""Score a batch of designs on Ray in parallel, reporting every result the moment it arrives.

Ray would retry a task whose worker died, paying the oracle twice behind the ledger's back
(see TRAPS.md), so nothing is retried by Ray: tasks run with `max_retries=0`, actors with
`max_restarts=0, max_task_retries=0`. The runner alone decides to call again: failures the
oracle declared transient (with back-off), and designs lost with a worker when the oracle is
idempotent. The caller hears of each chunk *before* it is dispatched (`on_submit`, once per
design, never again on a retry) and of each design's final result (`on_result`, once per
design), so a durable record can be written at both points.

Chunks are dispatched only to a free worker, so a call's timeout runs from (about) when it
starts, not from when it was queued. Errors that stop the campaign (`ResultCountError`,
`ConsecutiveFailureError`, `OracleSetupError`) are raised after the calls already running
have been collected and reported; chunks never dispatched are never submitted.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import ray

from sciloop.oracles.base import (ConsecutiveFailureError, Oracle, OracleError, OracleResult,
                                  OracleSetupError, ResultCountError, RetryPolicy, declared)
from sciloop.oracles.calling import ChunkOutcome
from sciloop.oracles.pools import ActorPool, TaskPool, fitting_workers, uses_actors

OnSubmit = Callable[[list[str]], None]
OnResult = Callable[[str, OracleResult, str], None]  # design, result, node id
OnRetry = Callable[[str, OracleResult, int], None]  # design, failed attempt's result, next attempt


@dataclass
class _Job:
    """A chunk waiting to be (re)dispatched."""

    batch: int
    designs: list[str]
    attempt: int = 0
    submitted: bool = False
    not_before: float = 0.0


@dataclass
class RunReport:
    """What one `run` did.

    Attributes:
        designs: designs given to `run`.
        labels: designs with a value.
        failures: designs that failed (after any retries).
        calls: designs sent to the oracle, counting every retry and re-send.
        retries: designs sent again after a transient failure.
        resends: designs sent again after their worker was lost.
        workers: the number of workers (tasks in flight or actors).
        seconds: wall-clock time of the run.
        startup_s: time until the first call was dispatched (actor creation and `setup()`).
        oracle_seconds: time spent inside the oracle's calls, summed over workers.
    """

    designs: int = 0
    labels: int = 0
    failures: int = 0
    calls: int = 0
    retries: int = 0
    resends: int = 0
    workers: int = 0
    seconds: float = 0.0
    startup_s: float = 0.0
    oracle_seconds: float = 0.0


def _ray_reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"worker lost: {type(exc).__name__}: {(lines[-1] if lines else '')[:300]}"


@dataclass
class OracleRunner:
    """Runs an oracle over batches on Ray with its declared resources, timeout and retries.

    Args:
        oracle: what to call; shipped to the workers by pickling (its code must be importable
            there: an installed package, or a module shipped with `runtime_env`).
        max_consecutive_failures: stop with `ConsecutiveFailureError` after this many designs
            in a row failed (None: never).
        retry: retry policy; None takes the oracle's `retry` attribute or the defaults.
        max_workers: the most calls at once; None: as many as the cluster's resources fit
            (or the oracle's `num_workers`).
        runtime_env: a Ray runtime_env for the oracle's workers (e.g. `py_modules` carrying
            the user's module when Ray was started by someone else).
        setup_timeout_s: how long to wait for any worker to become ready.
        teardown_timeout_s: how long to wait for `teardown()` on each actor.
        poll_s: the longest the loop sleeps between checks of timeouts.
    """

    oracle: Oracle
    max_consecutive_failures: int | None = None
    retry: RetryPolicy | None = None
    max_workers: int | None = None
    runtime_env: dict[str, Any] | None = None
    setup_timeout_s: float = 600.0
    teardown_timeout_s: float = 30.0
    poll_s: float = 0.5
    report: RunReport = field(default_factory=RunReport, init=False)

    @property
    def name(self) -> str:
        return str(declared(self.oracle, "name", type(self.oracle).__name__))

    def run(self, designs: list[str], on_submit: OnSubmit, on_result: OnResult,
            on_retry: OnRetry | None = None) -> int:
        """Score `designs`; return the number of failures (details in `self.report`).

        Every submitted design gets exactly one `on_result` call: a value, or a failure with
        a reason ("timeout", "worker lost: ...", the exception, "non-finite value: nan").

        Args:
            designs: the designs, in dispatch order.
            on_submit: called with each chunk before it is first dispatched.
            on_result: called with (design, result, node id) for each final result.
            on_retry: called with (design, failed result, next attempt) before a design is
                sent again (a declared-transient failure, or a lost idempotent call).

        Raises:
            ResultCountError: the oracle returned the wrong number of results (names the
                oracle and the batch); that batch's designs are reported failed first.
            ConsecutiveFailureError: more than `max_consecutive_failures` failures in a row.
            OracleSetupError: a worker's `setup()` failed or none became ready in time.
        """
        t0 = time.monotonic()
        policy = self.retry or declared(self.oracle, "retry", RetryPolicy())
        size = max(1, int(declared(self.oracle, "batch_size", 16)))
        queue = deque(_Job(i, designs[j:j + size]) for i, j in enumerate(range(0, len(designs), size)))
        n_batches = len(queue)
        cap = self.max_workers or max(1, n_batches)
        workers = fitting_workers(self.oracle, min(cap, max(1, n_batches)))
        pool: TaskPool | ActorPool = (ActorPool if uses_actors(self.oracle) else TaskPool)(
            self.oracle, workers, self.runtime_env)
        self.report = report = RunReport(designs=len(designs), workers=workers)
        timeout = declared(self.oracle, "timeout_s", None)
        idempotent = bool(declared(self.oracle, "idempotent", False))
        inflight: dict[Any, tuple[_Job, Any, float | None]] = {}  # handle -> job, slot, started
        stop: OracleError | None = None
        streak = 0
        waiting_since = time.monotonic()

        def deliver(design: str, result: OracleResult, node: str) -> None:
            nonlocal streak, stop
            if result.ok:
                report.labels += 1
                streak = 0
            else:
                report.failures += 1
                streak += 1
            on_result(design, result, node)
            limit = self.max_consecutive_failures
            if limit is not None and streak >= limit and stop is None:
                stop = ConsecutiveFailureError(
                    f"oracle {self.name!r}: {streak} consecutive failures (limit {limit}); "
                    f"last: {result.reason}")

        def again(job: _Job, results: list[OracleResult], kind: str, delay: float) -> None:
            for design, result in zip(job.designs, results):
                if on_retry is not None:
                    on_retry(design, result, job.attempt + 1)
            setattr(report, kind, getattr(report, kind) + len(job.designs))
            queue.append(_Job(job.batch, job.designs, job.attempt + 1, True, time.monotonic() + delay))

        try:
            while queue or inflight:
                now = time.monotonic()
                if stop is None and any(j.not_before <= now for j in queue):
                    for slot in pool.free_slots():
                        job = next((j for j in queue if j.not_before <= time.monotonic()), None)
                        if job is None:
                            break
                        queue.remove(job)
                        if not job.submitted:
                            on_submit(list(job.designs))
                            job.submitted = True
                        if not report.calls:
                            report.startup_s = time.monotonic() - t0
                        report.calls += len(job.designs)
                        handle = pool.submit(slot, job.designs)
                        inflight[handle] = (job, slot, time.monotonic() if pool.starts_on_dispatch else None)
                    if isinstance(pool, ActorPool) and pool.setup_error and stop is None:
                        stop = OracleSetupError(f"oracle {self.name!r}: setup failed: {pool.setup_error}")
                if stop is not None:  # nothing more goes out; retries owed get their last result
                    for job in [j for j in queue if j.submitted]:
                        for design in job.designs:
                            deliver(design, OracleResult.failure(f"not retried: {stop}"), "")
                    queue.clear()
                if not inflight:
                    if not queue:
                        break
                    if time.monotonic() - waiting_since > self.setup_timeout_s:
                        stop = OracleSetupError(f"oracle {self.name!r}: no worker ready after "
                                                f"{self.setup_timeout_s:.0f} s (resources {pool.size} x "
                                                f"{declared(self.oracle, 'num_cpus', 1.0)} CPU?)")
                        continue
                    wake = min(j.not_before for j in queue) - time.monotonic()
                    if wake > 0:  # a retry backing off
                        time.sleep(min(self.poll_s, wake))
                    else:  # actors still in set-up
                        pool.wait_ready(self.poll_s)
                    continue
                waiting_since = time.monotonic()
                wait_s = self.poll_s
                started = [s for _, _, s in inflight.values() if s is not None]
                if timeout is not None and started:
                    wait_s = max(0.0, min(wait_s, min(started) + timeout - time.monotonic()))
                ready, _ = ray.wait(list(inflight), num_returns=1, timeout=wait_s)
                for ref in ready:
                    job, slot, t_start = inflight.pop(ref)
                    try:
                        outcome: ChunkOutcome | None = pool.take(ref)
                        if outcome is None:  # the call has just started: its clock runs now
                            inflight[ref] = (job, slot, time.monotonic())
                            continue
                    except ray.exceptions.RayError as exc:  # the worker died under the call
                        pool.lost(slot, ref)
                        lost = OracleResult.failure(_ray_reason(exc))
                        if idempotent and job.attempt < policy.max_resends and stop is None:
                            again(job, [lost] * len(job.designs), "resends", 0.0)
                        else:
                            for design in job.designs:
                                deliver(design, lost, "")
                        continue
                    pool.done(slot, ref)
                    report.oracle_seconds += outcome.seconds
                    if outcome.count_error is not None:
                        err = ResultCountError(self.name, outcome.count_error.got, len(job.designs),
                                               f"{job.batch + 1} of {n_batches} ({job.designs[:3]}...)")
                        for design in job.designs:
                            deliver(design, OracleResult.failure(str(err)), outcome.node)
                        stop = stop or err
                        continue
                    retry = _Job(job.batch, [], job.attempt)
                    retry_results = []
                    for design, result in zip(job.designs, outcome.results):
                        if result.transient and job.attempt < policy.max_retries and stop is None:
                            retry.designs.append(design)
                            retry_results.append(result)
                        else:
                            deliver(design, result, outcome.node)
                    if retry.designs:
                        again(retry, retry_results, "retries", policy.delay(job.attempt + 1))
                if timeout is not None:
                    now = time.monotonic()
                    for ref, (job, slot, t_start) in list(inflight.items()):
                        if t_start is not None and now - t_start > timeout:  # never re-sent: it may have been paid
                            pool.abort(slot, ref)
                            del inflight[ref]
                            for design in job.designs:
                                deliver(design, OracleResult.failure("timeout"), "")
        finally:
            for ref, (job, slot, _) in inflight.items():  # only on an exception from a callback
                pool.abort(slot, ref)
            pool.close(self.teardown_timeout_s)
            report.seconds = time.monotonic() - t0
        if stop is not None:
            raise stop
        return report.failures
