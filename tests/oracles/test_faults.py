"""Fault tests on a real local Ray: every failure has its reason, no design is paid twice.

The fault oracle counts its own calls in a side file (one line per design per call), so the
tests see what the oracle saw, not what the runner claims.
"""

import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from ray import cloudpickle

from sciloop.oracles.base import (ConsecutiveFailureError, OracleResult, OracleSetupError,
                                  ResultCountError, RetryPolicy)
from sciloop.oracles.runner import OracleRunner

cloudpickle.register_pickle_by_value(sys.modules[__name__])


class Busy(RuntimeError):
    """A transient failure (a licence server busy, say)."""


@dataclass
class FaultOracle:
    """Behaves by design prefix: ok, raise, hang, nan, kill, flaky (fails once), short, killonce."""

    side: str
    name: str = "faulty"
    num_cpus: float = 0.5
    num_gpus: float = 0.0
    timeout_s: float | None = 3.0
    batch_size: int = 1
    idempotent: bool = False
    transient_errors: tuple = (Busy,)
    retry: RetryPolicy = field(default_factory=lambda: RetryPolicy(backoff_s=0.2, max_resends=1))

    def _log(self, line: str) -> int:
        with open(self.side, "a") as f:
            f.write(line + "\n")
        return Path(self.side).read_text().splitlines().count(line)

    def score(self, batch):
        out = []
        for design in batch:
            calls = self._log(f"call {design}")
            kind = design.split(":")[0]
            if kind == "raise":
                raise ValueError(f"cannot score {design}")
            if kind == "hang":
                time.sleep(60)
            if kind == "kill" or (kind == "killonce" and calls == 1):
                os._exit(1)
            if kind == "flaky" and calls == 1:
                raise Busy("licence server busy")
            if kind == "short":
                return out
            out.append(math.nan if kind == "nan" else float(len(design)))
        return out


@dataclass
class SetUpFaultOracle(FaultOracle):
    """The same, on actors: set-up and teardown are logged too."""

    def setup(self):
        self._log(f"setup {os.getpid()}")

    def teardown(self):
        self._log(f"teardown {os.getpid()}")


def _run(runner, designs, allow=True):
    """Run, recording submissions, results and re-sends; `allow` is what `on_retry` answers."""
    submitted, results, retried = [], {}, []

    def on_result(design, result, node):
        assert design not in results, f"{design} reported twice"
        results[design] = result

    def on_retry(design, failed, attempt):
        retried.append((design, attempt))
        return allow

    runner.run(designs, submitted.extend, on_result, on_retry)
    return submitted, results, retried


def _calls(side):
    lines = Path(side).read_text().splitlines()
    return {ln.split(" ", 1)[1]: lines.count(ln) for ln in lines if ln.startswith("call ")}


FAULTS = ["ok:1", "raise:1", "ok:2", "hang:1", "nan:1", "kill:1", "flaky:1", "ok:3"]


def _check_faults(results, calls):
    assert set(results) == set(FAULTS)
    assert results["ok:1"].value == 4.0 and results["ok:3"].ok
    assert results["raise:1"].reason == "ValueError: cannot score raise:1"
    assert results["hang:1"].reason == "timeout"
    assert results["nan:1"].reason == "non-finite value: nan"
    assert results["kill:1"].reason.startswith("worker lost"), results["kill:1"]
    assert results["flaky:1"].ok  # transient: retried once, then scored
    # The oracle's own count: one call per design; the transient failure cost one more call.
    assert calls == {d: (2 if d == "flaky:1" else 1) for d in FAULTS}


@pytest.mark.parametrize("cls", [FaultOracle, SetUpFaultOracle], ids=["stateless", "setup"])
def test_each_fault_has_its_reason_and_no_design_is_paid_twice(ray_session, tmp_path, cls):
    side = str(tmp_path / "calls.txt")
    runner = OracleRunner(cls(side=side))
    t = time.monotonic()
    submitted, results, retried = _run(runner, FAULTS)
    assert time.monotonic() - t < 40
    assert sorted(submitted) == sorted(FAULTS)  # each submitted once, retries not re-submitted
    _check_faults(results, _calls(side))
    assert retried == [("flaky:1", 1)]
    r = runner.report
    assert (r.labels, r.failures, r.retries, r.resends, r.calls) == (4, 4, 1, 0, 9)
    if cls is SetUpFaultOracle:  # set up once per actor, torn down at the end
        lines = Path(side).read_text().splitlines()
        setups = [ln for ln in lines if ln.startswith("setup")]
        # the killed actor and the timed-out one are replaced: at most workers + 2 set-ups
        assert 1 <= len(setups) <= r.workers + 2
        assert any(ln.startswith("teardown") for ln in lines)


