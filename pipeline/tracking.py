"""MLflow tracking: a parent run per campaign, a nested run per round.

Everything goes through an explicit `MlflowClient` (no fluent global state), so several
campaigns can live in one process. The ledger keeps the run ids, so a resumed campaign
reattaches to its runs instead of logging params twice (MLflow params are immutable).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
import urllib.request
from urllib.parse import urlsplit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from sciloop.pipeline.config import ConfigError

PARENT_TAG = "mlflow.parentRunId"
# The experiment tag from which MLflow's UI (3.x) picks its view of an experiment. Without it
# the UI guesses, and MLflow 3.17 shows a campaign in its GenAI "Evaluation runs" view with an
# assistant panel; "custom_model_development" is the classic ML view: runs table, metric charts,
# artifacts (the values are the UI's `ExperimentKind`, in mlflow/server/js).
EXPERIMENT_KIND = "mlflow.experimentKind"
ML_EXPERIMENT = "custom_model_development"


def default_tracking_uri(run_dir: str | Path) -> str:
    """The embedded default: an SQLite store inside the run directory."""
    return f"sqlite:///{Path(run_dir).resolve() / 'mlflow.db'}"


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key + "."))
        else:
            out[key] = str(v)[:6000]
    return out


def git_commit() -> str:
    """The commit of the sciloop source tree, or 'unknown' outside a git checkout."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, timeout=5).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class Tracker:
    """The campaign's window in MLflow.

    Args:
        uri: tracking URI (`sqlite:///...`, `http://host:5000`, ...).
        experiment: experiment name, created if missing.
        artifact_location: where a *new* experiment stores artifacts (the run directory by
            default, so nothing lands in `./mlruns` of the working directory).
    """

    def __init__(self, uri: str, experiment: str, artifact_location: str | None = None):
        self.uri = uri
        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None:
            self.experiment_id = self.client.create_experiment(experiment, artifact_location=artifact_location,
                                                               tags={EXPERIMENT_KIND: ML_EXPERIMENT})
        else:
            self.experiment_id = exp.experiment_id
            if EXPERIMENT_KIND not in exp.tags:  # made by an older sciloop: MLflow would guess GenAI
                self.client.set_experiment_tag(self.experiment_id, EXPERIMENT_KIND, ML_EXPERIMENT)
        self.parent_id: str | None = None

    def start_campaign(self, name: str, params: dict[str, Any], tags: dict[str, str],
                       config_yaml: str, run_id: str | None = None) -> str:
        """Open (or reattach to) the campaign's parent run; log config as params and artifact."""
        if run_id is not None:
            self.parent_id = run_id
            return run_id
        run = self.client.create_run(self.experiment_id, run_name=name, tags=tags)
        self.parent_id = run.info.run_id
        flat = _flatten(params)
        self.client.log_batch(self.parent_id, params=[Param(k, v) for k, v in flat.items()])
        self.client.log_text(self.parent_id, config_yaml, "config.yaml")
        return self.parent_id

    def reopen(self) -> None:
        """Mark the campaign's run as running again (a resumed campaign's run was left FAILED by a
        crash or FINISHED before an extension)."""
        if self.parent_id is not None and self.client.get_run(self.parent_id).info.status != "RUNNING":
            self.client.update_run(self.parent_id, status="RUNNING")

    def start_round(self, round_: int, run_id: str | None = None) -> str:
        """Open (or reattach to) the nested run of one round."""
        if run_id is not None:
            return run_id
        run = self.client.create_run(self.experiment_id, run_name=f"round-{round_:03d}",
                                     tags={PARENT_TAG: self.parent_id or "", "sciloop.round": str(round_)})
        return run.info.run_id

    def log_metrics(self, run_id: str, metrics: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)  # MLflow's wall-time axis (0 put every point in 1970)
        ms = [Metric(k, float(v), now, step) for k, v in metrics.items() if v is not None and v == v]
        if ms:
            self.client.log_batch(run_id, metrics=ms)

    def holds(self, run_id: str) -> bool:
        """Whether run `run_id` is in this server's experiment (False: the campaign was logged
        to another server or experiment)."""
        try:
            return self.client.get_run(run_id).info.experiment_id == self.experiment_id
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return False
            raise

    def has_step(self, run_id: str, key: str, step: int) -> bool:
        """Whether metric `key` was logged at `step` (a round logged again adds nothing twice)."""
        return any(m.step == step for m in self.client.get_metric_history(run_id, key))

    def has_artifact(self, run_id: str, path: str) -> bool:
        folder = path.rsplit("/", 1)[0] if "/" in path else None
        return any(f.path == path for f in self.client.list_artifacts(run_id, folder))

    def log_table(self, run_id: str, rows: list[dict[str, Any]], path: str) -> None:
        """A table artifact, logged once (MLflow would append the rows to an existing table)."""
        if rows and not self.has_artifact(run_id, path):
            columns = {k: [r.get(k) for r in rows] for k in rows[0]}
            self.client.log_table(run_id, data=columns, artifact_file=path)

    def log_artifact(self, run_id: str, local_path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(local_path), artifact_path)

    def local_artifact_dir(self, run_id: str) -> Path | None:
        """The folder of a run's artifacts when it is on this machine's disk (the embedded
        store keeps it in the run directory); None for a tracking server's store."""
        from mlflow.utils.file_utils import local_file_uri_to_path

        uri = self.client.get_run(run_id).info.artifact_uri
        return Path(local_file_uri_to_path(uri)) if uri.startswith("file:") else None

    def link_artifact(self, run_id: str, local_path: str | Path, artifact_path: str) -> None:
        """An artifact that costs no disk space beside its original on a local store (a hard
        link, or a copy across file systems); uploaded to a tracking server's store."""
        folder = self.local_artifact_dir(run_id)
        if folder is None:
            self.log_artifact(run_id, local_path, artifact_path)
            return
        target = folder / artifact_path / Path(local_path).name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.unlink(missing_ok=True)
        try:
            os.link(local_path, tmp)
        except OSError:
            shutil.copy2(local_path, tmp)
        tmp.replace(target)

    def log_figure(self, run_id: str, figure: Any, path: str) -> None:
        self.client.log_figure(run_id, figure, path)

    def log_training_data(self, run_id: str, designs: list[str], y: list[float], ledger_path: Path,
                          round_: int) -> None:
        """The labels the round's surrogate was fit on, as an MLflow dataset input (lineage)."""
        import pandas as pd
        from mlflow.data import from_pandas
        from mlflow.data.sources import LocalArtifactDatasetSource
        from mlflow.entities import DatasetInput, InputTag

        if self.client.get_run(run_id).inputs.dataset_inputs:  # logged before a crash
            return
        df = pd.DataFrame({"design": designs, "value": y})
        # an explicit source: a plain path string makes MLflow warn on every round that the path
        # "can be interpreted in multiple ways" (mlflow/mlflow#9702, the same class registered twice)
        source = LocalArtifactDatasetSource(str(ledger_path))
        dataset = from_pandas(df, source=source, targets="value", name=f"labels-round-{round_:03d}")
        self.client.log_inputs(run_id, [DatasetInput(dataset._to_mlflow_entity(),
                                                      tags=[InputTag("mlflow.data.context", "training")])])

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        self.client.log_batch(run_id, tags=[RunTag(k, v) for k, v in tags.items()])

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)


