"""The surrogate's fit as a Ray task placed by declared resources (`surrogates.remote`)."""

import json
import os
import subprocess
import sys
from functools import partial

import torch

from sciloop.surrogates.members import make_surrogate
from sciloop.surrogates.settings import EnsembleConfig
from sciloop.surrogates.featurizers import MorganFeaturizer
from sciloop.surrogates.remote import Placement, fit_on_ray

DESIGNS = ["CCO", "CCN", "CCCC", "c1ccccc1", "CC(=O)O", "CCOC", "CN(C)C", "c1ccncc1", "CCCl", "OCCO"]
Y = [0.1, 0.3, 0.2, 0.9, 0.4, 0.25, 0.35, 0.8, 0.15, 0.05]
CONFIG = EnsembleConfig(members=3, hidden=16, epochs=20, seed=7, num_threads=1)


def test_a_fit_on_ray_equals_the_same_fit_in_process(ray_session):
    make_featurizer = partial(MorganFeaturizer, radius=2, n_bits=256)
    state, stats, where = fit_on_ray(make_featurizer, CONFIG, DESIGNS, Y, Placement(num_cpus=0.5))
    remote = make_surrogate(make_featurizer(), CONFIG)
    remote.load_state_dict(state)
    local = make_surrogate(make_featurizer(), CONFIG)
    local_stats = local.fit(DESIGNS, Y)
    queries = ["CCCO", "c1ccc(O)cc1", "NCCN"]
    for a, b in zip(remote.predict(queries), local.predict(queries)):
        torch.testing.assert_close(a, b)  # same seed, same data: the same ensemble
    assert stats["steps"] == local_stats["steps"] and stats["n_train"] == 10
    assert where["node"] == ray_session.get_runtime_context().get_node_id() and where["gpus"] == []


SCRIPT = r"""
import json, ray
from functools import partial
from sciloop.surrogates.ensemble import EnsembleConfig
from sciloop.surrogates.featurizers import MorganFeaturizer
from sciloop.surrogates.remote import Placement, fit_on_ray

ray.init(address="local", num_cpus=2, num_gpus=2, include_dashboard=False,
         object_store_memory=100_000_000, log_to_driver=False)
try:
    make = partial(MorganFeaturizer, n_bits=64)
    cfg = EnsembleConfig(members=2, hidden=8, epochs=3)
    fits = [fit_on_ray(make, cfg, ["CCO", "CCN", "CCC"], [0.1, 0.2, 0.3], Placement(num_cpus=0.5, num_gpus=g))
            for g in (1.0, 0.5)]
    print("RESULT " + json.dumps([where for _, _, where in fits]))
finally:
    ray.shutdown()
"""


def test_the_fit_task_holds_the_gpus_it_declares():
    """Logical GPUs (`ray.init(num_gpus=2)`) in a child process: the task is given a GPU id."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=240,
                          env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    whole, half = json.loads(lines[-1][len("RESULT "):])
    assert len(whole["gpus"]) == 1 and len(half["gpus"]) == 1 and {whole["gpus"][0], half["gpus"][0]} <= {"0", "1"}