@pytest.mark.parametrize("cls", [FaultOracle, SetUpFaultOracle], ids=["stateless", "setup"])
def test_lost_worker_is_resent_only_for_idempotent_oracles(ray_session, tmp_path, cls):
    for idempotent in (False, True):
        side = str(tmp_path / f"calls-{idempotent}.txt")
        runner = OracleRunner(cls(side=side, idempotent=idempotent))
        _, results, retried = _run(runner, ["killonce:1", "ok:1"])
        calls = _calls(side)
        if idempotent:
            assert results["killonce:1"].value == 10.0 and calls["killonce:1"] == 2
            assert retried == [("killonce:1", 1)] and runner.report.resends == 1
        else:
            assert results["killonce:1"].reason.startswith("worker lost")
            assert calls["killonce:1"] == 1 and retried == []
        assert results["ok:1"].ok and calls["ok:1"] == 1


@pytest.mark.parametrize("cls", [FaultOracle, SetUpFaultOracle], ids=["stateless", "setup"])
def test_wrong_number_of_results_stops_naming_oracle_and_batch(ray_session, tmp_path, cls):
    side = str(tmp_path / "calls.txt")
    designs = ["ok:0", "ok:1", "ok:2", "short:1"] + [f"ok:{i}" for i in range(3, 11)]
    submitted, results = [], {}
    runner = OracleRunner(cls(side=side, name="docking", batch_size=2), max_workers=1)
    with pytest.raises(ResultCountError, match=r"oracle 'docking' returned 1 results for 2 designs "
                                               r"for batch 2 of 6 \(\['ok:2', 'short:1'\]"):
        runner.run(designs, submitted.extend, lambda d, r, n: results.setdefault(d, r))
    assert results["ok:1"].ok and not results["short:1"].ok and "batch 2 of 6" in results["ok:2"].reason
    assert set(results) == set(submitted)  # every submitted design has its result
    assert len(submitted) < len(designs)  # the rest were never sent: still pending for a resume


def test_consecutive_failures_stop_the_run(ray_session, tmp_path):
    side = str(tmp_path / "calls.txt")
    designs = ["ok:1", "raise:1", "raise:2", "ok:2", "raise:3", "raise:4", "raise:5"] + [f"ok:{i}" for i in range(3, 9)]
    submitted, results = [], {}
    runner = OracleRunner(FaultOracle(side=side), max_consecutive_failures=3, max_workers=1)
    with pytest.raises(ConsecutiveFailureError, match="'faulty': 3 consecutive failures"):
        runner.run(designs, submitted.extend, lambda d, r, n: results.setdefault(d, r))
    assert set(results) == set(submitted) and "raise:5" in results and "ok:8" not in submitted


def test_timeout_runs_from_the_start_of_the_call(ray_session, tmp_path):
    """Two 1.5 s calls on one worker under a 2.5 s timeout: queueing does not count."""

    def slow(xs):
        time.sleep(1.5)
        return [1.0] * len(xs)

    from sciloop.oracles.base import FunctionOracle

    runner = OracleRunner(FunctionOracle(slow, num_cpus=0.5, timeout_s=2.5, batch_size=1), max_workers=1)
    _, results, _ = _run(runner, ["a", "b"])
    assert all(r.ok for r in results.values()), results


def test_setup_failure_stops_before_anything_is_submitted(ray_session, tmp_path):
    @dataclass
    class Broken(SetUpFaultOracle):
        def setup(self):
            raise RuntimeError("model file missing")

    submitted = []
    with pytest.raises(OracleSetupError, match="model file missing"):
        OracleRunner(Broken(side=str(tmp_path / "c.txt")), max_workers=1).run(["ok:1"], submitted.extend,
                                                                              lambda *a: None)
    assert submitted == []


def test_transient_failures_give_up_after_the_policy(ray_session, tmp_path):
    def always_busy(xs):
        raise Busy("still busy")

    from sciloop.oracles.base import FunctionOracle

    oracle = FunctionOracle(always_busy, num_cpus=0.5, transient_errors=(Busy,),
                            retry=RetryPolicy(max_retries=2, backoff_s=0.1))
    runner = OracleRunner(oracle)
    _, results, retried = _run(runner, ["a"])
    assert results["a"] == OracleResult.failure("Busy: still busy", transient=True)
    assert retried == [("a", 1), ("a", 2)] and runner.report.calls == 3


