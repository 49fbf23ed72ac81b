"""A campaign against a real `mlflow server` (SQL backend, artifact proxy) and its UI in Chromium.

Needs Debian's chromium (`apt-get install -y chromium`, done by .ci/run) and Playwright for
Python (the `test` extra); the browser test is skipped, with the reason, where chromium is absent.
The browser test looks at a short real quickstart campaign (celecoxib rediscovery on the NCI
library, 2 rounds of 50) in MLflow's classic ML experiment view; with SCILOOP_SCREENSHOTS=<dir>
it saves the README's pictures there:
    SCILOOP_SCREENSHOTS=tests/pipeline/screenshots pytest tests/pipeline/test_mlflow_server.py -k ui
"""

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from rich.console import Console

from sciloop.pipeline.campaign import Campaign
from sciloop.pipeline.ledger import Ledger
from sciloop.pipeline.sync import sync
from sciloop.pipeline.tracking import EXPERIMENT_KIND, ML_EXPERIMENT

QUICKSTART = Path(__file__).parents[2] / "configs" / "quickstart.yaml"
# the quickstart, shortened: a real campaign for the pictures
SHORT_QUICKSTART = ["rounds=2", "batch_size=50", "initial.size=100"]

ROUND_METRICS = ["round", "oracle_calls", "labels", "new_labels", "failures", "best", "top1_mean",
                 "top10_mean", "top100_mean", "batch_mean", "batch_best", "diversity_top10",
                 "seconds_oracle", "seconds_total"]
PROPOSAL_METRICS = ["novelty_top10", "modes_above_initial_best", "spearman_batch", "rmse_batch",
                    "nll_batch", "miscalibration_area_batch", "proposer_loss", "proposer_log_z",
                    "seconds_surrogate", "seconds_proposer", "seconds_propose", "pool_sampled", "pool_kept"]