def quiet_store_logs() -> None:
    """Hide the INFO lines MLflow's SQL store prints when it creates or migrates its tables
    ("Creating initial MLflow database tables...", alembic's "Context impl SQLiteImpl");
    warnings and errors still show."""
    for name in ("alembic", "mlflow.store"):
        logging.getLogger(name).setLevel(logging.WARNING)


_REFUSALS = {
    "UNAUTHENTICATED": ("HTTP 401, no valid user: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD "
                        "to a user of that server where sciloop runs"),
    "PERMISSION_DENIED": ("HTTP 403: the user may not use the experiment, or the server's --allowed-hosts "
                          "does not list the host:port of tracking.uri"),
}


def masked_uri(uri: str) -> str:
    """`uri` with its password (if any) replaced by `***`, as it may be shown or logged."""
    parts = urlsplit(uri)
    if not parts.password:
        return uri
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


def _beside_sqlite_store(uri: str) -> str | None:
    """Where a new experiment of a local SQLite store (`sqlite:///path/mlflow.db`) keeps artifacts:
    `artifacts/` beside the database (MLflow's default is `./mlruns` of whatever directory the
    campaign was started from). None for any other store (a server decides for itself)."""
    if not uri.startswith("sqlite:///"):
        return None
    return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "artifacts").as_uri()


