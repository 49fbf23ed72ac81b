"""The ledger's promises on the side paths: resume from elsewhere, damaged ledgers, retries,
`sciloop label` and `sync`, ask/tell, failed screens, crashed proposal stages, checkpoints.

Every oracle here appends each design it is paid for to a side file, independent of the ledger:
the counts of the fault table (labels lost, calls paid twice, calls unrecorded) come from it.
"""

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from rdkit import Chem
from rich.console import Console

from sciloop.pipeline.campaign import Campaign
from sciloop.pipeline.cli import main
from sciloop.pipeline.config import ConfigError
from sciloop.pipeline.ledger import DesignRow, Ledger, RunDirError, RunDirLock
from sciloop.pipeline.labels import import_labels

ORACLE = '''
import os

SIDE = {side!r}


def score(smiles):
    with open(SIDE, "a") as fh:  # the bill, written before the work
        fh.writelines(s + "\\n" for s in smiles)
    return [float(s.count("C")) + 0.5 * s.count("N") for s in smiles]


def fail(smiles):
    with open(SIDE, "a") as fh:
        fh.writelines(s + "\\n" for s in smiles)
    return [None] * len(smiles)


class Flaky:
    """Idempotent; each design's first call fails with a transient error."""

    idempotent = True
    batch_size = 1
    num_cpus = 0.5
    transient_errors = (TimeoutError,)

    def score(self, smiles):
        with open(SIDE, "a") as fh:
            fh.writelines(s + "\\n" for s in smiles)
        seen = open(SIDE).read().splitlines()
        if seen.count(smiles[0]) == 1:
            raise TimeoutError("busy")
        return [1.0] * len(smiles)
'''

QUIET = Console(quiet=True)


def _selected(run: Path, oracle: dict, keys: list[str]) -> Ledger:
    """A run directory whose round 0 selected `keys` and sent none of them yet."""
    Campaign.from_config({"run_dir": str(run), "oracle": oracle}, console=QUIET)._begin()
    ledger = Ledger(run / "ledger.sqlite")
    ledger.start_round(0)
    ledger.add_designs(0, [DesignRow(k, k, "library") for k in keys])
    return ledger


def _canon(s: str) -> str:
    return Chem.MolToSmiles(Chem.MolFromSmiles(s))


@pytest.fixture
def user_oracle(tmp_path, monkeypatch):
    """A side-logging oracle module `side_oracle` importable from tmp_path; returns the side file."""
    side = tmp_path / "paid.txt"
    (tmp_path / "side_oracle.py").write_text(ORACLE.format(side=str(side)))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("side_oracle", None)
    yield side
    sys.modules.pop("side_oracle", None)


def _paid(side: Path) -> list[str]:
    return [_canon(s) for s in side.read_text().splitlines()] if side.exists() else []


def _config(tiny: dict, target: str = "side_oracle:score", run_dir: str = "run") -> dict:
    tiny["oracle"] = {"target": target, "batch_size": 4, "num_cpus": 0.5}
    tiny["run_dir"] = run_dir
    return tiny


def _screened(tiny: dict, tell=lambda d: 1.0 + len(d) / 100) -> Campaign:
    """A run directory whose round 0 was screened through ask/tell (no proposer training)."""
    campaign = Campaign.from_config(tiny, console=QUIET)
    designs = campaign.propose(tiny["initial"]["size"])
    campaign.tell({d: tell(d) for d in designs})
    return campaign


# -- 1. resume RUN_DIR, wherever it is run from ------------------------------------------
def test_resume_uses_the_run_dir_it_is_given(ray_session, tmp_path, user_oracle, tiny, fault_report):
    project = tmp_path / "exp"
    project.mkdir()
    os.chdir(project)
    config = _config(tiny)
    config["rounds"] = 1
    _screened(config)  # exp/run, with round 0 done and labelled
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    assert main(["resume", "../exp/run"]) == 0
    assert not (elsewhere / "run").exists()  # no second campaign, no stray run directory
    ledger = Ledger(project / "run" / "ledger.sqlite")
    assert [r["stage"] for r in ledger.rounds()] == ["done", "done"]
    paid = _paid(user_oracle)
    assert len(paid) == 8 and not set(paid) & {l.key for l in ledger.labels() if l.round == 0}
    told = [l.key for l in ledger.labels() if l.round == 0]  # round 0 was paid through ask/tell
    assert fault_report("relative run_dir resumed elsewhere", told + paid, ledger)[1:4] == (0, 0, 0)
    assert main(["resume", str(tmp_path / "nowhere")]) == 2 and not (tmp_path / "nowhere").exists()


