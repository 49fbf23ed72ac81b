"""Lab hand-off: export a batch, the lab fills values in, the results come back."""

import csv

import pytest

from sciloop.oracles.handoff import LabOracle, export_batch, read_results


def test_round_trip(tmp_path):
    lab = LabOracle()
    designs = ["CCO", "c1ccccc1", "CC(=O)O", "CN", "C,C"]  # a comma survives CSV quoting
    path = lab.export(tmp_path, 3, designs)
    assert path == tmp_path / "handoff" / "batch-003.csv"
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["design"] for r in rows] == designs and all(r["value"] == "" for r in rows)
    # The lab fills in values: one failed with a reason, one blank, one not a number, one unknown.
    filled = tmp_path / "results.csv"
    with open(filled, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["design", "value", "reason"])
        w.writerows([["CCO", "1.5", ""], ["c1ccccc1", "", "precipitated"], ["CC(=O)O", "n/a", ""],
                     ["C,C", "2", ""], ["C,C", "3", ""], ["NOT SENT", "9", ""]])
    got = read_results(filled, expected=designs)
    assert got.results["CCO"].value == 1.5 and got.results["C,C"].value == 2.0
    assert got.results["c1ccccc1"].reason == "precipitated"
    assert got.results["CC(=O)O"].reason.startswith("not a number")
    assert got.missing == ["CN"] and got.unknown == ["NOT SENT"] and got.duplicates == ["C,C"]


def test_bad_header_is_an_error(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("smiles,score\nC,1\n")
    with pytest.raises(ValueError, match="expected columns 'design' and 'value'"):
        read_results(path)


def test_export_is_atomic_and_overwrites(tmp_path):
    export_batch(tmp_path / "b.csv", ["C"])
    export_batch(tmp_path / "b.csv", ["N", "O"])
    assert (tmp_path / "b.csv").read_text().splitlines() == ["design,value", "N,", "O,"]
    assert list(tmp_path.iterdir()) == [tmp_path / "b.csv"]
