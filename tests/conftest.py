"""Shared fixtures: one small local Ray cluster per test session."""

import os

import pytest

os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("MLFLOW_ENABLE_TELEMETRY", "false")


@pytest.fixture(scope="session")
def ray_session():
    """A light private Ray (2 CPUs, no dashboard, on 127.0.0.1) shared by every test that asks
    for it. Private: `ray.init()` without an address would join any `ray start` cluster on the
    host (and fail there with num_cpus)."""
    import ray

    from sciloop.pipeline.ray_runtime import LOCAL, start_ray

    owns = start_ray(LOCAL, 2, None, object_store_memory=200 * 1024**2)
    yield ray
    if owns:
        ray.shutdown()


_CRASH_ROWS: list[tuple[str, int, int, int, int]] = []


@pytest.fixture
def crash_report():
    """Collects a row per fault-injection case (printed as a table at the end of the run)."""
    return _CRASH_ROWS.append


def pytest_terminal_summary(terminalreporter):
    if _CRASH_ROWS:
        write = terminalreporter.write_line
        write("")
        write("SIGKILL fault injection: kill point | labels lost | duplicate oracle calls | unknown | paid calls")
        for kill_at, lost, duplicates, unknown, paid in _CRASH_ROWS:
            write(f"  {kill_at:18s} | {lost:11d} | {duplicates:22d} | {unknown:7d} | {paid:10d}")
