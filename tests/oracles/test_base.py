import math

from sciloop.oracles.base import FunctionOracle, Oracle, OracleResult
from sciloop.oracles.molecular import REDISCOVERY_TARGETS, Rediscovery, builtin_oracles


def test_result_from_value_rejects_non_finite():
    assert OracleResult.from_value(1.5) == OracleResult(1.5)
    assert not OracleResult.from_value(math.nan).ok
    assert "non-finite" in OracleResult.from_value(math.inf).reason
    assert not OracleResult.from_value(None).ok
    assert "not a number" in OracleResult.from_value("x").reason


def test_function_oracle_wraps_values_and_exceptions():
    oracle = FunctionOracle(lambda xs: [len(x) for x in xs])
    assert isinstance(oracle, Oracle)
    assert [r.value for r in oracle.score(["C", "CCO"])] == [1.0, 3.0]

    def broken(xs):
        raise RuntimeError("simulator crashed")

    results = FunctionOracle(broken).score(["C", "N"])
    assert all(not r.ok and "simulator crashed" in r.reason for r in results)
    wrong_len = FunctionOracle(lambda xs: [1.0]).score(["C", "N"])
    assert all("returned 1 values for 2 designs" in r.reason for r in wrong_len)


def test_rediscovery_scores_target_one_and_random_low():
    oracle = builtin_oracles()["celecoxib_rediscovery"]()
    target = REDISCOVERY_TARGETS["celecoxib"]
    res = oracle.score([target, "CCO", "not a smiles", ""])
    assert res[0].value == 1.0
    assert 0.0 <= res[1].value < 0.2
    assert res[2].reason == "invalid design" and res[3].reason == "invalid design"


def test_rediscovery_pickles_without_generator():
    import pickle

    oracle = Rediscovery(target=REDISCOVERY_TARGETS["celecoxib"])
    oracle.score(["CCO"])  # builds the (unpicklable) rdkit generator
    clone = pickle.loads(pickle.dumps(oracle))
    assert clone.score(["CCO"])[0].value == oracle.score(["CCO"])[0].value


def test_function_oracle_has_a_default_timeout():
    """A hung function must not hang the campaign: an hour per call unless declared."""
    assert FunctionOracle(len).timeout_s == 3600.0
