"""Score a batch of designs on Ray in parallel, reporting every result the moment it arrives.

The caller keeps a durable ledger from three callbacks, and the runner keeps its promises on
every path:

- Nothing is charged that never started. A chunk is committed (`on_submit`: the caller writes
  its `submitted` rows) only when an actor is set up and idle, and the oracle is called only
  after `on_submit` has returned; a call never waits for a worker after its commit.
- Every re-send is visible and refusable. Ray retries nothing (actors run with
  `max_restarts=0, max_task_retries=0`; TRAPS.md). The runner sends a design again only after
  a failure the oracle declared transient (with back-off) or a call lost with its worker when
  the oracle is idempotent, and only when `on_retry` (asked right before the re-send, when a
  worker is ready) returns True. Refused: the failed result is final.
- Paid results are never thrown away. An exception from a callback stops new dispatches; the
  calls in flight are still collected and offered to `on_result`; results whose `on_result`
  raised are kept in `report.undelivered`; the first callback exception is raised at the end.
- A call fails as "timeout" after `timeout_s` from its dispatch (`DEFAULT_TIMEOUT_S` when not
  declared) unless its result is there when the runner looks (it may have come while an earlier
  result was being recorded: paid, so kept); a timed-out call counts as paid and is never sent again.
- An idle worker must still answer before a chunk is committed to it (one that died while idle,
  of memory or with its node, is replaced), so a chunk is charged only where it can run.

Errors that stop the campaign (`ResultCountError`, `ConsecutiveFailureError`,
`OracleSetupError`) are raised likewise after the calls in flight have been collected and
reported; chunks never dispatched are never submitted.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import ray

from sciloop.oracles.base import (DEFAULT_TIMEOUT_S, ConsecutiveFailureError, Oracle, OracleError,
                                  OracleResult, OracleSetupError, ResultCountError, RetryPolicy,
                                  declared)
from sciloop.oracles.calling import ChunkOutcome
from sciloop.oracles.pools import ActorPool, fitting_workers

OnSubmit = Callable[[list[str]], None]
OnResult = Callable[[str, OracleResult, str], None]  # design, result, node id
OnRetry = Callable[[str, OracleResult, int], bool]  # design, failed result, next attempt -> send?


@dataclass
class _Job:
    """A chunk to be sent: a first send, or a re-send of designs whose last attempt failed.

    Attributes:
        batch: the chunk's index in the run (for error messages).
        designs: the designs of the call.
        attempt: 0 for the first send, n for the n-th re-send.
        failed: for a re-send, each design's failed result of the previous attempt.
        kind: for a re-send, the report counter it adds to ("retries" or "resends").
        not_before: `time.monotonic()` before which it waits (retry back-off).
    """

    batch: int
    designs: list[str]
    attempt: int = 0
    failed: list[OracleResult] = field(default_factory=list)
    kind: str = ""
    not_before: float = 0.0


@dataclass
class _Call:
    """A call in flight on an actor since `started` (`time.monotonic()`)."""

    job: _Job
    actor: Any
    started: float


@dataclass
class RunReport:
    """What one `run` did.

    Attributes:
        designs: designs given to `run`.
        labels: designs with a value.
        failures: designs that failed (after any retries).
        calls: designs sent to the oracle, counting every retry and re-send.
        retries: designs sent again after a transient failure (re-sends made, not refused).
        resends: designs sent again after their worker was lost (made, not refused).
        workers: the number of actors.
        seconds: wall-clock time of the run.
        startup_s: time until the first call was dispatched (actor creation and `setup()`).
        oracle_seconds: time spent inside the oracle's calls, summed over workers.
        undelivered: (design, result, node) of final results whose `on_result` raised: paid
            for, but not recorded by the caller.
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
    undelivered: list[tuple[str, OracleResult, str]] = field(default_factory=list)