# -- 2. a missing or damaged ledger is refused, never taken for a new campaign ------------
@pytest.mark.parametrize("damage", ["truncate", "half", "delete"])
def test_damaged_ledger_is_refused(ray_session, tmp_path, user_oracle, tiny, capsys, damage, fault_report):
    _screened(_config(tiny)).ledger.close()  # checkpoints the WAL into the file
    db = tmp_path / "run" / "ledger.sqlite"
    size = db.stat().st_size
    if damage == "delete":
        db.unlink()
    else:
        with open(db, "r+b") as fh:
            fh.truncate(0 if damage == "truncate" else size // 2)
    before = db.read_bytes() if db.exists() else None
    paid = len(_paid(user_oracle))
    for command in (["status", "run"], ["resume", "run"], ["sync", "run"], ["label", "run", "x.csv"]):
        assert main(command) == 3, command
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "ledger" in err and len(err.splitlines()) == 1, err
    assert len(_paid(user_oracle)) == paid == 0  # nothing paid again (round 0 was told, not scored)
    name = {"truncate": "truncated to 0", "half": "truncated to half", "delete": "deleted"}[damage]
    fault_report(f"ledger {name}: all refused", [], Ledger(tmp_path / "empty.sqlite"))
    assert (db.read_bytes() if db.exists() else None) == before  # and nothing rewritten


# -- 3. every paid call is a ledger row, retries included; the budget caps them -----------
def test_retries_are_ledger_rows_and_count_against_the_budget(ray_session, tmp_path, user_oracle, tiny,
                                                             fault_report):
    config = _config(tiny, "side_oracle:Flaky")
    config["oracle"] = {"target": "side_oracle:Flaky"}
    config["initial"]["size"] = 10
    config["batch_size"] = 4
    config["budget"] = 16  # 10 first calls + 6 retries allowed, not 10
    campaign = Campaign.from_config(config, console=QUIET)
    ledger = campaign._begin()
    designs = ["CCO", "CCN", "CCC", "CCCl", "c1ccccc1", "CC(=O)O", "CCOC", "CNC", "COC", "CCCC"]
    ledger.start_round(0)
    ledger.add_designs(0, [DesignRow(_canon(d), _canon(d), "test") for d in designs])
    campaign._start_ray()
    campaign.scoring.score(ledger, ledger.designs(0), "test")
    paid = _paid(user_oracle)
    assert len(paid) == 16  # 10 first calls, 6 retries; 4 retries refused by the budget
    assert ledger.oracle_calls() == len(paid) == config["budget"]
    assert ledger.counts()["resubmitted"] == 6 and len(ledger.labels()) == 6
    assert len(ledger.failures()) == 4 and ledger.in_flight() == []
    assert fault_report("retry storm, budget-capped", paid, ledger)[1:5] == (0, 0, 0, 6)


# -- 5. sciloop label: the lock, one label per design, in-flight designs refused -----------
def test_label_and_sync_refuse_a_running_campaign(ray_session, tmp_path, user_oracle, tiny, capsys,
                                                  fault_report):
    _screened(_config(tiny))
    (tmp_path / "r.csv").write_text("design,value\nCCO,1.0\n")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time\nfrom sciloop.pipeline.ledger import "
                               "RunDirLock\nlock = RunDirLock(sys.argv[1]).__enter__()\nprint('held', flush=True)\n"
                               "time.sleep(60)", str(tmp_path / "run")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        for command in (["label", "run", "r.csv"], ["sync", "run"]):
            assert main(command) == 3
            assert "in use by another sciloop process" in capsys.readouterr().err
    finally:
        holder.kill()
        holder.wait()
    ledger = Ledger(tmp_path / "run" / "ledger.sqlite")
    told = [l.key for l in ledger.labels()]  # the screen, paid through ask/tell
    assert fault_report("label and sync while a run holds it", told, ledger)[1:4] == (0, 0, 0)


def test_one_label_per_design_is_a_database_constraint(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    ledger.start_round(0)
    ledger.add_designs(0, [DesignRow("C", "C", "library")])
    ledger.mark_submitted(["C"])
    ledger.record_result("C", 0.5, None, "node")
    with pytest.raises(RunDirError, match="already has a label"):
        ledger.record_result("C", 0.7, None, "label")
    with pytest.raises(RunDirError, match="already has a label"):
        ledger.record_result("C", None, "late failure", "node")
    with pytest.raises(sqlite3.IntegrityError):  # the index itself, whatever the code path
        with ledger._db:
            ledger._db.execute("INSERT INTO events(key, kind, value, t) VALUES ('C', 'labeled', 1.0, 0)")
    assert [l.value for l in ledger.labels()] == [0.5]


def test_ledgers_with_duplicate_labels_are_migrated_keeping_the_oracles(tmp_path):
    path = tmp_path / "ledger.sqlite"
    ledger = Ledger(path)
    ledger.start_round(0)
    ledger.add_designs(0, [DesignRow("C", "C", "library"), DesignRow("N", "N", "library")])
    ledger.mark_submitted(["C", "N"])
    ledger.close()
    db = sqlite3.connect(path)  # what an old `sciloop label` during a live run left behind
    db.execute("DROP INDEX one_label")
    db.executemany("INSERT INTO events(key, kind, value, node, t) VALUES (?, 'labeled', ?, ?, ?)",
                   [("C", 9.0, "label", 1), ("C", 0.5, "node-a", 2), ("N", 0.1, "node-b", 3)])
    db.commit()
    db.close()
    assert {(l.key, l.value) for l in Ledger(path).labels()} == {("C", 0.5), ("N", 0.1)}


def test_label_refuses_designs_in_flight_from_a_stopped_run(tmp_path):
    run = tmp_path / "run"
    ledger = _selected(run, {"target": "qed"}, ["CCO"])
    ledger.mark_submitted(["CCO"])  # in flight when the campaign was killed
    (tmp_path / "r.csv").write_text("design,value\nCCO,1.0\n")
    done = import_labels(run, tmp_path / "r.csv")
    assert done.labeled == [] and "sciloop resume" in done.skipped["CCO"]
    assert Ledger(run / "ledger.sqlite").labels() == []


def test_a_lab_hand_off_cut_short_after_marking_its_batch_sent_awaits_the_labs_labels(ray_session, tmp_path,
                                                                                      tiny, capsys):
    run = tmp_path / "run"
    tiny |= {"run_dir": str(run), "oracle": {"target": "lab"}}
    Campaign.from_config(tiny, console=QUIET).run()  # exports the screen and pauses for the lab
    ledger = Ledger(run / "ledger.sqlite")
    sent = [r.key for r in ledger.in_flight()]
    ledger.set_stage(0, "selected")  # as if killed between marking the batch sent and recording the pause
    (tmp_path / "r.csv").write_text("design,value\n" + "".join(f"{k},0.5\n" for k in sent))
    assert import_labels(run, tmp_path / "r.csv").labeled == []  # in flight from a stopped run: resume first
    Campaign.from_config(tiny, console=QUIET).run()  # resume: nothing is exported or paid again
    assert ledger.rounds()[0]["stage"] == "awaiting_labels" and ledger.oracle_calls() == len(sent)
    capsys.readouterr()
    assert main(["status", str(run)]) == 0  # label first: `resume` before it would only pause again
    out = "".join(capsys.readouterr().out.split())  # the console wraps long paths
    assert "round0awaitsthelab'sresultsfor" in out and "handoff/batch-000.csv" in out
    assert "`scilooplabel" in out and f"{len(sent)}inflight" in out
    assert sorted(import_labels(run, tmp_path / "r.csv").labeled) == sorted(sent)  # the loop is broken


def test_label_reads_a_spreadsheets_csv_and_charges_no_design_for_a_refused_row(tmp_path, capsys):
    run = tmp_path / "run"
    ledger = _selected(run, {"target": "lab", "weights": [1.0, 0.5]}, ["CCO", "CCN"])
    # "CSV UTF-8" from a spreadsheet starts with a byte-order mark; a hand-written header has spaces
    (tmp_path / "r.csv").write_text("\ufeffdesign, value_1, value_2\nCCO,0.2,0.4\nC1CC,0.1,0.1\n", encoding="utf-8")
    done = import_labels(run, tmp_path / "r.csv")
    assert done.labeled == ["CCO"]
    why = done.skipped["C1CC"]  # says why, in the domain's words
    assert why.startswith("not a valid design: ") and "no canonical form" not in why
    assert [l.value for l in ledger.labels()] == [pytest.approx(0.4)]
    # three objectives against two weights: refused before the never-sent design is charged
    (tmp_path / "bad.csv").write_text("design,value_1,value_2,value_3\nCCN,0.1,0.2,0.3\n")
    assert main(["label", str(run), str(tmp_path / "bad.csv")]) == 2
    assert "weights" in capsys.readouterr().err
    assert [r.key for r in ledger.pending()] == ["CCN"] and not ledger.in_flight()


def test_sync_with_the_tracking_server_away_is_one_error_line(tmp_path, capsys):
    run = tmp_path / "run"  # port 9 (discard) answers nothing here
    Campaign.from_config({"run_dir": str(run), "oracle": {"target": "qed"},
                          "tracking": {"uri": "http://127.0.0.1:9"}}, console=QUIET)._begin()
    assert main(["sync", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: MLflow tracking server http://127.0.0.1:9 does not answer") and "\n" not in err
    assert "nothing was synced" in err


# -- 6. ask/tell keeps the budget, the lock and the round's metrics ----------------------
def test_ask_tell_keeps_budget_lock_and_metrics(ray_session, tmp_path, user_oracle, tiny):
    config = _config(tiny)
    config["budget"] = 24
    campaign = _screened(config)
    rounds = Ledger(tmp_path / "run" / "ledger.sqlite").rounds()
    assert rounds[0]["stage"] == "done" and rounds[0]["metrics"]["best"] > 1.0
    with pytest.raises(ConfigError, match="has 8 left"):
        campaign.propose(9)
    with RunDirLock(tmp_path / "run"):  # another writer (flock is per open file: as another process)
        with pytest.raises(ConfigError, match="in use"):
            campaign.propose(1)
        with pytest.raises(ConfigError, match="in use"):
            campaign.tell({})
    assert main(["sync", "run"]) == 0  # KeyError 'best' before


# -- 7. sync after a crash during a round's MLflow logging logs nothing twice -------------
def test_sync_completes_an_interrupted_log_without_duplicates(ray_session, tmp_path, user_oracle, tiny):
    from mlflow.tracking import MlflowClient

    _screened(_config(tiny))
    assert main(["sync", "run"]) == 0
    db = tmp_path / "run" / "ledger.sqlite"
    with sqlite3.connect(db) as con:  # as if the process died before `mark_logged`
        con.execute("UPDATE rounds SET logged = 0")
    assert main(["sync", "run"]) == 0
    ledger = Ledger(db)
    client = MlflowClient(f"sqlite:///{tmp_path / 'run' / 'mlflow.db'}")
    run_id = ledger.rounds()[0]["mlflow_run_id"]
    import json

    table = json.loads(Path(client.download_artifacts(run_id, "batch/round-000.json", str(tmp_path))).read_text())
    assert len(table["data"]) == 16
    assert len(client.get_metric_history(run_id, "best")) == 1
    parent = ledger.get_meta("mlflow_parent_run")
    assert len(client.get_metric_history(parent, "by_calls/best")) == 1
    assert client.get_run(parent).info.status == "RUNNING"  # not finished: the campaign may go on
    ledger.set_meta("finished", True)  # as `run` records when its last round is done
    assert main(["sync", "run"]) == 0
    assert client.get_run(parent).info.status == "FINISHED"


# -- 9. failures are correctable; a failed screen says how to go on ---------------------
def test_a_failed_screen_can_be_corrected_by_label(ray_session, tmp_path, user_oracle, tiny, capsys):
    config = _config(tiny)
    campaign = _screened(config, tell=lambda d: None)
    with pytest.raises(RunDirError, match="needs at least 2 labels.*sciloop label"):
        campaign.propose(4)
    designs = [r.design for r in Ledger(tmp_path / "run" / "ledger.sqlite").designs(0)]
    (tmp_path / "typo.csv").write_text(f"design,value\n{designs[0]},abc\n{designs[1]},\"1,5\"\n")
    done = import_labels("run", tmp_path / "typo.csv")
    assert done.labeled == [] and done.failed == [] and len(done.skipped) == 2
    (tmp_path / "fixed.csv").write_text(f"design,value\n{designs[0]},1.5\n{designs[1]},2.5\n{designs[2]},\n")
    done = import_labels("run", tmp_path / "fixed.csv")
    assert len(done.labeled) == 2 and "only a value corrects" in done.skipped[designs[2]]
    assert sorted(l.value for l in Ledger(tmp_path / "run" / "ledger.sqlite").labels()) == [1.5, 2.5]


# -- 10. a round that crashed after its proposer checkpoint is proposed as the first time --
def test_a_crashed_proposal_round_starts_from_the_previous_checkpoint(tmp_path):
    campaign = Campaign.from_config({"run_dir": str(tmp_path / "run"), "oracle": {"target": "qed"}},
                                    console=QUIET)
    ledger = campaign._begin()
    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir()
    for r in (0, 1, 2):
        torch.save({"round": r}, folder / f"proposer-round-{r:03d}.pt")
    assert campaign.checkpoints.latest("proposer", 2).name == "proposer-round-001.pt"
    assert campaign.checkpoints.latest("proposer", 0) is None
    ledger.start_round(2)
    for _ in range(2):  # proposed, crashed, proposed again
        ledger.add_candidates(2, [("CCO", "CCO", None), ("X", None, "invalid")])
    assert ledger._db.execute("SELECT COUNT(*) FROM candidates WHERE round = 2").fetchone()[0] == 2


def test_a_label_for_a_design_never_sent_is_charged_with_its_value_or_not_at_all(tmp_path):
    run = tmp_path / "run"
    ledger = _selected(run, {"target": "lab"}, ["CCO"])
    # the value's write fails mid-import (a full disk): the design must not be left charged and in
    # flight without its value (the next import refused it as stranded; resume paid for it again)
    ledger._db.execute("CREATE TRIGGER full BEFORE INSERT ON events WHEN NEW.kind = 'labeled' "
                       "BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    (tmp_path / "r.csv").write_text("design,value\nCCO,0.5\n")
    with pytest.raises(sqlite3.IntegrityError, match="disk full"):
        import_labels(run, tmp_path / "r.csv")
    assert [r.key for r in ledger.pending()] == ["CCO"] and not ledger.in_flight() and ledger.oracle_calls() == 0
    ledger._db.execute("DROP TRIGGER full")
    assert import_labels(run, tmp_path / "r.csv").labeled == ["CCO"] and ledger.oracle_calls() == 1


# -- 11. label imports several objectives and scalarises them as the campaign does --------
def test_label_is_multi_objective(tmp_path):
    run = tmp_path / "run"
    ledger = _selected(run, {"target": "lab", "kwargs": {"value_columns": ["yield", "purity"]}, "weights": [1.0, 0.5]},
                       ["CCO"])
    ledger.mark_submitted(["CCO"])
    ledger.set_stage(0, "awaiting_labels")
    (tmp_path / "r.csv").write_text("design,yield,purity\nCCO,0.2,0.4\n")
    assert import_labels(run, tmp_path / "r.csv").labeled == ["CCO"]
    assert [l.value for l in ledger.labels()] == [pytest.approx(0.4)]
    assert ledger.vectors() == {"CCO": [0.2, 0.4]}


# -- 13. no pickle from a run directory or a config runs code ----------------------------
class _Planted:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_planted_checkpoints_run_no_code(tmp_path):
    from sciloop.proposers.gflownet import GFlowNetProposer

    marker = tmp_path / "pwned"
    campaign = Campaign.from_config({"run_dir": str(tmp_path / "run"), "oracle": {"target": "qed"}},
                                    console=QUIET)
    campaign._begin()
    (tmp_path / "run" / "checkpoints").mkdir()
    planted = tmp_path / "run" / "checkpoints" / "proposer-round-000.pt"
    torch.save({"env": _Planted(str(marker))}, planted)
    with pytest.raises(Exception, match="[Ww]eights only|Unsupported global"):
        campaign.proposal._make_proposer(1)
    with pytest.raises(Exception, match="[Ww]eights only|Unsupported global"):
        GFlowNetProposer.from_prior(planted)
    assert not marker.exists()


def test_real_proposer_checkpoints_load_as_tensors_only(tmp_path):
    from sciloop.proposers.gflownet import GFlowNetConfig, GFlowNetProposer

    proposer = GFlowNetProposer.from_corpus(["CCO", "c1ccccc1", "CCN(CC)CC"], GFlowNetConfig(hidden=16, max_len=12))
    torch.save(proposer.state_dict(), tmp_path / "p.pt")
    again = GFlowNetProposer.from_state_dict(torch.load(tmp_path / "p.pt", weights_only=True))
    assert again.state_dict()["draws"] == proposer.state_dict()["draws"]


# -- 8. paid results survive a ledger that cannot take them ------------------------------
@pytest.mark.parametrize("fault", ["enospc", "weights"])
def test_paid_results_survive_a_failing_ledger_write(ray_session, tmp_path, user_oracle, tiny, fault,
                                                     fault_report):
    from sciloop.pipeline.ledger import LedgerError

    config = _config(tiny)
    config["oracle"] |= {"batch_size": 2}
    campaign = Campaign.from_config(config, console=QUIET)
    ledger = campaign._begin()
    designs = [_canon(d) for d in ("CCO", "CCN", "CCC", "CCCl", "CC(=O)O", "CCOC", "CNC", "COC")]
    ledger.start_round(0)
    ledger.add_designs(0, [DesignRow(d, d, "test") for d in designs])
    campaign._start_ray()
    if fault == "enospc":  # an injected full disk from the third result on
        real, seen = ledger.record_result, []

        def full(*args, **kw):
            seen.append(args[0])
            if len(seen) > 2:
                raise LedgerError("cannot write the ledger: database or disk is full")
            return real(*args, **kw)

        ledger.record_result = full
        error = LedgerError
    else:  # a score vector whose length does not match `oracle.weights`
        campaign.config.oracle.weights = [1.0, 2.0]
        error = ConfigError
    with pytest.raises(error):
        campaign.scoring.score(ledger, ledger.designs(0), "test")
    ledger.record_result = Ledger.record_result.__get__(ledger)
    paid = _paid(user_oracle)
    rescued = tmp_path / "run" / "unrecorded-results.csv"
    assert rescued.exists()
    recorded = {l.key for l in ledger.labels()}
    unknown = {r.key for r in ledger.unknown()}
    assert set(paid) == recorded | unknown and not recorded & unknown  # nothing paid is lost
    assert len(paid) == len(set(paid)) == ledger.oracle_calls()  # nothing twice, nothing unrecorded
    case = "disk full (injected ENOSPC)" if fault == "enospc" else "result callback error (weights)"
    assert fault_report(case, paid, ledger)[1:4] == (0, 0, 0)
    if fault == "enospc":
        done = import_labels("run", rescued)
        assert sorted(done.labeled) == sorted(unknown)
        assert {l.key for l in ledger.labels()} == set(paid)


# -- worker death: re-sent (and recorded) for an idempotent oracle only ------------------
DYING = '''
import os

SIDE = {side!r}


class Dying:
    """Its worker dies on the first call of the design 'CCCl' (after the bill is written)."""

    batch_size = 1
    num_cpus = 0.5
    idempotent = {idempotent}

    def score(self, smiles):
        with open(SIDE, "a") as fh:
            fh.writelines(s + "\\n" for s in smiles)
        if smiles == ["CCCl"] and open(SIDE).read().splitlines().count("CCCl") == 1:
            os._exit(1)
        return [1.0] * len(smiles)
'''


@pytest.mark.parametrize("idempotent", [True, False])
def test_worker_death_is_recorded(ray_session, tmp_path, monkeypatch, tiny, idempotent, fault_report):
    side = tmp_path / "paid.txt"
    (tmp_path / "dying_oracle.py").write_text(DYING.format(side=str(side), idempotent=idempotent))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("dying_oracle", None)
    config = _config(tiny)
    config["oracle"] = {"target": "dying_oracle:Dying"}
    campaign = Campaign.from_config(config, console=QUIET)
    ledger = campaign._begin()
    designs = [_canon(d) for d in ("CCO", "CCN", "CCCl", "CCC")]
    ledger.start_round(0)
    ledger.add_designs(0, [DesignRow(d, d, "test") for d in designs])
    campaign._start_ray()
    campaign.scoring.score(ledger, ledger.designs(0), "test")
    paid = _paid(side)
    assert paid.count("CCCl") == (2 if idempotent else 1)
    assert ledger.has_label("CCCl") == idempotent
    case = f"worker death, {'idempotent' if idempotent else 'non-idempotent'} oracle"
    assert fault_report(case, paid, ledger)[1:5] == (0, 0, 0, 1 if idempotent else 0)


# -- ask/tell: a crash in the middle of `tell` loses nothing and pays nothing twice -------
ASK_TELL = """
import os, sys
from rich.console import Console
from sciloop.pipeline.campaign import Campaign
from sciloop.pipeline.ledger import Ledger

campaign = Campaign.from_config({config!r}, console=Console(quiet=True))
designs = campaign.propose(16)
import ray
assert not ray.is_initialized(), "propose() left its Ray running"
open("proposed.txt", "w").write("\\n".join(designs))
real, n = Ledger.record_result, []

def dying(self, *args, **kw):
    n.append(1)
    if len(n) > 5:
        os._exit(9)  # killed while telling the 6th result
    return real(self, *args, **kw)

Ledger.record_result = dying
campaign.tell({{d: float(len(d)) for d in designs}})
"""


def test_ask_tell_survives_a_crash_in_tell(tmp_path, monkeypatch, tiny, fault_report, capsys):
    monkeypatch.chdir(tmp_path)
    config = _config(tiny, "qed")
    config["ray"] = {"num_cpus": 2}
    (tmp_path / "driver.py").write_text(ASK_TELL.format(config=config))
    env = dict(os.environ, RAY_AUTH_MODE="disabled", PYTHONPATH="")
    out = subprocess.run([sys.executable, "driver.py"], capture_output=True, text=True, env=env, timeout=900)
    assert out.returncode == 9, out.stderr[-2000:]
    designs = (tmp_path / "proposed.txt").read_text().splitlines()
    ledger = Ledger(tmp_path / "run" / "ledger.sqlite")
    assert len(ledger.labels()) == 5 and len(ledger.in_flight()) == 11
    assert main(["status", "run"]) == 0  # not `resume`: it would send the user's designs to the config's oracle
    out = capsys.readouterr().out
    assert "Campaign.tell" in out and "sciloop resume" not in out
    (tmp_path / "r.csv").write_text(f"design,value\n{designs[6]},1.0\n")
    assert "tell it again" in import_labels(tmp_path / "run", tmp_path / "r.csv").skipped[designs[6]]
    campaign = Campaign.from_config(config, console=QUIET)
    with pytest.raises(ValueError, match="already told"):
        campaign.tell({designs[0]: 1.0})
    campaign.tell({d: float(len(d)) for d in designs[5:]})  # the user tells the rest again
    assert {l.key: l.value for l in ledger.labels()} == {d: float(len(d)) for d in designs}  # library keys
    assert ledger.rounds()[0]["stage"] == "done" and ledger.oracle_calls() == 16
    assert fault_report("ask/tell killed mid-tell", designs, ledger)[1:4] == (0, 0, 0)
