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
