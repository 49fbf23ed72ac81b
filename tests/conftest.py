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
