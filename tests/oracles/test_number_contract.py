"""The oracle contract takes numbers, never text: `'12.5'` from an oracle fails with a reason;
the lab CSV import parses its text itself."""

import csv
import math

import numpy as np
import pytest
import torch

from sciloop.oracles.base import FunctionOracle, OracleResult
from sciloop.oracles.handoff import read_results


@pytest.mark.parametrize("value, expected", [
    (3, 3.0), (1.5, 1.5), (np.float32(0.5), 0.5), (np.int64(7), 7.0), (torch.tensor(2.0), 2.0),
    ([1, 2.5], (1.0, 2.5)), ((np.float64(0.1), 2), (0.1, 2.0)), (np.array([0.5, 1.0]), (0.5, 1.0)),
])
def test_numbers_and_vectors_of_numbers_are_accepted(value, expected):
    assert OracleResult.from_value(value).value == pytest.approx(expected)


@pytest.mark.parametrize("value", ["12.5", b"12.5", "abc", ["1.0", 2.0], np.array(["1.5"]), {"v": 1}])
def test_text_and_other_objects_fail_saying_what_the_contract_accepts(value):
    result = OracleResult.from_value(value)
    assert not result.ok
    assert result.reason.startswith("not a number: ")  # what `sciloop label` skips as a typo
    assert "an int, a float, a numpy or torch scalar, or a list/tuple of those" in result.reason


def test_a_string_score_names_its_type():
    assert OracleResult.from_value("12.5").reason.startswith("not a number: '12.5' (a str); an oracle returns")


@pytest.mark.parametrize("value, reason", [(None, "no value"), (math.nan, "non-finite value: nan"),
                                           (math.inf, "non-finite value: inf"),
                                           ([1.0, -math.inf], "non-finite value: -inf")])
def test_none_nan_and_inf_fail(value, reason):
    assert OracleResult.from_value(value).reason == reason


def test_a_function_returning_text_fails_each_design():
    results = FunctionOracle(lambda xs: ["12.5" for _ in xs]).score(["C", "N"])
    assert [r.ok for r in results] == [False, False]
    assert all(r.reason.startswith("not a number: '12.5'") for r in results)


def test_lab_csv_text_is_parsed_to_numbers(tmp_path):
    path = tmp_path / "results.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["design", "value", "purity", "reason"])
        w.writerows([["CCO", "12.5", "0.9", ""], ["CN", " 1e-3 ", "1", ""], ["CC", "abc", "1", ""],
                     ["CCC", "1", "n/a", ""], ["CCN", "nan", "1", ""], ["CCCC", "x", "1", "spilled"]])
    one = read_results(path).results
    assert one["CCO"].value == 12.5 and one["CN"].value == 0.001
    assert one["CC"].reason == "not a number: 'abc'"
    assert one["CCN"].reason == "non-finite value: nan"
    assert one["CCCC"].reason == "spilled"  # the lab's own reason wins
    two = read_results(path, value_columns=("value", "purity")).results
    assert two["CCO"].value == (12.5, 0.9)
    assert two["CCC"].reason == "not a number: 'n/a'"
