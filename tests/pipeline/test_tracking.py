"""Tracker against a real MLflow SQLite store."""

import json
import warnings

import pytest

from sciloop.pipeline.domain import MoleculeDomain
from sciloop.pipeline.ledger import DesignRow, Ledger
from sciloop.pipeline.round_log import RoundContext, log_round
from sciloop.pipeline.tracking import Tracker, default_tracking_uri


def test_training_labels_are_a_dataset_input_and_log_without_warnings(tmp_path):
    tracker = Tracker(default_tracking_uri(tmp_path), "tracking-test", (tmp_path / "artifacts").as_uri())
    tracker.start_campaign("c", {"seed": 0}, {}, "seed: 0\n")
    run_id = tracker.start_round(1)
    ledger = tmp_path / "ledger.sqlite"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tracker.log_training_data(run_id, ["CCO", "c1ccccc1"], [0.5, 1.5], ledger, 1)
    assert [str(w.message) for w in caught if issubclass(w.category, UserWarning)] == []

    (dataset_input,) = tracker.client.get_run(run_id).inputs.dataset_inputs
    assert dataset_input.dataset.name == "labels-round-001"
    assert json.loads(dataset_input.dataset.source) == {"uri": str(ledger)}
    assert [(t.key, t.value) for t in dataset_input.tags] == [("mlflow.data.context", "training")]


def test_a_resumed_campaigns_run_is_running_again(ray_session, tmp_path, tiny):
    """A crash leaves the campaign's MLflow run FAILED; the resumed campaign (here paused for a
    lab, so nothing ends the run) shows as running, not failed."""
    from mlflow.tracking import MlflowClient
    from rich.console import Console

    from sciloop.pipeline.campaign import Campaign
    from sciloop.pipeline.ledger import Ledger

    run = tmp_path / "run"
    config = tiny | {"run_dir": str(run), "oracle": {"target": "lab"}}
    Campaign.from_config(config, console=Console(quiet=True)).run()  # exports the screen, pauses
    client = MlflowClient(default_tracking_uri(run))
    parent = Ledger(run / "ledger.sqlite").get_meta("mlflow_parent_run")
    assert client.get_run(parent).info.status == "RUNNING"
    client.set_terminated(parent, status="FAILED")  # as a crash leaves it
    Campaign.from_config(config, console=Console(quiet=True)).run()  # resumed: still awaiting the lab
    assert client.get_run(parent).info.status == "RUNNING"


class PictureRecorder(MoleculeDomain):
    """The molecule domain, noting which designs each round's picture shows."""

    def __init__(self):
        super().__init__()
        self.shown: list[list[str]] = []

    def picture(self, designs, scores, k=12):
        self.shown.append(sorted(designs))
        return super().picture(designs, scores, k)