SCREENSHOTS = Path(os.environ.get("SCILOOP_SCREENSHOTS", "")) if os.environ.get("SCILOOP_SCREENSHOTS") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(root: Path, port: int):
    """`mlflow server` on 127.0.0.1 with an SQLite database and a proxied artifact store.

    One worker and no GenAI job runner (MLflow's defaults are 4 workers and a job runner: 34 s
    of CPU to start, against 10 s; the campaign needs neither)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'db.sqlite'}",
         "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env=dict(os.environ, MLFLOW_ENABLE_TELEMETRY="false", MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("mlflow server did not start") from None
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    with serve(tmp_path_factory.mktemp("mlflow-server"), _free_port()) as url:
        yield url


@pytest.fixture(scope="module")
def finished(mlflow_server, ray_session, tmp_path_factory, tiny_for_module):
    """A tiny finished campaign logged to the server; returns (client, experiment, run_dir)."""
    run_dir = tmp_path_factory.mktemp("campaign") / "run"
    config = tiny_for_module | {"tracking": {"uri": mlflow_server, "experiment": "served"}}
    Campaign.from_config(config, run_dir=str(run_dir), console=Console(quiet=True)).run()
    client = MlflowClient(mlflow_server)
    return client, client.get_experiment_by_name("served"), run_dir


@pytest.fixture(scope="module")
def quickstart(mlflow_server, ray_session, tmp_path_factory):
    """A short real quickstart campaign logged to the server; returns (client, experiment, run_dir)."""
    run_dir = tmp_path_factory.mktemp("quickstart") / "run"
    Campaign.from_config(QUICKSTART, [*SHORT_QUICKSTART, f"tracking.uri={mlflow_server}"],
                         run_dir=str(run_dir), console=Console(quiet=True)).run()
    client = MlflowClient(mlflow_server)
    return client, client.get_experiment_by_name("sciloop-quickstart"), run_dir


def _runs(client, experiment):
    runs = client.search_runs([experiment.experiment_id])
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    rounds = sorted((r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id),
                    key=lambda r: int(r.data.tags["sciloop.round"]))
    return parent, rounds


def test_every_metric_and_artifact_of_every_round(finished, tmp_path):
    client, experiment, run_dir = finished
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # uploaded through the server
    assert experiment.tags[EXPERIMENT_KIND] == ML_EXPERIMENT  # MLflow's classic ML view, not GenAI
    parent, rounds = _runs(client, experiment)
    assert [int(r.data.tags["sciloop.round"]) for r in rounds] == [0, 1, 2]
    for key in ("sciloop.version", "sciloop.git_commit", "sciloop.config_hash", "sciloop.ray_address"):
        assert parent.data.tags[key]
    assert "config.yaml" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    calls = [int(m.step) for m in client.get_metric_history(parent.info.run_id, "by_calls/top10_mean")]
    assert calls == [16, 24, 32]
    ledger = Ledger(run_dir / "ledger.sqlite")
    for run in rounds:
        r = int(run.data.tags["sciloop.round"])
        expected = ROUND_METRICS + (PROPOSAL_METRICS if r > 0 else [])
        missing = [m for m in expected if m not in run.data.metrics]
        assert not missing, (r, missing)
        assert run.data.metrics["oracle_calls"] == 16 + 8 * r
        paths = {a.path for folder in ("batch", "top", "plots", "checkpoints")
                 for a in client.list_artifacts(run.info.run_id, folder)}
        want = {f"batch/round-{r:03d}.json", f"top/round-{r:03d}.png", f"plots/curves-round-{r:03d}.png"}
        if r > 0:
            want |= {f"plots/reward-round-{r:03d}.png", f"plots/calibration-round-{r:03d}.png",
                     f"checkpoints/proposer-round-{r:03d}.pt", f"checkpoints/surrogate-round-{r:03d}.pt"}
            assert [d.dataset.name for d in run.inputs.dataset_inputs] == [f"labels-round-{r:03d}"]
        assert paths == want, (r, paths ^ want)
        table = json.loads(Path(client.download_artifacts(run.info.run_id, f"batch/round-{r:03d}.json",
                                                          str(tmp_path))).read_text())
        assert {"design", "score", "acquisition", "mean", "std", "status"} <= set(table["columns"])
        designs = [row[table["columns"].index("design")] for row in table["data"]]
        assert sorted(designs) == sorted(row["design"] for row in ledger.batch(r))


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")
def test_ui_shows_runs_charts_and_batch_table(quickstart, mlflow_server, tmp_path):
    """The classic ML experiment view: the runs table, the campaign's metric charts and a
    round's batch table; not the GenAI "Evaluation runs" view or its assistant panel."""
    from playwright.sync_api import sync_playwright

    client, experiment, run_dir = quickstart
    assert experiment.tags[EXPERIMENT_KIND] == ML_EXPERIMENT
    parent, rounds = _runs(client, experiment)
    shots = SCREENSHOTS or tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    base = f"{mlflow_server}/#/experiments/{experiment.experiment_id}"
    # MLflow 3.17's UI picks its view from its GenAI / Model training switch (URL parameter, then
    # the browser's local storage, then GenAI); a link with the parameter opens the ML view
    ml = "?workflowType=machine_learning"
    design = Ledger(run_dir / "ledger.sqlite").batch(1)[0]["design"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            page.goto(f"{base}/runs{ml}", wait_until="load")  # the UI polls: never wait for networkidle
            page.get_by_text("4 matching runs").wait_for(timeout=60_000)
            page.get_by_text("quickstart", exact=True).first.wait_for()
            close = page.locator("[data-component-id='mlflow.assistant.chat_panel.close']")
            if close.count():  # the assistant panel opens by itself on a first visit
                close.first.click(timeout=10_000)
            page.get_by_text("Ask questions about your experiments").wait_for(state="hidden", timeout=10_000)
            _expand_parent_run(page)
            assert page.get_by_text("Evaluation runs", exact=True).count() == 0  # not the GenAI view
            page.screenshot(path=shots / "mlflow-ui-runs.png")

            page.goto(f"{base}/runs/{parent.info.run_id}/model-metrics{ml}", wait_until="load")
            page.get_by_text("by_calls/top10_mean").first.wait_for(timeout=60_000)
            page.get_by_text("top10_mean", exact=True).first.wait_for(timeout=60_000)
            page.wait_for_timeout(3_000)  # let the charts draw
            page.screenshot(path=shots / "mlflow-ui-charts.png")

            page.goto(f"{base}/runs/{rounds[1].info.run_id}/artifacts/batch/round-001.json{ml}", wait_until="load")
            page.get_by_text(design, exact=True).first.wait_for(timeout=60_000)
            page.screenshot(path=shots / "mlflow-ui-batch.png")
        finally:
            browser.close()
    assert all((shots / f).stat().st_size > 10_000
               for f in ("mlflow-ui-runs.png", "mlflow-ui-charts.png", "mlflow-ui-batch.png"))


def _expand_parent_run(page) -> None:
    """Show the round runs under the campaign's parent run, when the table folds them."""
    expander = page.locator("[data-testid='runs-table-expand-button'], button[aria-label*='xpand']")
    if expander.count():
        with contextlib.suppress(Exception):
            expander.first.click(timeout=5_000)
            page.wait_for_timeout(500)


def test_server_down_then_sync_without_duplicates(ray_session, tmp_path, tiny):
    port = _free_port()  # nothing listens here yet
    config = tiny | {"rounds": 1, "tracking": {"uri": f"http://127.0.0.1:{port}", "experiment": "later"}}
    console = Console(record=True, width=200)
    Campaign.from_config(config, run_dir=str(tmp_path / "run"), console=console).run()
    text = console.export_text()
    assert text.count("MLflow unavailable") == 1 and "sciloop sync" in text
    ledger = Ledger(tmp_path / "run" / "ledger.sqlite")
    assert [r["stage"] for r in ledger.rounds()] == ["done", "done"] and ledger.oracle_calls() == 24

    with serve(tmp_path / "server", port) as url:
        assert sync(tmp_path / "run") == [0, 1]
        client = MlflowClient(url)
        parent, rounds = _runs(client, client.get_experiment_by_name("later"))
        assert [int(r.data.tags["sciloop.round"]) for r in rounds] == [0, 1]
        def history() -> list[int]:
            return [m.step for m in client.get_metric_history(parent.info.run_id, "by_calls/top10_mean")]

        assert history() == [16, 24]
        assert "checkpoints/proposer-round-001.pt" in {
            a.path for a in client.list_artifacts(rounds[1].info.run_id, "checkpoints")}
        assert sync(tmp_path / "run") == []  # nothing twice
        assert history() == [16, 24]
        assert len(client.search_runs([parent.info.experiment_id])) == 3
