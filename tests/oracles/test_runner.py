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


def _a_while(xs):
    time.sleep(1.5)
    return [1.0] * len(xs)


def test_a_result_that_came_while_another_was_recorded_is_kept_not_timed_out(ray_session):
    """Two calls overlap; recording the first (a slow ledger write) outlasts the second's time
    limit, though the second answered within it. Its value is there, paid: it is taken, not
    failed as a timeout."""
    results = []

    def slow_record(design, result, node):
        results.append((design, result))
        if len(results) == 1:
            time.sleep(6.0)

    runner = OracleRunner(FunctionOracle(_a_while, num_cpus=0.5, timeout_s=4.0, batch_size=1), max_workers=2)
    runner.run(["A", "B"], lambda chunk: None, slow_record)
    assert sorted((d, r.value, r.reason) for d, r in results) == [("A", 1.0, None), ("B", 1.0, None)]


class DiesWhenIdle:
    """Scores, then, after its first call, its worker process exits a moment later (an out-of-memory
    kill while idle, say). Every design it is handed is written to a side file first: what the
    oracle really saw."""

    name, num_cpus, batch_size, idempotent, timeout_s = "dies-when-idle", 0.5, 1, False, 60.0

    def __init__(self, side):
        self.side = side

    def score(self, xs):
        import threading

        with open(self.side, "a") as fh:
            fh.writelines(f"{x}\n" for x in xs)
        if len(open(self.side).read().splitlines()) == 1:  # its replacement lives on
            threading.Thread(target=lambda: (time.sleep(0.3), os._exit(1)), daemon=True).start()
        return [1.0] * len(xs)


def test_a_worker_that_died_while_idle_is_replaced_before_anything_is_charged_to_it(ray_session, tmp_path):
    side = tmp_path / "seen.txt"
    submitted, results = [], {}

    def on_result(design, result, node):
        results[design] = result
        time.sleep(1.5)  # the ledger write; meanwhile the idle worker dies

    OracleRunner(DiesWhenIdle(str(side)), max_workers=1).run(["A", "B"], submitted.extend, on_result)
    assert submitted == side.read_text().splitlines() == ["A", "B"]  # charged = what the oracle saw
    assert results["B"].value == 1.0


def test_a_slow_idle_worker_is_pinged_once_however_often_it_is_asked(ray_session):
    """`answers` on an actor that is slow to answer keeps its one ping: asking again every poll
    must not queue another ping each time (the actor runs them all before its next call)."""
    import ray

    from sciloop.oracles.pools import ActorPool, _RayHost

    class CountsPings(_RayHost):
        pings = 0

        def node(self) -> str:
            self.pings += 1
            return super().node()

        def busy(self, seconds: float) -> None:
            time.sleep(seconds)

        def count(self) -> int:
            return self.pings

    pool = ActorPool(FunctionOracle(len), 1)
    pool._cls = ray.remote(CountsPings).options(num_cpus=0)
    pool.wait_ready(60)
    (actor,) = pool.idle()
    actor.busy.remote(2.0)  # slow: the pings wait behind this
    assert [pool.answers(actor, 0.05) for _ in range(5)] == [False] * 5
    assert pool.answers(actor, 30)
    assert ray.get(actor.count.remote()) == 2  # set-up's own call, and one ping
    pool.close(10)
