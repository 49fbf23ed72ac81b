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


def test_the_call_curve_has_one_point_per_paid_call(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.start_round(0)
    keys = ["A", "B", "C", "D", "E", "F"]
    ledger.add_designs(0, [DesignRow(k, k, "library") for k in keys])
    ledger.mark_submitted(["A", "B", "C", "D", "E"])
    ledger.record_result("A", 0.5, None, "n")
    ledger.mark_resent("B", "TimeoutError")  # a retry: two paid calls, one value
    ledger.record_result("B", 0.7, None, "n")
    ledger.record_result("C", None, "ValueError", "n")
    ledger.mark_unknown(["D"], "in flight at a crash")
    ledger.record_result("E", 0.2, None, "n")
    ledger.record_result("C", 0.9, None, "label")  # corrections by `sciloop label`: no new call
    ledger.record_result("D", 0.4, None, "label")
    ledger.mark_submitted(["F"])  # never sent, labelled from elsewhere: a call
    ledger.record_result("F", 0.1, None, "label")
    assert ledger.oracle_calls() == len(ledger.call_values()) == 7
    assert ledger.calls() == [("A", 0.5), ("B", None), ("B", 0.7), ("C", 0.9), ("D", 0.4), ("E", 0.2), ("F", 0.1)]
    ledger.start_round(1)
    ledger.add_designs(1, [DesignRow("G", "G", "offspring")])
    ledger.mark_submitted(["G"])
    ledger.record_result("G", 0.8, None, "n")
    assert ledger.call_values(through_round=0) == ledger.call_values()[:-1]  # as of round 0 (a `sync` later)


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


def test_run_dir_lock_refuses_a_second_holder(tmp_path):
    import subprocess
    import sys

    from sciloop.pipeline.config import ConfigError
    from sciloop.pipeline.ledger import RunDirLock

    with RunDirLock(tmp_path):
        with pytest.raises(ConfigError, match=r"in use by another sciloop process \(pid \d+\)"):
            with RunDirLock(tmp_path):
                pass
        # another process is refused too (flock is per open file, so this is the real case)
        code = "import sys; from sciloop.pipeline.ledger import RunDirLock; RunDirLock(sys.argv[1]).__enter__()"
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True)
        assert out.returncode != 0 and "in use by another sciloop process" in out.stderr
    with RunDirLock(tmp_path):  # released on exit
        pass


def test_in_flight_unknown_and_resubmitted(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.add_designs(0, [DesignRow(k, k, "library") for k in ("C", "N", "O")])
    ledger.mark_submitted(["C", "N", "O"])
    ledger.record_result("C", 1.0, None, "n")
    assert [r.key for r in ledger.in_flight()] == ["N", "O"]
    ledger.mark_unknown(["N"], "in flight")
    ledger.mark_resubmitted(["O"])
    assert [r.key for r in ledger.unknown()] == ["N"] and [r.key for r in ledger.in_flight()] == ["O"]
    assert ledger.oracle_calls() == 4  # the re-send is paid for
    ledger.record_result("O", 2.0, None, "n")
    assert ledger.in_flight() == [] and [r.key for r in ledger.designs(0)] == ["C", "N", "O"]


def test_label_import(tmp_path):
    from sciloop.pipeline.cli import main

    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.add_designs(0, [DesignRow(k, k, "library") for k in ("CCO", "CCN", "CCC", "c1ccccc1")])
    ledger.mark_submitted(["CCO", "CCN", "CCC"])
    ledger.record_result("CCC", 0.1, None, "n")
    ledger.mark_unknown(["CCO"], "in flight")
    (tmp_path / "results.csv").write_text(
        "design,value\nOCC,0.5\nCCN,oops\nCCC,0.9\nc1ccccc1,0.7\nCCCl,1.0\nnot-smiles,1\n")
    assert main(["label", str(tmp_path), str(tmp_path / "results.csv")]) == 0
    labels = {l.key: l.value for l in ledger.labels()}
    assert labels == {"CCO": 0.5, "CCC": 0.1, "c1ccccc1": 0.7}  # CCC kept its first value
    # a typo is not a result: CCN stays in flight (a stopped run's: `sciloop resume` settles it)
    assert ledger.failures() == [] and [r.key for r in ledger.in_flight()] == ["CCN"]
    assert ledger.unknown() == [] and ledger.pending() == []


def test_disk_full_fails_clearly_and_leaves_the_ledger_valid(tmp_path):
    from sciloop.pipeline.ledger import LedgerError

    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.add_designs(0, [DesignRow("C", "C", "library")])
    ledger.mark_submitted(["C"])
    ledger.record_result("C", 1.0, None, "n")
    pages = ledger._db.execute("PRAGMA page_count").fetchone()[0]
    ledger._db.execute(f"PRAGMA max_page_count = {pages}")  # the disk is now full
    rows = [DesignRow(f"C{'C' * i}O", f"C{'C' * i}O", "gflownet", 0.1, 0.2, 0.3) for i in range(2000)]
    with pytest.raises(LedgerError, match="cannot write the ledger .*full.*sciloop resume"):
        ledger.add_designs(1, rows)
    ledger.close()
    again = Ledger(tmp_path / "ledger.sqlite")
    assert again._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert [r.key for r in again.designs(0)] == ["C"] and again.designs(1) == []  # all or nothing
    assert [(l.key, l.value) for l in again.labels()] == [("C", 1.0)]


def test_unopenable_ledger_fails_clearly(tmp_path):
    """A read-only run directory (or, as root, who can write anywhere, a path that is no file)."""
    import os

    from sciloop.pipeline.ledger import LedgerError

    if os.geteuid() == 0:  # root writes anyway: make the file itself unopenable instead
        (tmp_path / "ledger.sqlite").mkdir()
    else:
        tmp_path.chmod(0o500)
    with pytest.raises(LedgerError, match="cannot open the ledger"):
        Ledger(tmp_path / "ledger.sqlite")


def test_vectors_and_placements(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.start_round(0)
    ledger.add_designs(0, [DesignRow("C", "C", "library"), DesignRow("CC", "CC", "library")])
    ledger.mark_submitted(["C", "CC"])
    ledger.record_result("C", 0.5, None, "node-a", vector=[0.2, 0.8])
    ledger.record_result("CC", 0.3, None, "node-b")
    assert ledger.vectors() == {"C": [0.2, 0.8]}
    ledger.record_placements(0, "proposer", [{"node": "node-a", "worker": "actor-1", "gpus": ("0",)}])
    assert ledger.nodes("proposer") == {"node-a"} and ledger.nodes("proposer", 1) == set()
    assert ledger.nodes("oracle", 0) == {"node-a", "node-b"}


def test_a_ledger_from_before_vectors_gains_the_column(tmp_path):
    path = tmp_path / "ledger.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE events(id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, "
               "kind TEXT NOT NULL, value REAL, reason TEXT, node TEXT, t REAL NOT NULL)")
    db.execute("INSERT INTO events(key, kind, value, t) VALUES ('C', 'submitted', NULL, 0)")
    db.commit()
    db.close()
    ledger = Ledger(path)
    assert ledger.oracle_calls() == 1 and ledger.vectors() == {}