def follow_moved_run_dir(run_dir: Path, experiment: str) -> None:
    """Point the embedded store at the artifacts of `run_dir` where it was moved or copied from
    elsewhere: MLflow fixes an experiment's and each run's artifact folder as absolute URIs when
    they are made (and has no call to change them), so a moved campaign's figures and checkpoint
    links went to the old folder, made again if gone, or into the original campaign's."""
    import sqlite3

    db, here = run_dir / "mlflow.db", (run_dir / "artifacts").as_uri()
    if not db.exists():
        return
    con = sqlite3.connect(db)
    try:
        with con:  # one transaction
            try:
                row = con.execute("SELECT artifact_location FROM experiments WHERE name = ?", (experiment,)).fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                row = None  # no tables yet (a store whose creation was cut short)
            if row is None or row[0] == here:
                return
            old = row[0]
            con.execute("UPDATE experiments SET artifact_location = ? WHERE name = ?", (here, experiment))
            con.execute("UPDATE runs SET artifact_uri = ? || substr(artifact_uri, ?) "
                        "WHERE substr(artifact_uri, 1, ?) = ?", (here, len(old) + 1, len(old), old))
    except sqlite3.OperationalError as exc:  # locked: an MLflow UI or server writing to it
        raise ConnectionError(f"the MLflow store {db} could not be updated ({exc})") from None
    finally:
        con.close()


def open_campaign_tracker(config, run_dir: Path, ledger, version: str,
                          log: Callable[[str], None] | None = None) -> Tracker:
    """Connect to the campaign's tracking store and open (or reattach to) its parent run.

    A campaign whose `tracking` moved (another server or experiment, which `resume` allows) is
    logged afresh there: the ledger forgets the old run ids, and `sciloop sync` logs the rounds
    finished before the move.

    The embedded store keeps artifacts in the run directory; a tracking server decides for
    itself (with `--artifacts-destination`, clients on other nodes upload through it).
    A server that does not answer its health check within seconds raises `ConnectionError`; one
    that refuses sciloop's user or Host raises `ConfigError` (a campaign then stops before any call).

    Args:
        config: the `CampaignConfig`.
        run_dir: the campaign's run directory.
        ledger: the campaign's `Ledger` (it keeps the parent run id).
        version: sciloop's version, as a tag.
        log: told when the campaign moved.
    """
    cfg = config.tracking
    parts = urlsplit(cfg.uri or "")
    if parts.scheme in ("http", "https") and (parts.username or parts.password):
        # it would go to every warning, and urllib's health check cannot use it (a database store,
        # postgresql://user:pw@host/db, must carry its login: it is masked in what is logged)
        raise ConfigError(f"tracking.uri carries a user or password: give the server without it (`sciloop "
                          f"resume {run_dir} tracking.uri=...` for a campaign that has one) and set "
                          f"MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD in the environment")
    uri = cfg.uri or default_tracking_uri(run_dir)
    quiet_store_logs()
    if cfg.uri is None:
        follow_moved_run_dir(run_dir, cfg.experiment)
    if uri.startswith(("http://", "https://")):
        # fail in seconds, not after minutes of the client's retries
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "30")
        try:
            urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=5)
        except OSError as exc:
            raise ConnectionError(f"MLflow tracking server {uri} does not answer ({exc})") from None
    local = (run_dir / "artifacts").as_uri() if cfg.uri is None else _beside_sqlite_store(cfg.uri)
    try:  # the first request that needs a user (a server's /health answers everyone)
        tracker = Tracker(uri, cfg.experiment, artifact_location=local)
    except MlflowException as exc:
        refused = _REFUSALS.get(str(exc.error_code))
        if refused is None:
            raise
        raise ConfigError(f"MLflow tracking server {masked_uri(uri)} refused sciloop ({refused}); "
                          f"nothing was logged") from None
    import ray

    tags = {"sciloop.version": version, "sciloop.git_commit": git_commit(),
            "sciloop.config_hash": config.digest(), "sciloop.run_dir": str(run_dir),
            "sciloop.ray_address": ray.get_runtime_context().gcs_address if ray.is_initialized() else "none"}
    parent = ledger.get_meta("mlflow_parent_run")
    if parent is not None and not tracker.holds(parent):  # the campaign moved to another server or experiment
        ledger.forget_mlflow_runs()  # log it afresh there; `sciloop sync` adds the rounds before
        parent = None
        if log is not None:
            log(f"MLflow experiment {cfg.experiment!r} at {masked_uri(uri)} has none of this campaign's runs (it was "
                f"logged elsewhere): its rounds "
                f"are logged there from now on; `sciloop sync {run_dir}` adds the earlier ones")
    params, config_yaml = config.model_dump(mode="json"), config.to_yaml()
    if parts.password:  # a database store's login: not in the params or the config artifact
        params["tracking"]["uri"] = masked = masked_uri(cfg.uri)
        config_yaml = config_yaml.replace(cfg.uri, masked)
    run_id = tracker.start_campaign(config.name, params, tags, config_yaml, run_id=parent)
    ledger.set_meta("mlflow_parent_run", run_id)
    return tracker
