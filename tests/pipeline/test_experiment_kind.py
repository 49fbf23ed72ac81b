"""MLflow shows a campaign's experiment in its classic ML view, not the GenAI one."""

from mlflow.tracking import MlflowClient

from sciloop.pipeline.tracking import EXPERIMENT_KIND, ML_EXPERIMENT, Tracker


def test_the_tracker_tags_the_experiments_it_uses_as_ml(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    tracker = Tracker(uri, "campaign", artifact_location=(tmp_path / "artifacts").as_uri())
    client = MlflowClient(uri)
    assert client.get_experiment(tracker.experiment_id).tags[EXPERIMENT_KIND] == "custom_model_development"
    assert ML_EXPERIMENT == "custom_model_development"  # the UI's ExperimentKind for the ML view
    # an experiment that an older sciloop created (no tag): tagged on first use
    old = client.create_experiment("older", artifact_location=(tmp_path / "a2").as_uri())
    assert Tracker(uri, "older").experiment_id == old
    assert client.get_experiment(old).tags[EXPERIMENT_KIND] == ML_EXPERIMENT
    # one the user chose a kind for: kept
    theirs = client.create_experiment("theirs", artifact_location=(tmp_path / "a3").as_uri(),
                                      tags={EXPERIMENT_KIND: "genai_development"})
    Tracker(uri, "theirs")
    assert client.get_experiment(theirs).tags[EXPERIMENT_KIND] == "genai_development"
