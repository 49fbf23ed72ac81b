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
_FAULT_ROWS: list[tuple[str, int, int, int, int, int]] = []


@pytest.fixture
def crash_report():
    """Collects a row per SIGKILL case (printed as a table at the end of the run)."""
    return _CRASH_ROWS.append


@pytest.fixture
def fault_report():
    """`report(case, paid, ledger)`: a fault table row (case, labels lost, paid twice,
    unrecorded, re-sends, paid), counted from an oracle-side log against the ledger (see
    `fault_counts`), printed at the end of the run and returned for the test's assertions."""
    def report(case: str, paid: list[str], ledger) -> tuple[str, int, int, int, int, int]:
        row = fault_counts(case, paid, ledger)
        _FAULT_ROWS.append(row)
        return row

    return report


def fault_counts(case: str, paid: list[str], ledger) -> tuple[str, int, int, int, int, int]:
    """The fault table's counts for one case.

    Args:
        paid: canonical keys, one per call the oracle was paid for (its own log).
        ledger: the run's `Ledger`.

    Labels lost: paid designs with no outcome in the ledger (label, failure or `unknown`). Paid
    twice: calls beyond one per design that the ledger did not record as re-sends. Unrecorded:
    paid calls the ledger does not count (negative: charged calls the oracle never saw).
    """
    import collections

    outcomes = {l.key for l in ledger.labels()} | {r.key for r in ledger.unknown() + ledger.failed()}
    resends = ledger.counts().get("resubmitted", 0)
    extra = sum(n - 1 for n in collections.Counter(paid).values())
    lost = len({k for k in paid if k not in outcomes})
    return case, lost, max(0, extra - resends), len(paid) - ledger.oracle_calls(), resends, len(paid)


def pytest_terminal_summary(terminalreporter):
    write = terminalreporter.write_line
    if _CRASH_ROWS:
        write("")
        write("SIGKILL fault injection: kill point | labels lost | duplicate oracle calls | unknown | paid calls")
        for kill_at, lost, duplicates, unknown, paid in _CRASH_ROWS:
            write(f"  {kill_at:18s} | {lost:11d} | {duplicates:22d} | {unknown:7d} | {paid:10d}")
    if _FAULT_ROWS:
        write("")
        write("fault table: case | labels lost | paid twice | unrecorded | re-sends (recorded) | paid calls")
        for case, lost, twice, unrecorded, resends, paid in _FAULT_ROWS:
            write(f"  {case:34s} | {lost:11d} | {twice:10d} | {unrecorded:10d} | {resends:19d} | {paid:10d}")
