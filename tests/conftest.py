"""Shared fixtures: one small local Ray cluster per test session."""

import os

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")


@pytest.fixture(scope="session")
def ray_session():
    """A light local Ray (2 CPUs, no dashboard) shared by every test that asks for it."""
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024**2,
                 log_to_driver=False)
    yield ray
    ray.shutdown()
