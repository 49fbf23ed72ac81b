"""The same campaign submitted as a Ray Job to a running cluster (`ray start` + `ray job submit`)."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from sciloop.pipeline.ledger import Ledger

BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not (BIN / "ray").exists(), reason="the ray CLI is not installed")
def test_campaign_as_a_ray_job(tmp_path, tiny):
    temp = tempfile.mkdtemp(prefix="rj", dir="/tmp")  # Ray's socket paths must stay short
    port, dash = _free_port(), _free_port()
    # every port explicit: the test session may run a Ray of its own on the default ones
    ports = {flag: _free_port() for flag in ("dashboard-agent-listen-port", "dashboard-agent-grpc-port",
                                              "metrics-export-port", "runtime-env-agent-port",
                                              "ray-client-server-port")}
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": ""}
    head = subprocess.Popen(
        [str(BIN / "ray"), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=true", f"--dashboard-port={dash}", "--dashboard-host=127.0.0.1",
         f"--temp-dir={temp}", "--object-store-memory=100000000",
         *(f"--{flag}={p}" for flag, p in ports.items())],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        tiny["rounds"] = 1
        tiny["run_dir"] = str(tmp_path / "run")
        config = tmp_path / "campaign.yaml"
        config.write_text(yaml.safe_dump(tiny))
        deadline = time.monotonic() + 120
        while True:  # the job server answers once the dashboard is up
            up = subprocess.run([str(BIN / "ray"), "job", "list", "--address", f"http://127.0.0.1:{dash}"],
                                capture_output=True, text=True, env=env)
            if up.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert up.returncode == 0, up.stderr[-2000:]
        for _ in range(60):  # the job server answers before its agent is ready on a busy machine
            job = subprocess.run(
                [str(BIN / "ray"), "job", "submit", "--address", f"http://127.0.0.1:{dash}", "--",
                 str(BIN / "sciloop"), "run", str(config)],
                capture_output=True, text=True, env=env, timeout=600)
            out = job.stdout + job.stderr
            if "No available agent" not in out:
                break
            time.sleep(2)
        assert job.returncode == 0 and "succeeded" in out.lower(), out[-3000:]
        ledger = Ledger.of_run_dir(tmp_path / "run")
        assert len(ledger.labels()) == tiny["initial"]["size"] + tiny["batch_size"]
        assert len(ledger.nodes("oracle")) == 1  # scored on the cluster's node, not in a local Ray
        assert ledger.failures() == []
        client = MlflowClient(f"sqlite:///{tmp_path / 'run' / 'mlflow.db'}")
        campaign_runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
        addresses = {r.data.tags.get("sciloop.ray_address") for r in campaign_runs} - {None}
        assert len(addresses) == 1 and addresses.pop().endswith(f":{port}")  # the cluster, not a local Ray
    finally:
        try:
            os.killpg(head.pid, signal.SIGTERM)
            head.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(head.pid, signal.SIGKILL)
        shutil.rmtree(temp, ignore_errors=True)
