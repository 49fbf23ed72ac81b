"""Multi-objective oracles: a vector per design through every adapter and the runner on Ray."""

import csv
import math
import sys
from dataclasses import dataclass

import numpy as np
import pytest
from ray import cloudpickle
from sciloop.oracles.base import FunctionOracle, OracleResult
from sciloop.oracles.calling import call_chunk
from sciloop.oracles.external import CommandOracle
from sciloop.oracles.handoff import LabOracle, read_results
from sciloop.oracles.runner import OracleRunner
from sciloop.oracles.synthetic import TwoTokenFractions

cloudpickle.register_pickle_by_value(sys.modules[__name__])


def _vectors(xs):
    """Two objectives by design: "nan"/"inf" put a non-finite entry, "three" returns three."""
    out = []
    for x in xs:
        if x == "nan":
            out.append([1.0, math.nan])
        elif x == "inf":
            out.append((math.inf, 0.0))
        elif x == "three":
            out.append([1.0, 2.0, 3.0])
        elif x == "nested":
            out.append([[1.0], 2.0])
        else:
            out.append([float(len(x)), -float(len(x))])
    return out


def _array(xs):
    return np.array([[len(x), x.count("C")] for x in xs], dtype=np.float64)


def _run(oracle, designs):
    results = {}
    failures = OracleRunner(oracle).run(designs, lambda c: None, lambda d, r, n: results.__setitem__(d, r))
    return results, failures


def test_result_holds_a_tuple_and_rejects_bad_vectors():
    r = OracleResult.from_value([1, 2.5])
    assert r.value == (1.0, 2.5) and r.values == (1.0, 2.5) and r.num_objectives == 2
    assert OracleResult.from_value(0.5).values == (0.5,) and OracleResult.from_value(0.5).num_objectives == 1
    assert OracleResult.from_value(np.array([0.1, 0.2])).value == pytest.approx((0.1, 0.2))
    assert OracleResult.from_value(np.float32(0.5)).value == 0.5
    assert "non-finite value: nan" == OracleResult.from_value((0.0, math.nan)).reason
    assert "non-finite value: -inf" == OracleResult.from_value(np.array([-np.inf, 1.0])).reason
    assert OracleResult.from_value([]).reason == "empty vector"
    assert OracleResult.from_value([[1.0], 2.0]).reason.startswith("not a number")
    assert OracleResult.from_value([1.0, 2.0, 3.0]).expecting(2).reason == \
        "wrong number of objectives: 3 (expected 2)"
    assert OracleResult.from_value(1.0).expecting(2).reason == "wrong number of objectives: 1 (expected 2)"
    assert OracleResult.from_value([1.0, 2.0]).expecting(2).ok


def test_vectors_on_ray_tasks_with_bad_entries_failing_one_design(ray_session):
    oracle = FunctionOracle(_vectors, name="vec", num_cpus=0.5, batch_size=2, num_objectives=2)
    designs = ["C", "CCO", "nan", "inf", "three", "nested", "CCCC"]
    results, failures = _run(oracle, designs)
    assert failures == 4
    assert results["C"].value == (1.0, -1.0) and results["CCCC"].values == (4.0, -4.0)
    assert results["nan"].reason == "non-finite value: nan"
    assert results["inf"].reason == "non-finite value: inf"
    assert results["three"].reason == "wrong number of objectives: 3 (expected 2)"
    assert results["nested"].reason.startswith("not a number")


def test_a_2d_array_is_one_vector_per_design(ray_session):
    results, failures = _run(FunctionOracle(_array, num_cpus=0.5, batch_size=3), ["CC", "CCO", "N", "CNC"])
    assert failures == 0
    assert {d: r.value for d, r in results.items()} == {"CC": (2.0, 2.0), "CCO": (3.0, 2.0),
                                                        "N": (1.0, 0.0), "CNC": (3.0, 2.0)}


