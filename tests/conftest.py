"""Shared fixtures: one small local Ray cluster per test session."""

import os
import time
import warnings

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


def _poll(read, done, timeout: float) -> float:
    """`read()`, polled every 0.1 s until `done(value)` or `timeout` seconds pass (Ray returns a
    killed actor's CPUs a moment after the kill); the last value read."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _free_cpus(ray, until: float, timeout: float) -> float:
    """The shared Ray's free CPUs, polled until they reach `until` or `timeout` seconds pass."""
    return _poll(lambda: ray.available_resources().get("CPU", 0.0), lambda cpus: cpus >= until, timeout)


class HeldCpus:
    """CPUs a test's own actors hold on the shared Ray: what is free now, against what was free
    when the test began (after waiting for every CPU to be free: an earlier test's actor that is
    slow to go, or never goes, is not this test's, and is reported by `ray_cpus_released`)."""

    def __init__(self, ray) -> None:
        self.ray = ray
        self.baseline = _free_cpus(ray, ray.cluster_resources().get("CPU", 0.0), 20.0)

    def __call__(self, expected: float, timeout: float = 20.0) -> float:
        """CPUs held now, polled for up to `timeout` seconds until they equal `expected`."""
        return _poll(lambda: self.baseline - self.ray.available_resources().get("CPU", 0.0),
                     lambda held: held == expected, timeout)


@pytest.fixture
def held_cpus(ray_session) -> HeldCpus:
    """`held_cpus(expected)`: CPUs this test's actors hold on the shared Ray (see `HeldCpus`)."""
    return HeldCpus(ray_session)


_LEAK_ROWS: list[tuple[str, float, float]] = []


@pytest.fixture(autouse=True)
def ray_cpus_released(request):
    """After a test on the shared Ray: every CPU is free again within 10 s, or the test and the
    CPUs still held are listed at the end of the run (an actor a test left alive holds them from
    every later test in its worker)."""
    yield
    if "ray_session" not in request.fixturenames:
        return
    ray = request.getfixturevalue("ray_session")
    if ray.is_initialized():
        total = ray.cluster_resources().get("CPU", 0.0)
        free = _free_cpus(ray, total, 10.0)
        if free < total:
            _LEAK_ROWS.append((request.node.nodeid, total - free, total))


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
    if _LEAK_ROWS:
        write("")
        write("Ray CPUs still held 10 s after a test (an actor left alive: the first row's test, or one "
              "it ran after in its worker): test | CPUs held | of")
        for nodeid, held, total in _LEAK_ROWS:
            write(f"  {nodeid} | {held:g} | {total:g}")
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


# ----- test tiers: `make test-fast` runs `-m "not slow"`, `make test` (CI) runs everything -----

#: Fixtures that mean Ray or a whole campaign: the shared Ray, the tiny end-to-end campaign config.
CAMPAIGN_FIXTURES = {"ray_session", "tiny", "tiny_for_module"}

#: Modules whose tests start Ray, an MLflow server, a subprocess or a whole campaign.
SLOW_MODULES = {
    "tests/oracles/test_external.py",        # each test runs the command oracle's subprocess
    "tests/pipeline/test_campaign.py",
    "tests/pipeline/test_cli_campaign.py",
    "tests/pipeline/test_crash_resume.py",
    "tests/pipeline/test_mlflow_server.py",
    "tests/pipeline/test_ray_job.py",
    "tests/pipeline/test_ray_runtime.py",
    "tests/pipeline/test_two_node.py",
    "tests/proposers/test_actor_gpu.py",     # Ray with logical GPUs in a subprocess
    "tests/test_packaging.py",               # builds a wheel with pip
}

#: Single tests (every parametrisation) elsewhere. Measured with `--durations=60` on 2 cores at
#: load average 5-6 (a quiet machine is about 2.4x faster): the first group starts a subprocess
#: or a server; the second takes over 2.3 s a call there (about 1 s quiet), 10-75 s a module.
SLOW_TESTS = {
    # subprocesses and servers
    "tests/infra/test_infra.py::test_compose_mlflow_command_serves_remote_clients",
    "tests/pipeline/test_bench.py::test_baselines_write_result_files_and_the_table",  # git
    "tests/pipeline/test_bench.py::test_missing_only_skips_what_is_done_at_this_budget",  # git
    "tests/pipeline/test_cli.py::test_ui_serves_the_run_directory_on_localhost",
    "tests/pipeline/test_ledger.py::test_run_dir_lock_refuses_a_second_holder",
    "tests/pipeline/test_mol_ga.py::test_real_run_spends_exactly_the_budget_and_is_reproducible",
    "tests/surrogates/test_surrogate_remote.py::test_the_fit_task_holds_the_gpus_it_declares",
    # long training runs and library scans
    "tests/pipeline/test_garbage_designs.py::test_domain_canonical_never_raises",
    "tests/pipeline/test_library_references.py::test_rdkit_libraries_hold_no_reference_by_inchikey",
    "tests/pipeline/test_library_references.py::test_zinc250k_is_pmo_corpus_without_references",
    "tests/pipeline/test_tracking.py::test_training_labels_are_a_dataset_input_and_log_without_warnings",
    "tests/proposers/test_core_offline_prior.py::test_offline_trajectories_on_a_dag_keep_the_exact_target",
    "tests/proposers/test_core_offline_prior.py::test_prior_targets_reward_times_prior",
    "tests/proposers/test_exactness.py::test_objective_reaches_exact_target",
    "tests/proposers/test_genetic.py::test_ga_breeds_better_children_than_its_seeds",
    "tests/proposers/test_gflownet.py::test_from_prior_starts_from_the_checkpoint_and_freezes_it",
    "tests/proposers/test_gflownet.py::test_learns_to_favour_nitrogen",
    "tests/proposers/test_gflownet_tb.py::test_prior_weight_targets_prior_times_reward",
    "tests/proposers/test_gflownet_tb.py::test_proposer_matches_exact_target",
    "tests/proposers/test_graph_ga.py::test_ask_never_repeats_a_told_design",
    "tests/proposers/test_graph_ga.py::test_every_mutation_operator_yields_valid_molecules",
    "tests/proposers/test_graph_ga.py::test_same_seed_same_asks_and_other_seed_differs",
    "tests/proposers/test_graph_ga.py::test_toy_qed_run_beats_its_start_and_screening",
    "tests/surrogates/test_surrogate_gp.py::test_every_acquisition_runs_on_the_gp",
}


def pytest_collection_modifyitems(config, items):
    """Marks `slow` every test that uses the shared Ray or runs a tiny campaign (a fixture in
    `CAMPAIGN_FIXTURES`, directly or through another fixture), lives in a `SLOW_MODULES` module
    or is listed in `SLOW_TESTS` (any parametrisation).
    A new test that starts Ray without `ray_session`, a subprocess or a server belongs in one
    of the two sets."""
    for item in items:
        module, _, name = item.nodeid.partition("::")
        if (CAMPAIGN_FIXTURES & set(item.fixturenames) or module in SLOW_MODULES
                or f"{module}::{name.split('[')[0]}" in SLOW_TESTS):
            item.add_marker(pytest.mark.slow)
    seen = {item.nodeid.split("[")[0] for item in items}
    modules = {nodeid.partition("::")[0] for nodeid in seen}
    stale = [n for n in SLOW_TESTS if n.partition("::")[0] in modules and n not in seen]
    if stale:  # a renamed test would silently join the fast tier
        warnings.warn(pytest.PytestWarning(f"SLOW_TESTS names tests that do not exist: {stale}"), stacklevel=1)

