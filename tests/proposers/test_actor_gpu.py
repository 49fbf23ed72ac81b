"""Sampler actors are placed by declared GPUs: `ray.init(num_gpus=2)` logical GPUs.

The check runs in a child process with its own Ray instance (2 CPUs, 2 logical GPUs), so
it never competes with the session's GPU-less cluster. It proves Ray's placement and the
device each actor picks, not GPU work: that is `benchmarks/gpu_check.py`'s job.
"""

import json
import os
import subprocess
import sys
from collections import Counter

SCRIPT = r"""
import functools, json, ray, torch
from sciloop.proposers.actors import SamplerPool
from sciloop.proposers.mlp_policy import MLPPolicy
from sciloop.proposers.sequence_env import SequenceEnv

ray.init(address="local", num_cpus=2, num_gpus=2, include_dashboard=False,
         object_store_memory=100_000_000, log_to_driver=False)
try:
    env = SequenceEnv("ACGT", max_len=8)
    make_policy = functools.partial(MLPPolicy, env.input_dim, env.n_actions, 16, 1)
    weights = make_policy().state_dict()
    out = {"cuda_devices": torch.cuda.device_count()}
    for actors, gpus in [(2, 1.0), (4, 0.5)]:
        with SamplerPool(env, make_policy, actors, num_cpus=0.5, num_gpus=gpus, seed=1) as pool:
            traj = pool.sample(weights, 16)
            out[str(actors)] = {"n": len(traj),
                                "placement": [p.as_dict() for p in pool.last_placement]}
    print("RESULT " + json.dumps(out))
finally:
    ray.shutdown()
"""


def test_actors_one_per_gpu_and_two_per_gpu_when_fractional():
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          timeout=240, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-3000:]
    out = json.loads(lines[-1][len("RESULT "):])

    whole = out["2"]["placement"]
    assert out["2"]["n"] == 16 and len(whole) == 2
    assert sorted(g for p in whole for g in p["gpu_ids"]) == ["0", "1"]  # one actor per GPU
    assert all(len(p["gpu_ids"]) == 1 for p in whole)

    half = out["4"]["placement"]
    assert out["4"]["n"] == 16 and len({p["actor_id"] for p in half}) == 4
    assert all(len(p["gpu_ids"]) == 1 for p in half)
    assert Counter(p["gpu_ids"][0] for p in half) == {"0": 2, "1": 2}  # two actors per GPU
    # an actor runs on CUDA when its GPU id is a real device; a logical GPU beyond the machine's
    # (all of them in CI; id 1 on a one-GPU machine) leaves it on the CPU, with the same trajectories
    for p in whole + half:
        assert p["device"] == ("cuda" if int(p["gpu_ids"][0]) < out["cuda_devices"] else "cpu"), p
