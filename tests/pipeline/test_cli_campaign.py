"""The user's path: `sciloop run` in a directory holding their own oracle module.

Here sciloop starts Ray itself, so the module travels to the workers in the job's
runtime_env (`py_modules`), as it would to a cluster.
"""

import os
import subprocess
import sys

import yaml

from sciloop.pipeline.ledger import Ledger

ORACLE = '''
def score(smiles):
    """Counts nitrogens; refuses designs with sulfur like a failing simulator would."""
    if any("S" in s for s in smiles):
        raise RuntimeError("simulator cannot handle sulfur")
    return [s.count("N") + 0.1 * len(s) for s in smiles]
'''


def test_sciloop_run_with_an_oracle_from_the_working_directory(tmp_path):
    (tmp_path / "my_lab_oracle.py").write_text(ORACLE)
    config = {
        "name": "user", "seed": 1, "rounds": 1, "batch_size": 6, "run_dir": "run",
        "initial": {"size": 12},
        "oracle": {"target": "my_lab_oracle:score", "batch_size": 3, "num_cpus": 0.5},
        "surrogate": {"members": 4, "hidden": 32, "epochs": 10},
        "proposer": {"steps": 3, "batch_size": 16, "hidden": 32, "max_len": 20,
                     "pretrain_steps": 3, "num_actors": 2, "pool_factor": 3},
        "ray": {"num_cpus": 2},
    }
    (tmp_path / "campaign.yaml").write_text(yaml.safe_dump(config))
    env = dict(os.environ, RAY_AUTH_MODE="disabled", PYTHONPATH="")
    cli = [sys.executable, "-c", "import sys; from sciloop.pipeline.cli import main; sys.exit(main())"]
    out = subprocess.run([*cli, "run", "campaign.yaml", "proposer.steps=2"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "oracle calls" in out.stdout  # the closing summary table
    ledger = Ledger(tmp_path / "run" / "ledger.sqlite")
    assert ledger.oracle_calls() == 18
    counts = ledger.counts()
    assert counts.get("labeled", 0) > 0  # the module reached the workers and scored
    for _design, reason in ledger.failures():
        assert "simulator cannot handle sulfur" in reason
    status = subprocess.run([*cli, "status", "run"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert status.returncode == 0 and "18 oracle calls" in status.stdout