def test_a_round_logged_later_shows_that_round_not_the_campaign_since(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite")
    for round_, keys in ((0, ["CCO", "CCN"]), (1, ["CCCl"])):
        ledger.start_round(round_)
        ledger.add_designs(round_, [DesignRow(k, k, "library") for k in keys])
        ledger.mark_submitted(keys)
        for k in keys:
            ledger.record_result(k, float(len(k)), None, "n")
    tracker = Tracker(default_tracking_uri(tmp_path), "later", (tmp_path / "artifacts").as_uri())
    tracker.start_campaign("c", {"seed": 0}, {}, "seed: 0\n")
    domain = PictureRecorder()
    run_id = tracker.start_round(0)
    log_round(tracker, ledger, run_id, 0, {"best": 3.0}, RoundContext(), domain)  # `sync`, late
    assert domain.shown == [["CCN", "CCO"]]
    (best,) = tracker.client.get_metric_history(run_id, "best")
    assert best.step == 0 and best.timestamp > 1.7e12  # when it was logged, not 1970


def test_a_moved_run_directory_keeps_its_artifacts_with_it(ray_session, tmp_path, tiny):
    import shutil

    from mlflow.tracking import MlflowClient
    from rich.console import Console

    from sciloop.pipeline.campaign import Campaign

    Campaign.from_config(tiny | {"rounds": 1}, run_dir=str(tmp_path / "a"), console=Console(quiet=True)).run()
    shutil.move(tmp_path / "a", tmp_path / "b")  # to a cluster's volume, say
    Campaign.resume(tmp_path / "b", ["rounds=2"], console=Console(quiet=True)).run()
    assert not (tmp_path / "a").exists()  # nothing written to where it was
    client = MlflowClient(default_tracking_uri(tmp_path / "b"))
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert len(runs) == 4 and all(r.info.artifact_uri.startswith((tmp_path / "b").as_uri()) for r in runs)
    round_2 = next(r for r in runs if r.data.tags.get("sciloop.round") == "2")
    assert (tmp_path / "b" / "artifacts").exists() and client.list_artifacts(round_2.info.run_id, "plots")


def test_a_moved_store_that_is_locked_is_a_connection_error_not_a_crash(tmp_path):
    """A moved run directory whose store another process holds (an MLflow UI writing) is a
    `ConnectionError` (a campaign goes on untracked, `sync` says to run it again), not sqlite's
    own error; once free, the store is pointed at the new folder."""
    import shutil
    import sqlite3

    from sciloop.pipeline.tracking import Tracker, follow_moved_run_dir

    Tracker(default_tracking_uri(tmp_path / "a"), "tiny", artifact_location=(tmp_path / "a" / "artifacts").as_uri())
    shutil.move(tmp_path / "a", tmp_path / "b")
    other = sqlite3.connect(tmp_path / "b" / "mlflow.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    with pytest.raises(ConnectionError, match="could not be updated"):
        follow_moved_run_dir(tmp_path / "b", "tiny")
    other.execute("ROLLBACK")
    other.close()
    follow_moved_run_dir(tmp_path / "b", "tiny")
    (where,) = sqlite3.connect(tmp_path / "b" / "mlflow.db").execute(
        "SELECT artifact_location FROM experiments WHERE name = 'tiny'").fetchone()
    assert where == (tmp_path / "b" / "artifacts").as_uri()


def test_a_round_that_waited_for_the_lab_keeps_its_proposal_in_the_ledger_and_mlflow(ray_session, tmp_path, tiny):
    from mlflow.tracking import MlflowClient
    from rich.console import Console

    from sciloop.pipeline.campaign import Campaign
    from sciloop.pipeline.labels import import_labels

    run = tmp_path / "run"
    config = tiny | {"run_dir": str(run), "rounds": 1, "oracle": {"target": "lab"},
                     "proposer": {"name": "offspring", "offspring_children": 100, "replay_top": 100000}}
    for _ in range(2):  # the screen, then round 1: each exported, paused, labelled by the lab, resumed
        Campaign.from_config(config, console=Console(quiet=True)).run()
        ledger = Ledger(run / "ledger.sqlite")
        sent = [r.key for r in ledger.in_flight()]
        (tmp_path / "lab.csv").write_text("design,value\n" + "".join(f"{k},{len(k) / 10}\n" for k in sent))
        assert sorted(import_labels(run, tmp_path / "lab.csv").labeled) == sorted(sent)
    Campaign.from_config(config, console=Console(quiet=True)).run()  # round 1 finishes in a third session
    metrics = ledger.rounds()[1]["metrics"]
    assert ledger.rounds()[1]["stage"] == "done" and metrics["pool_kept"] > 0 and "seconds_proposer" in metrics
    client = MlflowClient(default_tracking_uri(run))
    logged = client.get_run(ledger.rounds()[1]["mlflow_run_id"])
    assert logged.data.metrics["pool_kept"] == metrics["pool_kept"]
    assert [d.dataset.name for d in logged.inputs.dataset_inputs] == ["labels-round-001"]
    assert "sciloop.checkpoints" in logged.data.tags


@pytest.mark.parametrize("uri", ["http://alice:s3cret@mlflow:5000", "https://alice@mlflow.example.org"])
def test_a_password_in_the_tracking_uri_is_refused_without_repeating_it(tmp_path, uri):
    """Refused where the campaign connects (before anything is logged or paid), not where a config is
    read: `status`, `label` and `resume RUN tracking.uri=...` still work in a run directory that has one."""
    from sciloop.pipeline.config import ConfigError, load_config
    from sciloop.pipeline.tracking import open_campaign_tracker

    config = load_config({}, [f"tracking.uri={uri}"])
    with pytest.raises(ConfigError, match="MLFLOW_TRACKING_USERNAME") as err:
        open_campaign_tracker(config, tmp_path, Ledger(tmp_path / "ledger.sqlite"), "test")
    assert "alice" not in str(err.value) and "s3cret" not in str(err.value)


def test_a_database_stores_login_is_accepted_and_masked_in_what_is_logged(tmp_path, monkeypatch):
    """A database store (postgresql://user:pw@host/db) must carry its login in the URI: it is not
    refused as a server's is, and the password stays out of the params and the config artifact.
    The store underneath is a real MLflow sqlite store (no database server in the tests)."""
    import sciloop.pipeline.tracking as tracking
    from sciloop.pipeline.config import load_config

    store = f"sqlite:///{tmp_path / 'mlflow.db'}"
    seen = []

    class SqliteInstead(tracking.Tracker):
        def __init__(self, uri, experiment, artifact_location=None):
            seen.append(uri)
            super().__init__(store, experiment, artifact_location=(tmp_path / "artifacts").as_uri())

    monkeypatch.setattr(tracking, "Tracker", SqliteInstead)
    uri = "postgresql://alice:s3cret@db.example.org:5432/mlflow"
    config = load_config({}, [f"tracking.uri={uri}"])
    tracker = tracking.open_campaign_tracker(config, tmp_path / "run", Ledger(tmp_path / "ledger.sqlite"), "test")
    assert seen == [uri]  # MLflow is given the login
    run = tracker.client.get_run(tracker.parent_id)
    assert run.data.params["tracking.uri"] == "postgresql://alice:***@db.example.org:5432/mlflow"
    from pathlib import Path

    logged = Path(tracker.client.download_artifacts(tracker.parent_id, "config.yaml", str(tmp_path))).read_text()
    assert "alice:***@db.example.org" in logged and "s3cret" not in logged
    assert not any("s3cret" in v for v in run.data.params.values())


def test_a_shared_sqlite_store_keeps_artifacts_beside_it_not_in_the_working_directory(tmp_path, monkeypatch):
    from sciloop.pipeline.config import load_config
    from sciloop.pipeline.tracking import open_campaign_tracker

    monkeypatch.chdir(tmp_path)
    store = tmp_path / "shared" / "mlflow.db"
    store.parent.mkdir()
    config = load_config({}, [f"tracking.uri=sqlite:///{store}"])
    tracker = open_campaign_tracker(config, tmp_path / "run", Ledger(tmp_path / "ledger.sqlite"), "test")
    tracker.log_table(tracker.parent_id, [{"a": 1}], "t.json")
    assert (tmp_path / "shared" / "artifacts").is_dir() and not (tmp_path / "mlruns").exists()
