"""Score a batch of designs on Ray in parallel, reporting every result the moment it arrives.

Ray would retry a task whose worker died, paying the oracle twice behind the ledger's back
(see TRAPS.md), so every oracle task runs with `max_retries=0`. The caller is told about each
chunk *before* it is dispatched (`on_submit`) and about each result as it arrives
(`on_result`), so a durable record can be written at both points.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable

import ray

from sciloop.oracles.base import Oracle, OracleResult

OnSubmit = Callable[[list[str]], None]
OnResult = Callable[[str, OracleResult, str], None]  # design, result, node id


def _score_chunk(oracle: Oracle, chunk: list[str]) -> tuple[list[OracleResult], str]:
    """Ray task body: score one chunk and say on which node it ran."""
    node = ray.get_runtime_context().get_node_id()
    try:
        results = list(oracle.score(list(chunk)))
    except Exception as exc:  # a broken oracle fails its chunk, not the campaign
        results = [OracleResult.failure(f"{type(exc).__name__}: {exc}")] * len(chunk)
    if len(results) != len(chunk):
        results = [OracleResult.failure(f"oracle returned {len(results)} results "
                                        f"for {len(chunk)} designs")] * len(chunk)
    return results, node


@dataclass
class OracleRunner:
    """Runs an oracle over batches on Ray with its declared resources and timeout.

    Args:
        oracle: what to call; shipped to the workers by pickling (its code must be importable
            there: an installed package, or a module shipped with the job's runtime_env).
    """

    oracle: Oracle

    def run(self, designs: list[str], on_submit: OnSubmit, on_result: OnResult) -> int:
        """Score `designs`; return the number of failures.

        Every design gets exactly one `on_result` call: a value, or a failure with a reason
        ("timeout", "worker lost: ...").
        """
        size = max(1, int(self.oracle.batch_size))
        chunks = [designs[i:i + size] for i in range(0, len(designs), size)]
        options: dict[str, Any] = dict(num_cpus=self.oracle.num_cpus,
                                       num_gpus=self.oracle.num_gpus, max_retries=0)
        task = ray.remote(_score_chunk).options(**options)
        oracle_ref = ray.put(self.oracle)
        pending: dict[ray.ObjectRef, tuple[list[str], float]] = {}
        for chunk in chunks:
            on_submit(chunk)
            pending[task.remote(oracle_ref, chunk)] = (chunk, time.monotonic())
        failures = 0
        timeout = self.oracle.timeout_s
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
            for ref in ready:
                chunk, _started = pending.pop(ref)
                try:
                    results, node = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    reason = f"worker lost: {type(exc).__name__}: {str(exc).strip().splitlines()[-1][:300]}"
                    results, node = [OracleResult.failure(reason)] * len(chunk), ""
                for design, result in zip(chunk, results):
                    failures += not result.ok
                    on_result(design, result, node)
            if timeout is not None:
                now = time.monotonic()
                for ref, (chunk, started) in list(pending.items()):
                    # The clock starts at dispatch, so queueing counts: a generous timeout
                    # is the user's call; a chunk is never re-sent after it.
                    if now - started > timeout:
                        ray.cancel(ref, force=True)
                        pending.pop(ref)
                        for design in chunk:
                            failures += 1
                            on_result(design, OracleResult.failure("timeout"), "")
        return failures
