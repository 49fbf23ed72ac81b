"""A campaign on a real two-node Ray cluster: work lands where its declared resources are (oracle
calls on the worker, the surrogate's fit on the head, sampler actors on both), recorded in the
ledger and MLflow."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from mlflow import MlflowClient

from sciloop.pipeline.ledger import Ledger

SCRIPT = Path(__file__).with_name("two_node_campaign.py")


def test_campaign_on_two_nodes(tmp_path):
    run_dir = tmp_path / "run"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_ADDRESS": ""}
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(run_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=600)
    finally:  # whatever happened, nothing the script started outlives the test
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, out[-3000:]
    nodes = json.loads(next(line for line in out.splitlines() if line.startswith("NODES "))[6:])
    head, worker = nodes["head"], nodes["worker"]
    assert sorted([head, worker]) == nodes["alive"]
    assert nodes["oracle"] == [worker]  # only the worker has the oracle's custom resource
    assert nodes["proposer"] == sorted([head, worker])  # sampler actors spread over both nodes
    assert nodes["surrogate"] == [head]  # only the head has the fit task's custom resource

    ledger = Ledger.of_run_dir(run_dir)
    assert ledger.oracle_calls() == 8 + 6 and len(ledger.labels()) == 14
    client = MlflowClient(f"sqlite:///{run_dir / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("two-node").experiment_id],
                              "tags.`sciloop.round` = '1'")
    assert runs[0].data.tags["sciloop.oracle_nodes"] == worker
    assert set(runs[0].data.tags["sciloop.proposer_nodes"].split(",")) == {head, worker}
    assert runs[0].data.tags["sciloop.surrogate_nodes"] == head