@dataclass
class _SetUpVectors:
    """A class oracle with set-up (so it runs on actors) returning tuples."""

    name: str = "vec-actor"
    num_cpus: float = 0.5
    num_gpus: float = 0.0
    timeout_s: float | None = 30.0
    batch_size: int = 2
    idempotent: bool = True
    num_objectives: int = 2

    def setup(self):
        self.scale = 10.0

    def score(self, xs):
        return [(self.scale * len(x), math.nan if x == "bad" else 1.0) for x in xs]


def test_vectors_on_actors_and_builtin_two_objective_toy(ray_session):
    results, failures = _run(_SetUpVectors(), ["C", "CC", "bad"])
    assert failures == 1 and results["CC"].value == (20.0, 1.0)
    assert results["bad"].reason == "non-finite value: nan"
    results, failures = _run(TwoTokenFractions(), ["AACC", "ACGT", ""])
    assert failures == 1 and results["ACGT"].value == (0.25, 0.25) and results["AACC"].value == (0.5, 0.5)


def test_wrong_width_declared_by_a_class_oracle_fails_the_design():
    oracle = _SetUpVectors(num_objectives=3)
    oracle.setup()
    outcome = call_chunk(oracle, ["C"])
    assert outcome.results[0].reason == "wrong number of objectives: 2 (expected 3)"


def test_external_command_vectors_on_ray(ray_session, tmp_path):
    script = tmp_path / "two.py"
    script.write_text(
        "import sys\n"
        "xs = open(sys.argv[1]).read().splitlines()\n"
        "lines = {'nan': '1.0,nan', 'junk': '1.0 x'}\n"
        "open(sys.argv[2], 'w').write(''.join(lines.get(x, f'{len(x)}, {x.count(\"C\")}') + '\\n' for x in xs))\n")
    oracle = CommandOracle([sys.executable, str(script), "{input}", "{output}"], num_cpus=0.5, batch_size=2)
    results, failures = _run(oracle, ["CCO", "nan", "junk", "CC"])
    assert results["CCO"].value == (3.0, 2.0) and results["CC"].value == (2.0, 2.0)
    assert results["nan"].reason == "command reported failure: 'nan'"
    assert results["junk"].reason == "malformed output: 'x'"
    assert failures == 2
    three = CommandOracle([sys.executable, "-c", "print('1 2 3')"], num_objectives=2).score(["C"])
    assert three[0].reason == "wrong number of objectives: 3 (expected 2)"
    csv_script = tmp_path / "two_csv.py"
    csv_script.write_text(
        "import sys\n"
        "xs = open(sys.argv[1]).read().splitlines()\n"
        "print('design,yield,purity')\n"
        "for x in xs: print(f'{x},{len(x)},{0.5 if x != \"N\" else \"\"}')\n")
    oracle = CommandOracle([sys.executable, str(csv_script), "{input}"], output_format="csv",
                           value_columns=("yield", "purity"), num_cpus=0.5)
    results, failures = _run(oracle, ["CCO", "N"])
    assert results["CCO"].value == (3.0, 0.5) and failures == 1
    assert results["N"].reason == "command reported failure: ''"


def test_lab_hand_off_with_two_value_columns(tmp_path):
    lab = LabOracle(value_columns=("yield", "purity"))
    path = lab.export(tmp_path, 1, ["CCO", "CN", "CC"])
    assert path.read_text().splitlines() == ["design,yield,purity", "CCO,,", "CN,,", "CC,,"]
    filled = tmp_path / "results.csv"
    with open(filled, "w", newline="") as f:
        csv.writer(f).writerows([["design", "yield", "purity", "reason"], ["CCO", "0.8", "0.95", ""],
                                 ["CN", "0.5", "", "no purity assay"], ["CC", "0.1", "inf", ""]])
    got = lab.read(filled, expected=["CCO", "CN", "CC"])
    assert got.results["CCO"].value == (0.8, 0.95)
    assert got.results["CN"].reason == "no purity assay"
    assert got.results["CC"].reason == "non-finite value: inf"
    bad = tmp_path / "bad.csv"
    bad.write_text("design,yield\nCCO,1\n")
    with pytest.raises(ValueError, match="'design' and 'yield' and 'purity'"):
        read_results(bad, value_columns=("yield", "purity"))
