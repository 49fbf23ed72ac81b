"""Tracker against a real MLflow SQLite store."""

import json
import warnings

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
