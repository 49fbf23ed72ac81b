"""The worker side of a call, without Ray."""

import math

from sciloop.oracles.base import FunctionOracle, OracleResult, RetryPolicy
from sciloop.oracles.calling import OracleHost, call_chunk


class Flaky(Exception):
    pass


def test_classifies_exceptions_values_and_counts():
    def fn(xs):
        if "boom" in xs:
            raise Flaky("try later")
        if "crash" in xs:
            raise KeyError("k")
        return [math.inf if x == "inf" else 1.0 for x in xs][: 1 if "short" in xs else None]

    oracle = FunctionOracle(fn, name="f", transient_errors=(Flaky,))
    ok = call_chunk(oracle, ["a", "inf"])
    assert ok.results[0] == OracleResult(1.0) and ok.results[1].reason == "non-finite value: inf"
    assert ok.seconds >= 0 and ok.count_error is None
    assert call_chunk(oracle, ["boom"]).results == [OracleResult.failure("Flaky: try later", transient=True)]
    assert call_chunk(oracle, ["crash"]).results[0] == OracleResult.failure("KeyError: 'k'")
    short = call_chunk(oracle, ["short", "b"])
    assert short.results == [] and short.count_error.got == 1 and short.count_error.expected == 2


def test_score_only_objects_and_raw_values():
    class Raw:
        name = "raw"

        def score(self, xs):
            return [None, "x", (1, 2), OracleResult.failure("bad", transient=True)][: len(xs)]

    res = call_chunk(Raw(), ["a", "b", "c", "d"]).results
    assert [r.reason for r in res][::2] == ["no value", None] and res[3].reason == "bad"
    assert res[1].reason.startswith("not a number: 'x'")  # text is not a number, whatever it spells
    assert res[2].value == (1.0, 2.0) and res[3].transient  # a vector score; a transient failure
    assert call_chunk(Raw(), ["a", "b", "c", "d", "e"]).count_error.expected == 5
    # {design: score}: a list would take the designs for the scores ("not a number: 'a'")
    by_design = call_chunk(FunctionOracle(lambda xs: {x: 1.0 for x in xs}), ["a", "b"]).results
    assert all(r.reason == "TypeError: returned a dict: return a list of values in the order of the designs given"
               for r in by_design)


def test_host_runs_setup_and_teardown():
    events = []

    class WithSetup:
        def setup(self):
            events.append("setup")

        def teardown(self):
            events.append("teardown")

        def score(self, xs):
            return [1.0] * len(xs)

    host = OracleHost(WithSetup())
    host.setup()
    assert host.score(["a"]).results == [OracleResult(1.0)]
    host.teardown()
    assert events == ["setup", "teardown"]


def test_retry_policy_backoff():
    p = RetryPolicy(backoff_s=1.0, factor=2.0, max_backoff_s=5.0)
    assert [p.delay(a) for a in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]
