"""One oracle call on a worker, with every way it can go wrong turned into a typed outcome.

Plain Python (no Ray): the runner makes `OracleHost` a Ray actor (which calls `call_chunk`),
and both can be tested without a cluster.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sciloop.oracles.base import OracleResult, ResultCountError, as_list, declared


@dataclass(frozen=True)
class ChunkOutcome:
    """What a worker sends back for one call.

    Attributes:
        results: one result per design, or empty when `count_error` is set.
        started: wall-clock time (`time.time()`) when the call started on the worker.
        seconds: how long the call took.
        node: the Ray node id it ran on ("" outside Ray).
        count_error: set when the oracle returned the wrong number of results.
    """

    results: list[OracleResult]
    started: float
    seconds: float
    node: str = ""
    count_error: ResultCountError | None = field(default=None)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def call_chunk(oracle: Any, chunk: list[str], node: str = "") -> ChunkOutcome:
    """Call the oracle on `chunk` and classify what happens.

    Uses the oracle's strict `evaluate` when it has one (see `FunctionOracle`), else `score`.
    Exceptions of a type in `oracle.transient_errors` give transient failures; any other
    exception fails the whole chunk with the exception as the reason; NaN/inf/None values (in
    any entry of a vector) fail their design, and so does a vector of another length than the
    declared `num_objectives`; a wrong number of results is reported as `count_error`.

    Args:
        oracle: the oracle object.
        chunk: the designs of one call.
        node: the node id to report.
    """
    started = time.time()
    fn = getattr(oracle, "evaluate", None) or oracle.score
    transient = tuple(declared(oracle, "transient_errors", ()))
    n = len(chunk)
    try:
        raw = as_list(fn(list(chunk)))
    except ResultCountError as exc:
        return ChunkOutcome([], started, time.time() - started, node, exc)
    except Exception as exc:  # the user's code: report, never crash the worker
        is_transient = bool(transient) and isinstance(exc, transient)
        results = [OracleResult.failure(_reason(exc), transient=is_transient)] * n
        return ChunkOutcome(results, started, time.time() - started, node)
    if len(raw) != n:
        error = ResultCountError(str(declared(oracle, "name", type(oracle).__name__)), len(raw), n)
        return ChunkOutcome([], started, time.time() - started, node, error)
    width = declared(oracle, "num_objectives", None)
    results = [OracleResult.from_value(r).expecting(width) for r in raw]
    return ChunkOutcome(results, started, time.time() - started, node)


class OracleHost:
    """Holds one oracle on one worker: `setup()` once, many calls, `teardown()` at the end.

    The runner makes it a Ray actor (`ray.remote(OracleHost)`), so set-up cost (loading a
    model, starting a simulator) is paid once per worker, not once per call.
    """

    def __init__(self, oracle: Any):
        self.oracle = oracle

    def node(self) -> str:
        """The node this host runs on ("" outside Ray); the runner's actor overrides it."""
        return ""

    def setup(self) -> str:
        """Run the oracle's `setup()` if it has one; return the node id."""
        fn = getattr(self.oracle, "setup", None)
        if callable(fn):
            fn()
        return self.node()

    def score(self, chunk: list[str]) -> ChunkOutcome:
        return call_chunk(self.oracle, chunk, self.node())

    def teardown(self) -> None:
        fn = getattr(self.oracle, "teardown", None)
        if callable(fn):
            fn()
