"""The oracle runner on a real local Ray."""

import os
import sys
import time

from ray import cloudpickle  # Ray serialises with its own vendored copy

from sciloop.oracles.base import FunctionOracle
from sciloop.oracles.runner import OracleRunner

# Functions of this test module travel to the Ray workers by value (a user's module would be
# shipped with the runtime_env instead; see tests/pipeline/test_plugins.py).
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _record(runner, designs):
    submitted, results = [], []
    failures = runner.run(designs, submitted.extend, lambda d, r, n: results.append((d, r, n)))
    return submitted, results, failures


def test_scores_every_design_once_with_node_ids(ray_session):
    oracle = FunctionOracle(lambda xs: [float(len(x)) for x in xs], batch_size=3, num_cpus=0.5)
    designs = [f"C{'C' * i}" for i in range(10)]
    submitted, results, failures = _record(OracleRunner(oracle), designs)
    assert failures == 0
    assert sorted(submitted) == sorted(designs)
    assert sorted(d for d, _, _ in results) == sorted(designs)
    assert all(r.value == len(d) for d, r, _ in results)
    assert {n for _, _, n in results} == {ray_session.get_runtime_context().get_node_id()}


def _crash(xs):
    os._exit(1)  # the worker process dies mid-call


def test_worker_death_is_a_failure_not_a_retry(ray_session):
    submitted, results, failures = _record(OracleRunner(FunctionOracle(_crash, num_cpus=0.5)), ["C", "N"])
    assert failures == 2 and len(results) == 2
    assert all(r.reason.startswith("worker lost") for _, r, _ in results), results
    assert all("Error" in r.reason for _, r, _ in results), results  # Ray's error type


def _slow(xs):
    time.sleep(30)
    return [1.0] * len(xs)


def test_timeout_fails_the_call(ray_session):
    oracle = FunctionOracle(_slow, num_cpus=0.5, timeout_s=2.0)
    t = time.monotonic()
    _, results, failures = _record(OracleRunner(oracle), ["C"])
    assert failures == 1 and results[0][1].reason == "timeout"
    assert time.monotonic() - t < 20


def test_each_design_is_called_exactly_once(ray_session, tmp_path):
    side = tmp_path / "calls.txt"

    def logged(xs):
        with open(side, "a") as f:
            f.writelines(f"{x}\n" for x in xs)
        return [1.0] * len(xs)

    designs = [f"d{i}" for i in range(32)]
    runner = OracleRunner(FunctionOracle(logged, batch_size=4, num_cpus=0.5))
    submitted, results, failures = _record(runner, designs)
    assert failures == 0 and sorted(side.read_text().splitlines()) == sorted(designs)
    assert runner.report.calls == 32 and runner.report.workers == 4  # 2 CPUs / 0.5


class SlowToUnpickle:
    """A stateless oracle whose unpickling on a worker takes 2 s (a large model, say).

    It writes when it arrived on the worker and when it was called, so the test can compare
    both with when the driver committed the chunk (`on_submit`).
    """

    name = "slow-unpickle"
    num_cpus = 0.5
    batch_size = 1

    def __init__(self, side):
        self.side = side

    def _log(self, what):
        with open(self.side, "a") as f:
            f.write(f"{what} {time.time()}\n")

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._log("arrived")
        time.sleep(2.0)
        self._log("ready")

    def score(self, xs):
        self._log("called")
        return [1.0] * len(xs)


def test_submit_is_written_only_once_a_worker_is_ready(ray_session, tmp_path):
    """Never started is provable: a chunk is committed only when a worker can run it at once."""
    side = tmp_path / "events.txt"
    submitted_at = []
    runner = OracleRunner(SlowToUnpickle(str(side)), max_workers=1)
    runner.run(["a", "b"], lambda chunk: submitted_at.append(time.time()), lambda *a: None)
    events = [ln.split() for ln in side.read_text().splitlines()]
    ready = [float(t) for what, t in events if what == "ready"]
    called = [float(t) for what, t in events if what == "called"]
    assert len(submitted_at) == len(called) == 2
    assert max(ready) < min(submitted_at)  # the worker was ready before anything was committed
    assert all(s < c for s, c in zip(submitted_at, called))  # the oracle ran after the commit