def _ray_reason(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"worker lost: {type(exc).__name__}: {(lines[-1] if lines else '')[:300]}"


def _not_resent(failed: OracleResult, why: str = "") -> OracleResult:
    """The final form of a failure that will not be sent again."""
    return OracleResult.failure(f"{failed.reason} (not re-sent{': ' + why if why else ''})")


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

        Every submitted design gets exactly one final result, offered to `on_result`: a value,
        or a failure with a reason ("timeout", "worker lost: ...", the exception, "non-finite
        value: nan", "... (not re-sent)").

        Args:
            designs: the designs, in dispatch order.
            on_submit: called with each chunk once a worker is ready to run it, before the
                call; the chunk is sent only after it returns. Never called for a re-send.
            on_result: called with (design, result, node id) for each final result.
            on_retry: called with (design, failed result, next attempt) right before each
                re-send (after a declared-transient failure, or a lost call of an idempotent
                oracle): return True to send again (the caller records the paid re-send),
                False to make the failed result final. None: nothing is ever re-sent.

        Raises:
            Exception: the first exception raised by a callback, once the calls in flight
                have been collected (see `RunReport.undelivered`).
            ResultCountError: the oracle returned the wrong number of results (names the
                oracle and the batch); that batch's designs are reported failed first.
            ConsecutiveFailureError: more than `max_consecutive_failures` failures in a row.
            OracleSetupError: a worker's `setup()` failed or none became ready in time.
        """
        _Run(self, designs, on_submit, on_result, on_retry).execute()
        return self.report.failures


class _Run:
    """One `OracleRunner.run`: the chunks to send, the calls in flight, and what stops it."""

    def __init__(self, runner: OracleRunner, designs: list[str], on_submit: OnSubmit,
                 on_result: OnResult, on_retry: OnRetry | None):
        self.runner, self.on_submit, self.on_result, self.on_retry = runner, on_submit, on_result, on_retry
        oracle = runner.oracle
        self.policy: RetryPolicy = runner.retry or declared(oracle, "retry", RetryPolicy())
        self.timeout = float(declared(oracle, "timeout_s", DEFAULT_TIMEOUT_S))
        self.idempotent = bool(declared(oracle, "idempotent", False))
        size = max(1, int(declared(oracle, "batch_size", 16)))
        self.queue = deque(_Job(i, designs[j:j + size]) for i, j in enumerate(range(0, len(designs), size)))
        self.n_batches = max(1, len(self.queue))
        workers = fitting_workers(oracle, min(runner.max_workers or self.n_batches, self.n_batches))
        self.pool = ActorPool(oracle, workers, runner.runtime_env)
        self.report = runner.report = RunReport(designs=len(designs), workers=workers)
        self.inflight: dict[ray.ObjectRef, _Call] = {}
        self.stop: OracleError | None = None
        self.callback_error: Exception | None = None
        self.streak = 0
        self.t0 = self.waiting_since = time.monotonic()

    @property
    def halted(self) -> bool:
        """Nothing more goes out: the oracle failed as a whole, or a callback raised."""
        return self.stop is not None or self.callback_error is not None

    def execute(self) -> None:
        """Dispatch and collect until every chunk is done or dropped; then raise what stopped it."""
        try:
            while self.queue or self.inflight:
                self._dispatch()
                if self.halted:
                    self._drop_queue()
                if self.inflight:
                    self._collect()
                    self._expire()
                elif self.queue:
                    self._wait_for_worker()
        finally:
            for call in self.inflight.values():  # only when the loop itself was interrupted
                self.pool.kill(call.actor)
            self.pool.close(self.runner.teardown_timeout_s)
            self.report.seconds = time.monotonic() - self.t0
        if self.callback_error is not None:
            raise self.callback_error
        if self.stop is not None:
            raise self.stop

    # -- sending -------------------------------------------------------------------------
    def _next_due(self) -> _Job | None:
        now = time.monotonic()
        return next((j for j in self.queue if j.not_before <= now), None)

    def _dispatch(self) -> None:
        """Hand due chunks to idle actors: commit each (`on_submit` / `on_retry`), then call."""
        if self.halted or self._next_due() is None:
            return
        idle = self.pool.idle()
        while idle and not self.halted:
            job = self._next_due()
            if job is None:
                break
            actor = idle.pop(0)
            if not self.pool.answers(actor, self.runner.poll_s):  # died while idle, or slow: not charged
                continue
            self.queue.remove(job)
            designs = self._commit(job)
            if designs:
                self._send(actor, job, designs)
        if self.pool.setup_error and self.stop is None:
            self.stop = OracleSetupError(
                f"oracle {self.runner.name!r}: setup failed: {self.pool.setup_error}")

    def _commit(self, job: _Job) -> list[str]:
        """Let the caller record the chunk before it goes out; return the designs to send."""
        if job.attempt == 0:
            try:
                self.on_submit(list(job.designs))
            except Exception as exc:  # not recorded: not sent
                self._callback_failed(exc)
                return []
            return job.designs
        return [design for design, failed in zip(job.designs, job.failed)
                if self._resend_allowed(design, failed, job.attempt)]

    def _resend_allowed(self, design: str, failed: OracleResult, attempt: int) -> bool:
        """Ask `on_retry`; a refused (or unasked) re-send makes the failed result final."""
        allowed = False
        if self.on_retry is not None and not self.halted:
            try:
                allowed = bool(self.on_retry(design, failed, attempt))
            except Exception as exc:
                self._callback_failed(exc)
        if not allowed:
            self._deliver(design, _not_resent(failed), "")
        return allowed

    def _send(self, actor: Any, job: _Job, designs: list[str]) -> None:
        if not self.report.calls:
            self.report.startup_s = time.monotonic() - self.t0
        self.report.calls += len(designs)
        if job.kind:
            setattr(self.report, job.kind, getattr(self.report, job.kind) + len(designs))
        ref = self.pool.submit(actor, designs)
        self.inflight[ref] = _Call(replace(job, designs=designs, failed=[]), actor, time.monotonic())

    def _again(self, job: _Job, designs: list[str], failed: list[OracleResult], kind: str,
               delay: float) -> None:
        """Queue a re-send; `on_retry` is asked when a worker is ready for it."""
        self.queue.append(_Job(job.batch, designs, job.attempt + 1, failed, kind, time.monotonic() + delay))

    def _drop_queue(self) -> None:
        """The run is halted: owed re-sends get their last failure as final; first sends were
        never submitted and are simply dropped."""
        why = str(self.callback_error or self.stop)
        jobs, self.queue = list(self.queue), deque()
        for job in jobs:
            for design, failed in zip(job.designs, job.failed):
                self._deliver(design, _not_resent(failed, why), "")

    def _wait_for_worker(self) -> None:
        """Nothing in flight: sleep through a back-off, or wait for an actor's set-up."""
        if time.monotonic() - self.waiting_since > self.runner.setup_timeout_s:
            self.stop = OracleSetupError(
                f"oracle {self.runner.name!r}: no worker ready after {self.runner.setup_timeout_s:.0f} s "
                f"(resources {self.pool.size} x {declared(self.runner.oracle, 'num_cpus', 1.0)} CPU?)")
            return
        wake = min(j.not_before for j in self.queue) - time.monotonic()
        if wake > 0:
            time.sleep(min(self.runner.poll_s, wake))
        else:
            self.pool.wait_ready(self.runner.poll_s)

    # -- collecting ----------------------------------------------------------------------
    def _collect(self) -> None:
        """Wait for a call to finish (at most `poll_s`, or until the next timeout); take it."""
        self.waiting_since = time.monotonic()
        deadline = min(c.started for c in self.inflight.values()) + self.timeout
        wait_s = max(0.0, min(self.runner.poll_s, deadline - time.monotonic()))
        ready, rest = ray.wait(list(self.inflight), num_returns=1, timeout=wait_s)
        if ready and rest:  # every call finished by now, not only the first
            ready += ray.wait(rest, num_returns=len(rest), timeout=0, fetch_local=False)[0]
        for ref in ready:
            self._take(ref)

    def _take(self, ref: ray.ObjectRef) -> None:
        call = self.inflight.pop(ref)
        try:
            outcome: ChunkOutcome = self.pool.take(ref)
        except ray.exceptions.RayError as exc:  # the actor died under the call
            self.pool.kill(call.actor)
            self._lost(call.job, OracleResult.failure(_ray_reason(exc)))
            return
        self.pool.release(call.actor)
        self.report.oracle_seconds += outcome.seconds
        if outcome.count_error is not None:
            self._wrong_count(call.job, outcome)
            return
        job, retry, failed = call.job, [], []
        for design, result in zip(job.designs, outcome.results):
            if result.transient and job.attempt < self.policy.max_retries:
                retry.append(design)
                failed.append(result)
            else:
                self._deliver(design, result, outcome.node)
        if retry:
            self._again(job, retry, failed, "retries", self.policy.delay(job.attempt + 1))

    def _lost(self, job: _Job, lost: OracleResult) -> None:
        """A call lost with its worker: re-sent only to an idempotent oracle (it may have been paid)."""
        if self.idempotent and job.attempt < self.policy.max_resends:
            self._again(job, job.designs, [lost] * len(job.designs), "resends", 0.0)
        else:
            for design in job.designs:
                self._deliver(design, lost, "")

    def _wrong_count(self, job: _Job, outcome: ChunkOutcome) -> None:
        got = outcome.count_error.got  # type: ignore[union-attr]
        err = ResultCountError(self.runner.name, got, len(job.designs),
                               f"{job.batch + 1} of {self.n_batches} ({job.designs[:3]}...)")
        for design in job.designs:
            self._deliver(design, OracleResult.failure(str(err)), outcome.node)
        self.stop = self.stop or err

    def _expire(self) -> None:
        """Fail the calls past their timeout and kill their actors; never re-sent (maybe paid). A
        call whose result is there after all is taken (it came while others were recorded)."""
        now = time.monotonic()
        late = [ref for ref, call in self.inflight.items() if now - call.started > self.timeout]
        if not late:
            return
        answered = set(ray.wait(late, num_returns=len(late), timeout=0, fetch_local=False)[0])
        for ref in late:
            if ref in answered:
                self._take(ref)
                continue
            call = self.inflight.pop(ref)
            self.pool.kill(call.actor)
            for design in call.job.designs:
                self._deliver(design, OracleResult.failure("timeout"), "")

    # -- reporting -----------------------------------------------------------------------
    def _deliver(self, design: str, result: OracleResult, node: str) -> None:
        """Count a final result and offer it to `on_result`; keep it if that raises."""
        if result.ok:
            self.report.labels += 1
            self.streak = 0
        else:
            self.report.failures += 1
            self.streak += 1
        try:
            self.on_result(design, result, node)
        except Exception as exc:
            self.report.undelivered.append((design, result, node))
            self._callback_failed(exc)
        limit = self.runner.max_consecutive_failures
        if limit is not None and self.streak >= limit and self.stop is None:
            self.stop = ConsecutiveFailureError(
                f"oracle {self.runner.name!r}: {self.streak} consecutive failures (limit {limit}); "
                f"last: {result.reason}")

    def _callback_failed(self, exc: Exception) -> None:
        """Keep the first exception from a callback; the run stops sending and finishes."""
        if self.callback_error is None:
            self.callback_error = exc