@pytest.mark.parametrize("cls", [FaultOracle, SetUpFaultOracle], ids=["stateless", "setup"])
def test_refused_resend_is_final_and_never_sent(ray_session, tmp_path, cls):
    """on_retry answering False (the budget is spent) stops both kinds of re-send."""
    side = str(tmp_path / "calls.txt")
    runner = OracleRunner(cls(side=side, idempotent=True))
    _, results, retried = _run(runner, ["flaky:1", "killonce:1", "ok:1"], allow=False)
    assert sorted(retried) == [("flaky:1", 1), ("killonce:1", 1)]
    assert _calls(side) == {"flaky:1": 1, "killonce:1": 1, "ok:1": 1}
    assert results["flaky:1"].reason == "Busy: licence server busy (not re-sent)"
    assert results["killonce:1"].reason.startswith("worker lost")
    assert results["killonce:1"].reason.endswith("(not re-sent)")
    assert not results["flaky:1"].transient and results["ok:1"].ok
    r = runner.report
    assert (r.calls, r.retries, r.resends, r.failures) == (3, 0, 0, 2)


def test_resend_without_on_retry_is_never_made(ray_session, tmp_path):
    """No `on_retry` callback: nobody records a re-send, so none is made."""
    side = str(tmp_path / "calls.txt")
    results = {}
    runner = OracleRunner(FaultOracle(side=side))
    runner.run(["flaky:1"], lambda chunk: None, lambda d, r, n: results.setdefault(d, r))
    assert _calls(side) == {"flaky:1": 1} and results["flaky:1"].reason.endswith("(not re-sent)")


def test_on_retry_is_asked_right_before_each_resend(ray_session, tmp_path):
    """The oracle has been called once when the first re-send is allowed, twice at the second."""
    side = str(tmp_path / "calls.txt")
    seen = []

    def on_retry(design, failed, attempt):
        seen.append((attempt, _calls(side)[design], failed.reason))
        return True

    oracle = FaultOracle(side=side, transient_errors=(ValueError,),
                         retry=RetryPolicy(max_retries=2, backoff_s=0.1))
    runner = OracleRunner(oracle)
    runner.run(["raise:1"], lambda chunk: None, lambda d, r, n: None, on_retry)
    reason = "ValueError: cannot score raise:1"
    assert seen == [(1, 1, reason), (2, 2, reason)] and runner.report.retries == 2


def _logged_sleep(side):
    def score(xs):
        with open(side, "a") as f:
            f.writelines(f"call {x}\n" for x in xs)
        time.sleep(float(xs[0].split(":")[1]))
        return [1.0] * len(xs)

    return score


def test_a_failing_result_callback_keeps_the_paid_results(ray_session, tmp_path):
    """The ledger write fails on a result while other calls are in flight: those are still
    collected and offered, and nothing new is sent. (The failure waits for a call in flight
    rather than a fixed result: on a loaded machine the second and third workers may start
    seconds after the first.)"""
    from sciloop.oracles.base import FunctionOracle

    side = str(tmp_path / "calls.txt")
    designs = ["a:0.2", "b:3.0", "c:4.0", "d:3.5", "e:0.1", "f:0.1"]
    submitted, offered, failure = [], [], {}

    def on_result(design, result, node):
        offered.append(design)
        in_flight = set(submitted) - set(offered)
        if len(offered) >= 2 and in_flight and not failure:
            failure.update(design=design, in_flight=in_flight, sent=len(submitted))
            raise OSError("No space left on device")

    oracle = FunctionOracle(_logged_sleep(side), num_cpus=0.5, batch_size=1)
    runner = OracleRunner(oracle, max_workers=3)
    with pytest.raises(OSError, match="No space left"):
        runner.run(designs, submitted.extend, on_result)
    called = set(_calls(side))
    assert failure["in_flight"] <= set(offered)  # the calls in flight at the failure were collected
    assert set(offered) == called == set(submitted)  # every paid result was offered to on_result
    assert [(d, r.ok) for d, r, _ in runner.report.undelivered] == [(failure["design"], True)]
    assert len(submitted) == failure["sent"] < len(designs)  # nothing new was sent


def test_a_failing_submit_callback_sends_nothing_more(ray_session, tmp_path):
    side = str(tmp_path / "calls.txt")
    chunks = []

    def on_submit(chunk):
        chunks.append(chunk)
        if len(chunks) == 2:
            raise OSError("disk full")

    results = {}
    runner = OracleRunner(FaultOracle(side=side), max_workers=2)
    with pytest.raises(OSError, match="disk full"):
        runner.run(["ok:1", "ok:2", "ok:3", "ok:4"], on_submit, lambda d, r, n: results.setdefault(d, r))
    assert set(_calls(side)) == set(results) == {"ok:1"}  # the failed chunk was never sent
