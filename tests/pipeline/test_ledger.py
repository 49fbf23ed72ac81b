import sqlite3

import pytest

from sciloop.pipeline.ledger import DesignRow, Ledger


def test_events_labels_and_one_submission_per_key(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.start_round(0)
    ledger.add_designs(0, [DesignRow("C", "C", "library"), DesignRow("CC", "CC", "library")])
    assert {r.key for r in ledger.pending()} == {"C", "CC"}
    ledger.mark_submitted(["C", "CC"])
    assert ledger.pending() == [] and ledger.oracle_calls() == 2
    ledger.record_result("C", 0.5, None, "node-a")
    ledger.record_result("CC", None, "timeout", "")
    assert [(l.key, l.value) for l in ledger.labels()] == [("C", 0.5)]
    assert ledger.failures() == [("CC", "timeout")]
    with pytest.raises(sqlite3.IntegrityError):
        ledger.mark_submitted(["C"])  # never paid twice
    with pytest.raises(sqlite3.IntegrityError):
        ledger.add_designs(1, [DesignRow("C", "C", "gflownet")])
    assert ledger.counts() == {"submitted": 2, "labeled": 1, "failed": 1, "designs": 2}


def test_rounds_and_meta_survive_reopen(tmp_path):
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    ledger.set_meta("mlflow_parent_run", "abc")
    ledger.start_round(0)
    ledger.set_stage(0, "selected", mlflow_run_id="r0")
    ledger.finish_round(0, {"best": 0.4})
    ledger.close()
    again = Ledger(path)
    assert again.get_meta("mlflow_parent_run") == "abc"
    (r,) = again.rounds()
    assert r["stage"] == "done" and r["mlflow_run_id"] == "r0" and r["metrics"] == {"best": 0.4}
